"""STS over HTTP for the IAM model: a WSGI layer in front of moto's application (query protocol, XML).

Answered here: ``AssumeRoleWithWebIdentity`` for a role of an account the model holds (any
other role goes on to moto's STS, as before), and ``GetCallerIdentity`` signed with an access key
the model issued. Everything else passes through untouched. The answers have STS's shapes
(``<AssumeRoleWithWebIdentityResponse>``, ``<ErrorResponse>`` with ``Type``/``Code``/``Message``).

In process (``mock_aws``) STS is moto's own; there, call
:meth:`~.model.Account.assume_role_with_web_identity` directly.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from . import errors, sigv4
from .model import IAM, Caller, Session

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
_CALLER_ERRORS = {  # STS's codes for a signed request it cannot authenticate
    errors.UnrecognizedClient: "InvalidClientTokenId",
    errors.ExpiredToken: "ExpiredToken",
    errors.SignatureMismatch: "SignatureDoesNotMatch",
}


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _response(action: str, result: str) -> bytes:
    request_id = uuid.uuid4()
    return (
        f'<{action}Response xmlns="{NAMESPACE}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    ).encode()


def _error(error: errors.IamError, code: str | None = None) -> tuple[int, bytes]:
    kind = "Receiver" if error.status >= 500 else "Sender"
    body = (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{kind}</Type><Code>{escape(code or error.code)}</Code>'
        f"<Message>{escape(error.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return error.status, body.encode()


def assumed(session: Session) -> bytes:
    c = session.credentials
    assert c.expiration is not None and c.session_token is not None
    return _response(
        "AssumeRoleWithWebIdentity",
        f"<SubjectFromWebIdentityToken>{escape(session.subject)}</SubjectFromWebIdentityToken>"
        f"<Audience>{escape(session.audience)}</Audience>"
        f"<AssumedRoleUser><Arn>{escape(session.arn)}</Arn>"
        f"<AssumedRoleId>{escape(session.assumed_role_id)}</AssumedRoleId></AssumedRoleUser>"
        f"<Credentials><AccessKeyId>{c.access_key_id}</AccessKeyId><SecretAccessKey>{escape(c.secret_access_key)}"
        f"</SecretAccessKey><SessionToken>{escape(c.session_token)}</SessionToken>"
        f"<Expiration>{_time(c.expiration)}</Expiration></Credentials>"
        f"<Provider>{escape(session.provider)}</Provider>",
    )


def assume_role_with_web_identity(form: dict[str, str]) -> bytes:
    missing = [n for n in ("RoleArn", "RoleSessionName", "WebIdentityToken") if not form.get(n)]
    if missing:
        raise errors.ValidationError(
            f"1 validation error detected: Value null at '{missing[0][:1].lower() + missing[0][1:]}' failed to "
            "satisfy constraint: Member must not be null"
        )
    duration = None
    if form.get("DurationSeconds"):
        try:
            duration = int(form["DurationSeconds"])
        except ValueError:
            raise errors.ValidationError(f"DurationSeconds {form['DurationSeconds']!r} is not a number") from None
    account, role = IAM.role(form["RoleArn"])
    session = account.assume_role_with_web_identity(role, form["RoleSessionName"], form["WebIdentityToken"], duration)
    return assumed(session)


def caller_identity(caller: Caller) -> bytes:
    return _response(
        "GetCallerIdentity",
        f"<Arn>{escape(caller.arn)}</Arn><UserId>{escape(caller.user_id)}</UserId><Account>{caller.account_id}</Account>",
    )


def _read_form(environ: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)  # the next layer reads it again
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return body, {k: v[0] for k, v in parsed.items()}


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {k[5:].replace("_", "-").title(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.replace("_", "-").title()] = str(environ[name])
    return headers


def _answer(environ: dict[str, Any]) -> tuple[int, bytes] | None:
    """The STS answer of this layer, or ``None`` when the request is not ours."""
    body, form = _read_form(environ)
    action = form.get("Action")
    if action == "AssumeRoleWithWebIdentity" and IAM.owns_role(form.get("RoleArn", "")):
        try:
            return 200, assume_role_with_web_identity(form)
        except errors.IamError as exc:
            return _error(exc)
    headers = _headers(environ)
    claims = sigv4.signed_by(headers)
    if action == "GetCallerIdentity" and claims is not None and IAM.account_of(claims.access_key_id) is not None:
        try:
            caller = IAM.authenticate(claims.access_key_id, headers.get("X-Amz-Security-Token"))
            sigv4.check(
                claims,
                method="POST",
                path=environ.get("PATH_INFO", "/"),
                headers=headers,
                body=body,
                secret_access_key=caller.credentials.secret_access_key,
                session_token=caller.credentials.session_token,
            )
        except errors.IamError as exc:
            return _error(exc, _CALLER_ERRORS.get(type(exc)))
        return 200, caller_identity(caller)
    return None


def sts_layer(app: WsgiApp) -> WsgiApp:
    """WSGI wrapper: STS requests for the IAM model are answered here, the rest go to ``app``."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        content_type = str(environ.get("CONTENT_TYPE", ""))
        if (
            environ.get("REQUEST_METHOD") == "POST"
            and environ.get("PATH_INFO") == "/"
            and content_type.startswith("application/x-www-form-urlencoded")
        ):
            answer = _answer(environ)
            if answer is not None:
                status, data = answer
                reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}.get(status, "Error")
                start_response(f"{status} {reason}", [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))])
                return [data]
        return app(environ, start_response)

    return wrapped
