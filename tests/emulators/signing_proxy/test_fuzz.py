"""Property: whatever arrives, the app answers with a JSON error object or a success, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_kmsconform.emulators.signing_proxy.credentials import AuthPolicy
from pytest_kmsconform.emulators.signing_proxy.models import ProxyService
from pytest_kmsconform.emulators.signing_proxy.responses import ROUTES, ProxyApp
from pytest_kmsconform.emulators.signing_proxy.wire import RequestHead
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner

ring = KeyRing(LocalKeyBackend(seed=b"fuzz"), Algorithm.ED25519, "f")
ring.rotate()
APP = ProxyApp(ProxyService(RingSigner(ring)), AuthPolicy(api_key="k", admin_key="a"), max_body=4096)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
members = st.sampled_from(["digest_hex", "signature", "canonical", "prev_hash", "kid", "alg", "reason", "request_id"])
hexish = st.text(alphabet="0123456789abcdefABX ", min_size=0, max_size=70)
bodies = st.one_of(
    st.binary(max_size=300),
    st.dictionaries(members, json_values | hexish, max_size=4).map(lambda d: json.dumps(d).encode()),
)
paths = st.sampled_from([*sorted(ROUTES), "/", "/sign", "/admin", "/keys?x=1", "/%00"])
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"])
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=methods,
    path=paths,
    body=bodies,
    content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-16", ""]),
    credential=st.sampled_from(["k", "a", "", "x"]),
    extra=st.dictionaries(
        st.sampled_from(["x-request-id", "content-length", "authorization"]), header_values, max_size=2
    ),
)
def test_never_a_5xx(
    method: str, path: str, body: bytes, content_type: str, credential: str, extra: dict[str, str]
) -> None:
    headers: dict[str, Any] = {"content-type": content_type, "content-length": str(len(body)), "x-api-key": credential}
    headers.update(extra)
    response = APP.respond(RequestHead(method, path, headers), lambda n: body[:n])
    assert response.status < 500, response.body
    parsed = json.loads(response.body)
    assert isinstance(parsed, dict)
    if response.status >= 400:
        assert set(parsed) == {"error"} and isinstance(parsed["error"]["code"], str)
