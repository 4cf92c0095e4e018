"""AWS's key-state table, encoded once, as data: which operation works in which key state.

Source: "Key states of AWS KMS keys", AWS KMS Developer Guide, section "Key state table"
(https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html; the last revision published
as Markdown is awsdocs/aws-kms-developer-guide ``doc_source/key-state.md`` at commit 38281913,
2022-12-05). A cell is ``ok`` or the number of the footnote whose error AWS returns:

* [1] ``DisabledException: <key ARN> is disabled.``
* [2] ``DisabledException: <key ARN> is pending deletion.`` / [3] ``KMSInvalidStateException: <key ARN>
  is pending deletion.`` -- AWS writes "[2] or [3]"; today's AWS answers [3] (LocalStack's AWS-validated
  ``test_cant_use_disabled_or_deleted_keys``: GenerateDataKey on a pending-deletion key ->
  ``KMSInvalidStateException``), so every "[2] or [3]" cell below is ``3``.
* [4] ``KMSInvalidStateException: <key ARN> is not pending deletion.``
* [5] ``KMSInvalidStateException: <key ARN> is pending import.``
* [6] ``UnsupportedOperationException: <key ARN> origin is EXTERNAL which is not valid for this operation.``
* [7] "If the KMS key has imported key material or is in a custom key store: UnsupportedOperationException"
* [8] "If the KMS key has imported key material: KMSInvalidStateException"
* [9] "If the KMS key cannot or does not have imported key material: UnsupportedOperationException"
  (the message is ``<key ARN> origin is AWS_KMS which is not valid for this operation.``: LocalStack's
  AWS-validated ``test_get_parameters_for_import_raises_for_non_external_kms_keys``)
* [10] UpdateAlias: the *target* key pending deletion fails with [3]; the source key's state does not matter.

A "?" cell of AWS's table depends on the key's origin; here it is written ``A/E``: ``A`` for keys
with ``Origin=AWS_KMS``, ``E`` for imported keys (``Origin=EXTERNAL``). ``-`` marks a state a key of
that origin cannot be in (only imported keys are ever ``PendingImport``). Where AWS's table says
N/A for PendingImport because asymmetric and HMAC keys could not be imported in 2022 (Sign, Verify,
GenerateMac, VerifyMac, GetPublicKey), they can be today, and the cell is [5] like every other
cryptographic operation (LocalStack's AWS-validated ``test_rotate_key_on_demand_on_external_key_with_no_key_material``
gives [5] for RSA_4096 too). Rows marked ``*`` are operations newer than that revision
(DeriveSharedSecret, RotateKeyOnDemand, ListKeyRotations): their cells follow the API reference's
error lists and the AWS-validated snapshots named in ``docs/emulators/aws-kms.md``. The states
Unavailable, Creating, Updating and PendingReplicaDeletion are not modelled (no custom key stores;
replication completes at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import DisabledException, KmsError, KMSInvalidStateException, UnsupportedOperationException


class KeyState(StrEnum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_IMPORT = "PendingImport"


class Origin(StrEnum):
    AWS_KMS = "AWS_KMS"
    EXTERNAL = "EXTERNAL"


@dataclass(frozen=True)
class Footnote:
    number: int
    error: type[KmsError]
    template: str  # "{arn}" is the key ARN, "{origin}" its origin

    def exception(self, arn: str, origin: str) -> KmsError:
        return self.error(self.template.format(arn=arn, origin=origin))


_UNSUPPORTED_ORIGIN = "{arn} origin is {origin} which is not valid for this operation."
FOOTNOTES: dict[int, Footnote] = {
    1: Footnote(1, DisabledException, "{arn} is disabled."),
    3: Footnote(3, KMSInvalidStateException, "{arn} is pending deletion."),
    4: Footnote(4, KMSInvalidStateException, "{arn} is not pending deletion."),
    5: Footnote(5, KMSInvalidStateException, "{arn} is pending import."),
    6: Footnote(6, UnsupportedOperationException, _UNSUPPORTED_ORIGIN),
    7: Footnote(7, UnsupportedOperationException, _UNSUPPORTED_ORIGIN),
    8: Footnote(8, KMSInvalidStateException, "{arn} is pending deletion."),
    9: Footnote(9, UnsupportedOperationException, _UNSUPPORTED_ORIGIN),
}

STATES = (KeyState.ENABLED, KeyState.DISABLED, KeyState.PENDING_DELETION, KeyState.PENDING_IMPORT)

# operation                          Enabled  Disabled  PendingDeletion  PendingImport
TABLE_TEXT = """
CancelKeyDeletion                    4        4         ok               -/4
CreateAlias                          ok       ok        3                -/ok
CreateGrant                          ok       1         3                -/5
Decrypt                              ok       1         3                -/5
DeleteAlias                          ok       ok        ok               -/ok
DeleteImportedKeyMaterial            9/ok     9/ok      9/ok             -/ok
DeriveSharedSecret*                  ok       1         3                -/5
DescribeKey                          ok       ok        ok               -/ok
DisableKey                           ok       ok        3                -/5
DisableKeyRotation                   ok/7     1/7       3/7              -/6
EnableKey                            ok       ok        3                -/5
EnableKeyRotation                    ok/7     1/7       3/7              -/6
Encrypt                              ok       1         3                -/5
GenerateDataKey                      ok       1         3                -/5
GenerateDataKeyPair                  ok       1         3                -/5
GenerateDataKeyPairWithoutPlaintext  ok       1         3                -/5
GenerateDataKeyWithoutPlaintext      ok       1         3                -/5
GenerateMac                          ok       1         3                -/5
GetKeyPolicy                         ok       ok        ok               -/ok
GetKeyRotationStatus                 ok/7     ok/7      ok/7             -/6
GetParametersForImport               9/ok     9/ok      9/8              -/ok
GetPublicKey                         ok       1         3                -/5
ImportKeyMaterial                    9/ok     9/ok      9/8              -/ok
ListAliases                          ok       ok        ok               -/ok
ListGrants                           ok       ok        ok               -/ok
ListKeyPolicies                      ok       ok        ok               -/ok
ListKeyRotations*                    ok       ok        ok               -/ok
ListResourceTags                     ok       ok        ok               -/ok
PutKeyPolicy                         ok       ok        ok               -/ok
ReEncrypt                            ok       1         3                -/5
ReplicateKey                         ok       1         3                -/5
RetireGrant                          ok       ok        ok               -/ok
RevokeGrant                          ok       ok        ok               -/ok
RotateKeyOnDemand*                   ok       1         3                -/5
ScheduleKeyDeletion                  ok       ok        3                -/ok
Sign                                 ok       1         3                -/5
TagResource                          ok       ok        3                -/ok
UntagResource                        ok       ok        3                -/ok
UpdateAlias                          ok       ok        3                -/ok
UpdateKeyDescription                 ok       ok        3                -/ok
UpdatePrimaryRegion                  ok       1         3                -/5
Verify                               ok       1         3                -/5
VerifyMac                            ok       1         3                -/5
"""

Outcome = int | None  # a footnote number, or None for "succeeds"
NOT_APPLICABLE = -1  # the key cannot be in this state


def _outcome(text: str) -> Outcome:
    if text == "ok":
        return None
    if text == "-":
        return NOT_APPLICABLE
    return int(text)


def _parse(text: str) -> tuple[dict[str, dict[tuple[KeyState, Origin], Outcome]], frozenset[str]]:
    table: dict[str, dict[tuple[KeyState, Origin], Outcome]] = {}
    newer: set[str] = set()
    for line in text.strip().splitlines():
        operation, *cells = line.split()
        if operation.endswith("*"):
            operation = operation[:-1]
            newer.add(operation)
        row: dict[tuple[KeyState, Origin], Outcome] = {}
        for state, cell in zip(STATES, cells, strict=True):
            aws_kms, _, external = cell.partition("/")
            row[(state, Origin.AWS_KMS)] = _outcome(aws_kms)
            row[(state, Origin.EXTERNAL)] = _outcome(external or aws_kms)
        table[operation] = row
    return table, frozenset(newer)


TABLE, NEWER_THAN_TABLE = _parse(TABLE_TEXT)


def outcome(operation: str, state: str, origin: str) -> Outcome:
    """The table's cell for ``operation`` on a key in ``state`` with ``origin``."""
    return TABLE[operation][(KeyState(state), Origin(origin))]


def check(operation: str, *, state: str, origin: str, arn: str) -> None:
    """Raise AWS's error for ``operation`` on a key in ``state``; return when the table says it succeeds."""
    cell = outcome(operation, state, origin)
    if cell is None:
        return
    if cell == NOT_APPLICABLE:  # an invariant of the model broke (e.g. an AWS_KMS key pending import)
        raise AssertionError(f"a key of origin {origin} cannot be {state}")
    raise FOOTNOTES[cell].exception(arn, origin)
