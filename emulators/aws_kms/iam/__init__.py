"""IAM for the AWS KMS emulator: identity policies evaluated per request, STS web identity, expiry.

* :mod:`.policy` -- policy documents and AWS's evaluation (explicit deny, allow, default deny);
* :mod:`.model` -- accounts, users, roles, OIDC providers, sessions, on an injectable clock
  (:data:`~.model.IAM`, process-wide like the KMS state);
* :mod:`.web_identity` -- the JWT checks of AssumeRoleWithWebIdentity;
* :mod:`.sigv4` -- the request signature, recomputed with botocore;
* :mod:`.kms_access` -- the KMS wire layer's hook (action and key ARN of each operation);
* :mod:`.sts_wire` -- STS AssumeRoleWithWebIdentity and GetCallerIdentity over HTTP (query protocol, XML).

Off by default; see ``docs/emulators/aws-kms.md`` ("IAM") for what is and is not modelled.
"""

from .model import IAM, Account, Credentials, IamModel, Role, Session

__all__ = ["IAM", "Account", "Credentials", "IamModel", "Role", "Session"]
