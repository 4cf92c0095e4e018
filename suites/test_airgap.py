"""Suite 5, air-gapped verification (seed 002): the implementation's verifier works from the JWKS
alone with the network cut off. In process, sockets and DNS are patched and any attempt fails the
check (even if the implementation swallowed the error); a verifier process runs under
``unshare -n``, skipped with the reason where that is not permitted."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from pytest_kmsconform.suites import _support as sup

from pytest_kmsconform.adapter import Implementation
from pytest_kmsconform.airgap import network_blocked, offline_argv, unshare_unavailable_reason
from pytest_kmsconform.asserts import assert_accepts, codes_and_indexes
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.checks import Target
from pytest_kmsconform.implementation import Memo

VERIFIER, VERIFIER_COMMAND = Capability.VERIFIER, Capability.VERIFIER_COMMAND
SOURCE = (
    "seed 002 (Air-gap guarantee: zero KMS calls at verification time); seed 000 (Verifier only needs the public key)"
)


@pytest.mark.kmsconform_check(
    id="KC-AIR-001",
    title="The verifier verifies signatures from the JWKS with all network access blocked",
    source=SOURCE,
    requires=[VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["NETWORK_ACCESS"],
)
def test_verify_signature_offline(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_memo: Memo
) -> None:
    alg = kmsconform_target.alg
    assert alg is not None
    key = kmsconform_memo.get(("air-key", alg), lambda: sup.ReferenceKey.create(alg, "air"))
    sig = key.signer.sign_digest(sup.digest("air"))
    jwks = json.loads(json.dumps(key.signer.jwks()))
    with network_blocked() as guard:
        verifier = kmsconform_impl.verifier(jwks)
        assert_accepts(lambda: verifier.verify_signature(sup.digest("air"), sig), "offline verification")
    assert not guard.attempts, f"the verifier tried to reach the network: {guard.attempts}"


@pytest.mark.kmsconform_check(
    id="KC-AIR-002",
    title="The verifier checks a whole audit archive with all network access blocked",
    source=SOURCE,
    requires=[VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["NETWORK_ACCESS"],
)
def test_verify_archive_offline(
    kmsconform_target: Target,
    kmsconform_impl: Implementation,
    kmsconform_memo: Memo,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    assert kmsconform_target.alg is not None
    archive, key = sup.memo_archive(kmsconform_memo, kmsconform_target.alg, tmp_path_factory)
    path = archive.write(tmp_path / "audit.jsonl")
    jwks = key.signer.jwks()
    with network_blocked() as guard:
        findings = codes_and_indexes(kmsconform_impl.verifier(jwks).verify_archive(path))
    assert not guard.attempts, f"the verifier tried to reach the network: {guard.attempts}"
    assert findings == [], f"findings on an intact archive verified offline: {findings}"


@pytest.mark.kmsconform_check(
    id="KC-AIR-003",
    title="The verifier process accepts an intact archive and rejects a tampered one in an empty network namespace",
    source=SOURCE + "; issue 7 (subprocess verifiers under unshare -n)",
    requires=[VERIFIER_COMMAND],
    scope="alg",
    algs="asymmetric",
    flags=["NETWORK_ACCESS", "CHAIN_INTEGRITY"],
)
def test_verifier_process_offline(
    kmsconform_target: Target,
    kmsconform_impl: Implementation,
    kmsconform_memo: Memo,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    reason = unshare_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    assert kmsconform_target.alg is not None
    archive, key = sup.memo_archive(kmsconform_memo, kmsconform_target.alg, tmp_path_factory)
    jwks_path = tmp_path / "jwks.json"
    jwks_path.write_text(json.dumps(key.signer.jwks()))
    intact = archive.write(tmp_path / "intact.jsonl")
    tampered = sup.edit_payload(1)(archive, key).write(tmp_path / "tampered.jsonl")
    runs = {}
    for name, path in (("intact", intact), ("tampered", tampered)):
        argv = offline_argv(list(kmsconform_impl.verifier_command(path, jwks_path)))
        runs[name] = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    ok, bad = runs["intact"], runs["tampered"]
    assert ok.returncode == 0, f"intact archive: exit {ok.returncode}: {ok.stderr.strip() or ok.stdout.strip()}"
    assert bad.returncode != 0, f"tampered archive accepted offline (exit 0): {bad.stdout.strip()}"
