"""Web identity tokens (OpenID Connect ID tokens, a JWT), as STS AssumeRoleWithWebIdentity checks them.

What is validated, on the model's clock: the JWT structure; the issuer (``iss``) names an OIDC
provider registered in the role's account (else ``No OpenIDConnect provider found in your account
for ...``); the signature, by one of the provider's keys (``kid`` chosen, RSA or EC algorithms only,
never ``none`` or HMAC); the audience (``aud``) is one of the provider's client ids (GitHub Actions:
``sts.amazonaws.com``); ``exp`` has not passed (``ExpiredTokenException``) and ``nbf`` has.

What is not: AWS fetches the issuer's keys from its discovery document
(``/.well-known/openid-configuration``) and checks the TLS thumbprint; here the keys are registered
with the provider (:meth:`~.model.Account.add_oidc_provider`), and nothing is fetched. ``jti`` replay,
``iat`` bounds and ``azp`` are not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt

from .errors import ExpiredToken, InvalidIdentityToken

ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")


@dataclass(frozen=True)
class OidcProvider:
    """An IAM OIDC identity provider: its issuer URL, audiences (client ids) and the issuer's key set."""

    account_id: str
    url: str
    client_ids: tuple[str, ...]
    jwks: Mapping[str, Any] = field(repr=False)

    @property
    def host(self) -> str:
        """The issuer without ``https://``: the provider's name in ARNs and in condition keys."""
        return issuer_host(self.url)

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:oidc-provider/{self.host}"


def issuer_host(url: str) -> str:
    return url.removeprefix("https://").rstrip("/")


@dataclass(frozen=True)
class WebIdentity:
    """A verified token: the provider that vouches for it and the claims trust policies read."""

    provider: OidcProvider
    subject: str
    audience: str
    claims: Mapping[str, Any]

    def condition_context(self) -> dict[str, str]:
        """The condition keys AWS sets for a web identity (``<issuer host>:aud``, ``:sub``, ...)."""
        host = self.provider.host
        return {
            f"{host}:aud": self.audience,
            f"{host}:sub": self.subject,
            "aws:FederatedProvider": self.provider.arn,
        }


def _claims_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidIdentityToken("The web identity token is not a valid JWT") from None
    return dict(header), dict(claims)


def _key_for(provider: OidcProvider, header: Mapping[str, Any]) -> Any:
    try:
        keys = jwt.PyJWKSet.from_dict(dict(provider.jwks)).keys
    except jwt.PyJWTError as exc:
        raise InvalidIdentityToken(f"the key set registered for {provider.url} is unusable: {exc}") from None
    kid = header.get("kid")
    chosen = [k for k in keys if kid is None or k.key_id == kid]
    if len(chosen) != 1:
        raise InvalidIdentityToken(
            "Couldn't retrieve verification key from your identity provider, please reference "
            "AssumeRoleWithWebIdentity documentation for requirements"
        )
    return chosen[0].key


def verify(token: str, providers: Mapping[str, OidcProvider], now: datetime) -> WebIdentity:
    """Check ``token`` against the account's ``providers`` (by issuer host) at ``now``."""
    header, unverified = _claims_unverified(token)
    issuer = unverified.get("iss")
    if not isinstance(issuer, str):
        raise InvalidIdentityToken("The web identity token has no issuer (iss)")
    provider = providers.get(issuer_host(issuer))
    if provider is None:
        raise InvalidIdentityToken(f"No OpenIDConnect provider found in your account for {issuer}")
    if header.get("alg") not in ALGORITHMS:
        raise InvalidIdentityToken(f"The web identity token's algorithm {header.get('alg')!r} is not accepted")
    try:
        claims = jwt.decode(
            token,
            key=_key_for(provider, header),
            algorithms=[str(header["alg"])],
            # the model's clock decides validity, below; PyJWT would read the wall clock
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "require": ["iss", "sub", "aud", "exp"],
            },
        )
    except jwt.InvalidSignatureError:
        raise InvalidIdentityToken("The web identity token's signature does not verify") from None
    except jwt.PyJWTError as exc:
        raise InvalidIdentityToken(f"The web identity token is not valid: {exc}") from None
    audiences = [claims["aud"]] if isinstance(claims["aud"], str) else list(claims["aud"])
    accepted = [a for a in audiences if a in provider.client_ids]
    if not accepted:
        raise InvalidIdentityToken("Incorrect token audience")
    current = int(now.timestamp())
    if current >= int(claims["exp"]):
        raise ExpiredToken(
            f"Token expired: current date/time {current} must be before the expiration date/time {int(claims['exp'])}"
        )
    if "nbf" in claims and current < int(claims["nbf"]):
        raise InvalidIdentityToken("The web identity token is not valid yet (nbf)")
    return WebIdentity(provider, str(claims["sub"]), str(accepted[0]), claims)
