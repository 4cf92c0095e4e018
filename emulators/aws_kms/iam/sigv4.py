"""AWS Signature Version 4 on the server side: who signed a request, and whether the secret matches.

The signature is recomputed with botocore's own signer (:class:`botocore.auth.SigV4Auth`) over the
headers the client says it signed, so the emulator and every SDK agree on the canonical request.
Only the ``Authorization`` header form is read (no presigned query strings).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .errors import SignatureMismatch

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<headers>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)


@dataclass(frozen=True)
class SignedBy:
    """What the ``Authorization`` header claims: the access key, the credential scope, the signature."""

    access_key_id: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def signed_by(headers: Mapping[str, str]) -> SignedBy | None:
    """The SigV4 claims of a request, or ``None`` when it is not signed that way."""
    match = _AUTHORIZATION.match(headers.get("Authorization", "") or "")
    if match is None:
        return None
    return SignedBy(
        match["key"], match["region"], match["service"], tuple(match["headers"].split(";")), match["signature"]
    )


def check(
    claims: SignedBy,
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_access_key: str,
    session_token: str | None,
) -> None:
    """Recompute the signature with ``secret_access_key``; raise :class:`SignatureMismatch` if it differs."""
    lowered = {k.lower(): v for k, v in headers.items()}
    signed = {name: lowered[name] for name in claims.signed_headers if name in lowered}
    timestamp = lowered.get("x-amz-date")
    if timestamp is None or len(signed) != len(claims.signed_headers):
        raise SignatureMismatch("The request signature we calculated does not match the signature you provided.")
    auth = SigV4Auth(Credentials(claims.access_key_id, secret_access_key, session_token), claims.service, claims.region)
    request = AWSRequest(method=method, url=path, data=body, headers=signed)
    request.context["timestamp"] = timestamp
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    if not hmac.compare_digest(expected, claims.signature):
        raise SignatureMismatch(
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details."
        )
