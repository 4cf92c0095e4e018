"""The HTTP rules of ``google.cloud.kms.v1.KeyManagementService`` (``google.api.http`` annotations of
``service.proto``, as google-cloud-kms 3.18 sends them; ``tests/emulators/gcp_kms/test_wire.py``
compares this table with the client's own). Routes of RPCs the emulator does not model answer 501.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

V = "projects/*/locations/*/keyRings/*/cryptoKeys/*/cryptoKeyVersions/*"
K = "projects/*/locations/*/keyRings/*/cryptoKeys/*"
R = "projects/*/locations/*/keyRings/*"
L = "projects/*/locations/*"

# (rpc, HTTP method, URI template, body field or "*" or None)
HTTP_RULES: tuple[tuple[str, str, str, str | None], ...] = (
    ("CreateKeyRing", "POST", "/v1/{parent=" + L + "}/keyRings", "key_ring"),
    ("GetKeyRing", "GET", "/v1/{name=" + R + "}", None),
    ("ListKeyRings", "GET", "/v1/{parent=" + L + "}/keyRings", None),
    ("CreateCryptoKey", "POST", "/v1/{parent=" + R + "}/cryptoKeys", "crypto_key"),
    ("GetCryptoKey", "GET", "/v1/{name=" + K + "}", None),
    ("ListCryptoKeys", "GET", "/v1/{parent=" + R + "}/cryptoKeys", None),
    ("UpdateCryptoKey", "PATCH", "/v1/{crypto_key.name=" + K + "}", "crypto_key"),
    ("UpdateCryptoKeyPrimaryVersion", "POST", "/v1/{name=" + K + "}:updatePrimaryVersion", "*"),
    ("CreateCryptoKeyVersion", "POST", "/v1/{parent=" + K + "}/cryptoKeyVersions", "crypto_key_version"),
    ("GetCryptoKeyVersion", "GET", "/v1/{name=" + V + "}", None),
    ("ListCryptoKeyVersions", "GET", "/v1/{parent=" + K + "}/cryptoKeyVersions", None),
    ("UpdateCryptoKeyVersion", "PATCH", "/v1/{crypto_key_version.name=" + V + "}", "crypto_key_version"),
    ("DestroyCryptoKeyVersion", "POST", "/v1/{name=" + V + "}:destroy", "*"),
    ("RestoreCryptoKeyVersion", "POST", "/v1/{name=" + V + "}:restore", "*"),
    ("GetPublicKey", "GET", "/v1/{name=" + V + "}/publicKey", None),
    ("AsymmetricSign", "POST", "/v1/{name=" + V + "}:asymmetricSign", "*"),
    ("AsymmetricDecrypt", "POST", "/v1/{name=" + V + "}:asymmetricDecrypt", "*"),
    ("MacSign", "POST", "/v1/{name=" + V + "}:macSign", "*"),
    ("MacVerify", "POST", "/v1/{name=" + V + "}:macVerify", "*"),
    ("Encrypt", "POST", "/v1/{name=projects/*/locations/*/keyRings/*/cryptoKeys/**}:encrypt", "*"),
    ("Decrypt", "POST", "/v1/{name=" + K + "}:decrypt", "*"),
    ("GenerateRandomBytes", "POST", "/v1/{location=" + L + "}:generateRandomBytes", "*"),
    # not emulated: answered 501 UNIMPLEMENTED (docs/emulators/gcp-kms.md)
    ("DeleteCryptoKey", "DELETE", "/v1/{name=" + K + "}", None),
    ("DeleteCryptoKeyVersion", "DELETE", "/v1/{name=" + V + "}", None),
    ("RawEncrypt", "POST", "/v1/{name=" + V + "}:rawEncrypt", "*"),
    ("RawDecrypt", "POST", "/v1/{name=" + V + "}:rawDecrypt", "*"),
    ("Decapsulate", "POST", "/v1/{name=" + V + "}:decapsulate", "*"),
    ("ImportCryptoKeyVersion", "POST", "/v1/{parent=" + K + "}/cryptoKeyVersions:import", "*"),
    ("CreateImportJob", "POST", "/v1/{parent=" + R + "}/importJobs", "import_job"),
    ("GetImportJob", "GET", "/v1/{name=" + R + "/importJobs/*}", None),
    ("ListImportJobs", "GET", "/v1/{parent=" + R + "}/importJobs", None),
    ("GetRetiredResource", "GET", "/v1/{name=" + L + "/retiredResources/*}", None),
    ("ListRetiredResources", "GET", "/v1/{parent=" + L + "}/retiredResources", None),
    ("GetIamPolicy", "GET", "/v1/{resource=" + R + "}:getIamPolicy", None),
    ("GetIamPolicy", "GET", "/v1/{resource=" + K + "}:getIamPolicy", None),
    ("SetIamPolicy", "POST", "/v1/{resource=" + R + "}:setIamPolicy", "*"),
    ("SetIamPolicy", "POST", "/v1/{resource=" + K + "}:setIamPolicy", "*"),
    ("GetLocation", "GET", "/v1/{name=" + L + "}", None),
    ("ListLocations", "GET", "/v1/{name=projects/*}/locations", None),
)

_VARIABLE = re.compile(r"\{([a-z_.]+)=([^}]+)\}")


@dataclass(frozen=True)
class Route:
    rpc: str
    method: str
    template: str
    body: str | None
    field: str
    pattern: re.Pattern[str]


def _compile(template: str) -> tuple[str, re.Pattern[str]]:
    m = _VARIABLE.search(template)
    assert m is not None, template
    segments = m.group(2).split("/")
    inner = "/".join("[^/:]+" if s == "*" else ".+" if s == "**" else re.escape(s) for s in segments)
    regex = re.escape(template[: m.start()]) + f"({inner})" + re.escape(template[m.end() :])
    return m.group(1), re.compile(regex)


ROUTES: tuple[Route, ...] = tuple(
    Route(rpc, method, template, body, *_compile(template)) for rpc, method, template, body in HTTP_RULES
)


def match(method: str, path: str) -> tuple[Route, str] | None:
    """The route for ``method path`` and the value of its path variable, or ``None``."""
    for route in ROUTES:
        if route.method == method:
            m = route.pattern.fullmatch(path)
            if m is not None:
                return route, m.group(1)
    return None
