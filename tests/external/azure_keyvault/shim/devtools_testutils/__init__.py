"""A stand-in for Azure's ``devtools_testutils`` (not on PyPI) so that azure-keyvault-keys' own
tests run in *live* mode against the kmsconform Key Vault emulator: no test proxy, no recordings.

Clients get the emulator's CA (``connection_verify``), ``verify_challenge_resource=False`` (the
vault is 127.0.0.1, never a subdomain of vault.azure.net) and a fixed-token credential. Resource
names get a random suffix, as live runs do. Sanitizers and matchers only matter to recordings.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo


def is_live() -> bool:
    return True


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


add_general_string_sanitizer = add_oauth_response_sanitizer = remove_batch_sanitizers = _noop
set_custom_default_matcher = set_bodiless_matcher = add_general_regex_sanitizer = _noop


def recorded_by_proxy(test: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        return test(*args, **kwargs)

    return run


class EmulatorCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(os.environ["AKV_SHIM_TOKEN"], int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(os.environ["AKV_SHIM_TOKEN"], int(time.time()) + 3600)


class AzureRecordedTestCase:
    @property
    def is_live(self) -> bool:
        return True

    def get_resource_name(self, name: str) -> str:
        return f"{name}{uuid.uuid4().hex[:8]}"

    def get_credential(self, client_class: Any, **kwargs: Any) -> Any:
        if kwargs.get("is_async"):
            raise NotImplementedError("async clients are not run against the emulator")
        return EmulatorCredential()

    def create_client_from_credential(self, client_class: Any, credential: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("logging_enable", True)  # as the real helper does (test_logging_enabled reads it)
        kwargs.setdefault("connection_verify", os.environ["AKV_SHIM_CA"])
        kwargs.setdefault("verify_challenge_resource", False)
        return client_class(credential=credential, **kwargs)


class AzureMgmtPreparer:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass
