"""AWS credentials from an environment mapping: static keys, or short-lived web identity credentials.

Seed 000 asks CI for "ephemeral or least-privileged credentials" through GitHub Actions OIDC: the
job's ID token is exchanged with STS ``AssumeRoleWithWebIdentity`` for temporary credentials. With
``AWS_ROLE_ARN`` and ``AWS_WEB_IDENTITY_TOKEN_FILE`` (the variables every AWS SDK reads; optional
``AWS_ROLE_SESSION_NAME``) the signer does that itself and keeps doing it: botocore's refreshable
credentials fetch new ones before the old expire (15 minutes ahead, blocking from 10), re-reading
the token file each time (GitHub and Kubernetes rotate it). The clock that decides "before they
expire" is injectable, so a test can move time past the expiry instead of waiting for it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..clock import Clock, format_time, utc_now
from ..errors import ConfigurationError

WEB_IDENTITY_VARIABLES = ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
METHOD = "assume-role-with-web-identity"


def web_identity_configured(env: Mapping[str, str]) -> bool:
    present = [name for name in WEB_IDENTITY_VARIABLES if env.get(name)]
    if len(present) == 1:
        missing = next(n for n in WEB_IDENTITY_VARIABLES if n not in present)
        raise ConfigurationError(f"{present[0]} is set without {missing}")
    return bool(present)


def web_identity_credentials(env: Mapping[str, str], *, region: str, clock: Clock = utc_now) -> Any:
    """botocore refreshable credentials that assume ``AWS_ROLE_ARN`` with the token in
    ``AWS_WEB_IDENTITY_TOKEN_FILE``, through STS at ``AWS_ENDPOINT_URL_STS`` / ``AWS_ENDPOINT_URL``
    when set; refreshed when ``clock`` says they are about to expire."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.credentials import DeferredRefreshableCredentials

    role_arn, token_file = env["AWS_ROLE_ARN"], Path(env["AWS_WEB_IDENTITY_TOKEN_FILE"])
    session_name = env.get("AWS_ROLE_SESSION_NAME") or "kmsconform-signer"
    kwargs: dict[str, Any] = {"region_name": region, "config": Config(signature_version=UNSIGNED)}
    endpoint = env.get("AWS_ENDPOINT_URL_STS") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    sts = boto3.client("sts", **kwargs)

    def fetch() -> dict[str, Any]:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"AWS_WEB_IDENTITY_TOKEN_FILE {str(token_file)!r}: {exc}") from None
        answer = sts.assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName=session_name, WebIdentityToken=token
        )
        credentials = answer["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": format_time(credentials["Expiration"]),
        }

    return DeferredRefreshableCredentials(refresh_using=fetch, method=METHOD, time_fetcher=clock)


def client_with_credentials(service: str, credentials: Any, **kwargs: Any) -> Any:
    """A boto3 client of ``service`` signing with ``credentials`` (refreshable ones stay refreshable)."""
    import boto3
    import botocore.session

    session = botocore.session.Session()
    # a fresh session would parse the service's model files again (about 0.1 s a client)
    session.register_component("data_loader", _shared_loader())
    session._credentials = credentials  # botocore's own hook for credentials it did not resolve itself
    return boto3.Session(botocore_session=session).client(service, **kwargs)


@functools.cache
def _shared_loader() -> Any:
    """botocore's model loader, shared by the sessions made here (it caches what it parsed)."""
    import botocore.loaders

    return botocore.loaders.create_loader()
