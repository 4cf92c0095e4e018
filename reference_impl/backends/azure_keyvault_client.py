"""How the Azure Key Vault signer reaches a vault: credentials and ``KeyClient`` options from an
environment mapping (never ``os.environ`` directly, except through ``DefaultAzureCredential``), and
the one place azure-core errors become :class:`~..errors.BackendError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..errors import BackendError, BackendErrorCode, ConfigurationError, KmsConformError

BACKEND_NAME = "azure-keyvault"
T = TypeVar("T")


class StaticTokenCredential:
    """A ``TokenCredential`` that hands out one fixed bearer token (emulators and tests only).

    The token is good for an hour from each call, so the SDK caches it instead of asking again.
    """

    def __init__(self, token: str) -> None:
        if not token:
            raise ConfigurationError("a static Key Vault access token must not be empty")
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self._token, int(time.time()) + 3600)

    def close(self) -> None:
        """Nothing to release."""


def credential_from_env(env: Mapping[str, str]) -> Any:
    """``AZURE_KEYVAULT_ACCESS_TOKEN`` (a fixed token: emulators) > ``AZURE_TENANT_ID`` +
    ``AZURE_CLIENT_ID`` + ``AZURE_CLIENT_SECRET`` (service principal, seed 002) > azure-identity's
    ``DefaultAzureCredential`` (managed identity, CLI login...; it reads ``os.environ``)."""
    token = env.get("AZURE_KEYVAULT_ACCESS_TOKEN", "").strip()
    if token:
        return StaticTokenCredential(token)
    try:
        import azure.identity as identity
    except ImportError as exc:
        raise ConfigurationError(
            f"the Azure Key Vault signer needs azure-identity (pip install 'pytest-kmsconform[azure]'): {exc}"
        ) from None
    principal = [env.get(n, "").strip() for n in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")]
    if all(principal):
        kwargs = {"authority": env["AZURE_AUTHORITY_HOST"]} if env.get("AZURE_AUTHORITY_HOST") else {}
        return identity.ClientSecretCredential(*principal, **kwargs)
    return identity.DefaultAzureCredential()


def client_kwargs_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Transport options: ``AZURE_KEYVAULT_CA_BUNDLE`` (trusted CA file), ``AZURE_KEYVAULT_VERIFY_
    CHALLENGE_RESOURCE=false`` (needed on 127.0.0.1: the challenge's resource is never a parent
    domain of an IP address), ``AZURE_KEYVAULT_API_VERSION``; SDK retries off."""
    kwargs: dict[str, Any] = {"retry_total": 0, "connection_timeout": 10, "read_timeout": 30}
    if env.get("AZURE_KEYVAULT_CA_BUNDLE"):
        kwargs["connection_verify"] = env["AZURE_KEYVAULT_CA_BUNDLE"]
    flag = env.get("AZURE_KEYVAULT_VERIFY_CHALLENGE_RESOURCE", "").strip().lower()
    if flag in ("false", "0", "no", "off"):
        kwargs["verify_challenge_resource"] = False
    if env.get("AZURE_KEYVAULT_API_VERSION"):
        kwargs["api_version"] = env["AZURE_KEYVAULT_API_VERSION"]
    return kwargs


def client_from_env(env: Mapping[str, str]) -> tuple[Any, Any, dict[str, Any]]:
    """``(KeyClient, credential, client kwargs)`` for ``AZURE_KEYVAULT_URL``."""
    url = env.get("AZURE_KEYVAULT_URL", "").strip()
    if not url:
        raise ConfigurationError("the Azure Key Vault signer needs AZURE_KEYVAULT_URL")
    if not url.startswith("https://"):
        raise ConfigurationError(
            f"AZURE_KEYVAULT_URL must be an https:// URL (the SDK refuses tokens over http): {url}"
        )
    try:
        from azure.keyvault.keys import KeyClient
    except ImportError as exc:
        raise ConfigurationError(
            f"the Azure Key Vault signer needs azure-keyvault-keys (pip install 'pytest-kmsconform[azure]'): {exc}"
        ) from None
    credential = credential_from_env(env)
    kwargs = client_kwargs_from_env(env)
    return KeyClient(url, credential, **kwargs), credential, kwargs


# -- errors ---------------------------------------------------------------------------------------
def _inner_code(exc: Any) -> str:
    try:
        doc = json.loads(exc.response.text())
        return str(doc["error"].get("innerError", doc["error"].get("innererror", {})).get("code", ""))
    except Exception:  # any unparsable body: no inner code
        return ""


def translate(exc: Exception, operation: str) -> KmsConformError:
    """The typed error for an azure-core failure of ``operation``."""
    from azure.core import exceptions as aex

    if isinstance(exc, aex.HttpResponseError):
        status = int(exc.status_code or 0)
        code = str(getattr(exc.error, "code", "") or "")
        inner = _inner_code(exc)
        mapped = {429: BackendErrorCode.THROTTLED, 401: BackendErrorCode.ACCESS_DENIED, 404: BackendErrorCode.NOT_FOUND}
        kind = mapped.get(status)
        if kind is None and status == 403:
            kind = {
                "KeyDisabled": BackendErrorCode.DISABLED,
                "KeyExpired": BackendErrorCode.INVALID_STATE,
                "KeyNotYetValid": BackendErrorCode.INVALID_STATE,
            }.get(inner, BackendErrorCode.ACCESS_DENIED)
        if kind is None:
            kind = {
                409: BackendErrorCode.INVALID_STATE,
                503: BackendErrorCode.UNAVAILABLE,
                504: BackendErrorCode.TIMEOUT,
            }.get(status, BackendErrorCode.INTERNAL if status >= 500 else BackendErrorCode.INVALID_REQUEST)
        detail = "/".join(p for p in (str(status), code, inner) if p)
        message = getattr(exc.error, "message", None) or exc.message
        return BackendError(
            f"Azure Key Vault {operation} failed: {detail}: {message}", code=kind, backend=BACKEND_NAME, detail=detail
        )
    if isinstance(exc, aex.ServiceRequestTimeoutError | aex.ServiceResponseTimeoutError):
        return BackendError(
            f"Azure Key Vault {operation} timed out", code=BackendErrorCode.TIMEOUT, backend=BACKEND_NAME
        )
    if isinstance(exc, aex.ServiceRequestError | aex.ServiceResponseError):
        return BackendError(
            f"Azure Key Vault {operation}: connection failed: {exc}",
            code=BackendErrorCode.UNAVAILABLE,
            backend=BACKEND_NAME,
        )
    if isinstance(exc, aex.ClientAuthenticationError | aex.AzureError):
        return BackendError(
            f"Azure Key Vault {operation}: {exc}", code=BackendErrorCode.ACCESS_DENIED, backend=BACKEND_NAME
        )
    raise exc


def call(operation: str, fn: Callable[[], T]) -> T:
    """Run one Key Vault call, translating its failure (the one place azure-core errors are caught)."""
    from azure.core.exceptions import AzureError

    try:
        return fn()
    except AzureError as exc:
        raise translate(exc, operation) from exc
