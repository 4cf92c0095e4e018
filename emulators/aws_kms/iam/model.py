"""The IAM state of the emulator (pure): accounts, their users, roles, OIDC providers and STS sessions.

moto's own IAM authorization checks every request against the resource ``*`` (so a policy scoped to
one key ARN refuses everything) and its STS neither validates web identity tokens nor expires
credentials; this small model does both, on an injectable clock, and is consulted by the KMS wire
layer (:mod:`.kms_access`) and the STS layer (:mod:`.sts_wire`).

* **Enforcement is per account** and off by default: requests signed with an access key this model
  issued are authenticated and authorized in its account; other requests go on as before, unless
  the emulator runs with ``iam=on``, which enforces the default account (``123456789012``) with
  the emulator's dummy credentials as its administrator (:meth:`IamModel.enforce_default`).
* **Principals**: IAM users with long-term access keys, roles assumed through
  AssumeRoleWithWebIdentity (temporary credentials that expire), OIDC providers with the issuer's
  keys. Identity policies are inline policies of users and roles (:mod:`.policy`); an assumed-role
  session gets its role's policies as they are at each request.
* **Not modelled** (documented in ``docs/emulators/aws-kms.md``): groups, managed policies,
  permissions boundaries, session policies, SCPs, key policies and grants as a second gate (every
  key behaves as if its key policy delegated to IAM, as the default key policy does), AssumeRole
  with access keys, SAML, the IAM wire API (principals are created through this class).

Just over our ~400-line rule: accounts, principals, OIDC providers and sessions are one state
model read together (a session is only meaningful with the role and provider that issued it).
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pytest_kmsconform.reference_impl.clock import Clock, utc_now

from .errors import AccessDenied, ExpiredToken, NoSuchEntity, UnrecognizedClient, ValidationError
from .policy import Decision, PolicyDocument, evaluate
from .web_identity import OidcProvider, issuer_host, verify

DEFAULT_ACCOUNT = "123456789012"
"""moto's default account: the one ``iam=on`` enforces."""
ADMINISTRATOR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DEFAULT_SESSION_SECONDS = 3600
MIN_SESSION_SECONDS = 900
MAX_ROLE_SESSION_SECONDS = 43200
ASSUME_WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}\Z")
_ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)\Z")
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _key_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def _secret() -> str:
    return base64.b64encode(secrets.token_bytes(30)).decode()


@dataclass(frozen=True)
class Credentials:
    """An access key: long-term (a user's) or temporary (a session's: token and expiry)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    expiration: datetime | None = None

    def env(self) -> dict[str, str]:
        """The standard ``AWS_*`` variables that carry these credentials."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token is not None:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


@dataclass
class User:
    account_id: str
    name: str
    policies: dict[str, PolicyDocument] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user/{self.name}"


@dataclass
class Role:
    account_id: str
    name: str
    role_id: str
    trust: PolicyDocument
    max_session_duration: int = DEFAULT_SESSION_SECONDS
    policies: dict[str, PolicyDocument] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{self.name}"


@dataclass(frozen=True)
class Session:
    """Temporary credentials of one AssumeRoleWithWebIdentity call."""

    role: Role
    name: str
    credentials: Credentials
    issued_at: datetime
    subject: str
    audience: str
    provider: str

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{self.role.account_id}:assumed-role/{self.role.name}/{self.name}"

    @property
    def assumed_role_id(self) -> str:
        return f"{self.role.role_id}:{self.name}"


@dataclass(frozen=True)
class Caller:
    """An authenticated request's principal and the identity policies that apply to it."""

    arn: str
    account_id: str
    credentials: Credentials
    policies: tuple[PolicyDocument, ...]
    user_id: str


@dataclass(frozen=True)
class Denial:
    """One refused request, kept for diagnostics (what a least-privilege failure names)."""

    principal: str
    action: str
    resource: str
    decision: Decision


class Account:
    """One AWS account of the model. ``clock`` (default: the model's) decides expiry for its sessions."""

    def __init__(self, model: IamModel, account_id: str, clock: Clock | None = None) -> None:
        self.model = model
        self.account_id = account_id
        self.clock: Clock | None = clock
        self.users: dict[str, User] = {}
        self.roles: dict[str, Role] = {}
        self.providers: dict[str, OidcProvider] = {}
        self.sessions: list[Session] = []
        self.denials: list[Denial] = []

    def now(self) -> datetime:
        return (self.clock or self.model.clock)()

    # -- principals -------------------------------------------------------------------------------
    def create_user(
        self,
        name: str,
        policies: Mapping[str, str | Mapping[str, Any]] | None = None,
        *,
        access_key: Credentials | None = None,
    ) -> Credentials:
        """A user with inline ``policies`` (name -> document) and one access key, which is returned."""
        with self.model.lock:
            if name in self.users:
                raise ValidationError(f"User with name {name} already exists.")
            user = User(self.account_id, name, {k: PolicyDocument.parse(v) for k, v in (policies or {}).items()})
            credentials = access_key or Credentials(_key_id("AKIA"), _secret())
            self.users[name] = user
            self.model._keys[credentials.access_key_id] = (self, user, credentials)
        return credentials

    def put_user_policy(self, user: str, policy_name: str, document: str | Mapping[str, Any]) -> None:
        parsed = PolicyDocument.parse(document)
        with self.model.lock:
            self._user(user).policies[policy_name] = parsed

    def _user(self, name: str) -> User:
        if name not in self.users:
            raise NoSuchEntity(f"The user with name {name} cannot be found.")
        return self.users[name]

    def create_role(
        self,
        name: str,
        trust_policy: str | Mapping[str, Any],
        policies: Mapping[str, str | Mapping[str, Any]] | None = None,
        *,
        max_session_duration: int = DEFAULT_SESSION_SECONDS,
    ) -> Role:
        if not MIN_SESSION_SECONDS <= max_session_duration <= MAX_ROLE_SESSION_SECONDS:
            raise ValidationError("MaxSessionDuration must be between 3600 and 43200 seconds")
        role = Role(
            self.account_id,
            name,
            _key_id("AROA"),
            PolicyDocument.parse(trust_policy, trust=True),
            max_session_duration,
            {k: PolicyDocument.parse(v) for k, v in (policies or {}).items()},
        )
        with self.model.lock:
            if name in self.roles:
                raise ValidationError(f"Role with name {name} already exists.")
            self.roles[name] = role
        return role

    def put_role_policy(self, role: str, policy_name: str, document: str | Mapping[str, Any]) -> None:
        parsed = PolicyDocument.parse(document)
        with self.model.lock:
            if role not in self.roles:
                raise NoSuchEntity(f"The role with name {role} cannot be found.")
            self.roles[role].policies[policy_name] = parsed

    def add_oidc_provider(self, url: str, client_ids: Iterable[str], jwks: Mapping[str, Any]) -> OidcProvider:
        """Register an OIDC issuer (``https://token.actions.githubusercontent.com``), its audiences and
        the public keys its tokens are signed with (AWS would fetch these from the issuer)."""
        if not url.startswith("https://"):
            raise ValidationError("the provider URL must begin with https://")
        provider = OidcProvider(self.account_id, url.rstrip("/"), tuple(client_ids), dict(jwks))
        with self.model.lock:
            self.providers[issuer_host(url)] = provider
        return provider

    def sessions_of(self, role_name: str) -> list[Session]:
        with self.model.lock:
            return [s for s in self.sessions if s.role.name == role_name]

    # -- STS ----------------------------------------------------------------------------------------
    def assume_role_with_web_identity(
        self, role: Role, session_name: str, token: str, duration: int | None = None
    ) -> Session:
        if not _SESSION_NAME.match(session_name):
            raise ValidationError(
                f"1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
            )
        seconds = DEFAULT_SESSION_SECONDS if duration is None else duration
        if seconds < MIN_SESSION_SECONDS:
            raise ValidationError(
                f"1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to satisfy "
                f"constraint: Member must have value greater than or equal to {MIN_SESSION_SECONDS}"
            )
        if seconds > role.max_session_duration:
            raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        now = self.now()
        identity = verify(token, dict(self.providers), now)
        decision = evaluate(
            [role.trust],
            ASSUME_WEB_IDENTITY,
            role.arn,
            identity.condition_context(),
            principal=("Federated", identity.provider.arn),
        )
        if decision is not Decision.ALLOW:
            raise AccessDenied(f"Not authorized to perform {ASSUME_WEB_IDENTITY}")
        credentials = Credentials(
            _key_id("ASIA"),
            _secret(),
            base64.b64encode(secrets.token_bytes(96)).decode(),
            now + timedelta(seconds=seconds),
        )
        session = Session(
            role, session_name, credentials, now, identity.subject, identity.audience, identity.provider.url
        )
        with self.model.lock:
            self.sessions.append(session)
            self.model._keys[credentials.access_key_id] = (self, session, credentials)
        return session


class IamModel:
    """Every account the emulator enforces IAM in; :data:`IAM` is the process-wide instance, as the
    KMS state itself is process-wide (:data:`~..models.fidelity_kms_backends`)."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self.clock: Clock = clock
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self._keys: dict[str, tuple[Account, User | Session, Credentials]] = {}
        self._default_holders = 0

    @property
    def default_enforced(self) -> bool:
        return self._default_holders > 0

    def account(self, account_id: str, *, clock: Clock | None = None) -> Account:
        """The account ``account_id`` (12 digits), created (and so enforced) on first use."""
        if not re.fullmatch(r"\d{12}", account_id):
            raise ValidationError(f"an account id has 12 digits, not {account_id!r}")
        with self.lock:
            if account_id not in self.accounts:
                self.accounts[account_id] = Account(self, account_id, clock)
            return self.accounts[account_id]

    def new_account(self, *, clock: Clock | None = None) -> Account:
        """A fresh account with a random id (each least-privilege check gets its own)."""
        while True:
            account_id = "9" + "".join(secrets.choice("0123456789") for _ in range(11))
            with self.lock:
                if account_id not in self.accounts:
                    return self.account(account_id, clock=clock)

    def enforce_default(self, access_key_id: str, secret_access_key: str, *, hold: bool = True) -> Account:
        """Enforce IAM in the default account; ``access_key_id`` becomes its administrator's key.
        Held until :meth:`release_default` (nested emulators in one process share this model);
        ``hold=False`` re-creates the administrator after a reset without taking another hold."""
        account = self.account(DEFAULT_ACCOUNT)
        with self.lock:
            if access_key_id not in self._keys:
                account.create_user(
                    "kmsconform-admin",
                    {"AdministratorAccess": ADMINISTRATOR},
                    access_key=Credentials(access_key_id, secret_access_key),
                )
            if hold:
                self._default_holders += 1
        return account

    def release_default(self) -> None:
        """Drop one hold of :meth:`enforce_default`; the last one ends enforcement of the default account."""
        with self.lock:
            self._default_holders = max(0, self._default_holders - 1)

    def reset(self) -> None:
        with self.lock:
            self.accounts.clear()
            self._keys.clear()

    # -- requests ---------------------------------------------------------------------------------------
    def account_of(self, access_key_id: str) -> str | None:
        """The account whose key this is, when the model issued it."""
        with self.lock:
            found = self._keys.get(access_key_id)
        return found[0].account_id if found is not None else None

    def enforces(self, access_key_id: str | None) -> bool:
        """True when a request signed with ``access_key_id`` is subject to this model."""
        with self.lock:
            return self.default_enforced or (access_key_id is not None and access_key_id in self._keys)

    def authenticate(self, access_key_id: str, session_token: str | None) -> Caller:
        """The caller of a request signed with ``access_key_id`` (and ``session_token``, for a session).

        :raises UnrecognizedClient: an unknown key, or a token that does not belong to it.
        :raises ExpiredToken: temporary credentials past their expiry on the account's clock.
        """
        with self.lock:
            found = self._keys.get(access_key_id)
        if found is None:
            raise UnrecognizedClient("The security token included in the request is invalid.")
        account, owner, credentials = found
        # constant time: the session token is a secret
        if not hmac.compare_digest((session_token or "").encode(), (credentials.session_token or "").encode()):
            raise UnrecognizedClient("The security token included in the request is invalid.")
        if isinstance(owner, Session):
            assert credentials.expiration is not None
            if account.now() >= credentials.expiration:
                raise ExpiredToken("The security token included in the request is expired")
            with self.lock:
                policies = tuple(owner.role.policies.values())
            return Caller(owner.arn, account.account_id, credentials, policies, owner.assumed_role_id)
        with self.lock:
            policies = tuple(owner.policies.values())
        return Caller(owner.arn, account.account_id, credentials, policies, access_key_id)

    def authorize(
        self, caller: Caller, action: str, resources: Iterable[str], context: Mapping[str, str] | None = None
    ) -> None:
        """Allow ``action`` on every one of ``resources``, or raise :class:`AccessDenied` in AWS's words."""
        request_context = {
            "aws:PrincipalArn": caller.arn,
            "aws:PrincipalAccount": caller.account_id,
            "aws:userid": caller.user_id,
            **(context or {}),
        }
        for resource in resources:
            decision = evaluate(caller.policies, action, resource, request_context)
            if decision is Decision.ALLOW:
                continue
            account = self.accounts[caller.account_id]
            with self.lock:
                account.denials.append(Denial(caller.arn, action, resource, decision))
            reason = (
                "with an explicit deny in an identity-based policy"
                if decision is Decision.EXPLICIT_DENY
                else f"because no identity-based policy allows the {action} action"
            )
            raise AccessDenied(
                f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource} {reason}"
            )

    def role(self, role_arn: str) -> tuple[Account, Role]:
        """The role an ARN names, in an account of this model."""
        match = _ROLE_ARN.match(role_arn)
        if match is None:
            raise ValidationError(f"{role_arn!r} is not a role ARN")
        with self.lock:
            account = self.accounts.get(match.group(1))
            role = account.roles.get(match.group(2)) if account is not None else None
        if account is None or role is None or role.arn != role_arn:
            raise AccessDenied(f"Not authorized to perform {ASSUME_WEB_IDENTITY}")
        return account, role

    def owns_role(self, role_arn: str) -> bool:
        match = _ROLE_ARN.match(role_arn)
        with self.lock:
            return match is not None and match.group(1) in self.accounts


IAM = IamModel()
