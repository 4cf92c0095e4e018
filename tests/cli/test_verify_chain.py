"""``kmsconform verify-chain``: a 3-level chain verifies with the network blocked; each bad chain gets its code."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.delegation import SignerVault, issue, sign_certificate
from pytest_kmsconform.suites import _support as sup

from pytest_kmsconform.airgap import network_blocked, offline_argv, unshare_unavailable_reason
from pytest_kmsconform.cli import main


def chain(alg: Algorithm) -> tuple[list[dict[str, Any]], dict[str, Any], list[SignerVault]]:
    now = sup.now()
    vaults = [SignerVault(sup.ReferenceKey.create(alg, f"k{n}").signer) for n in range(4)]
    root, bot, sub, leaf = vaults
    c0 = issue(root, issuer="root", subject="bot", subject_key=bot.get_verifying_key(), capabilities=["a.*", "b"],
               not_before=now - timedelta(hours=1), not_after=now + timedelta(days=30))  # fmt: skip
    c1 = issue(bot, issuer="bot", subject="sub", subject_key=sub.get_verifying_key(), capabilities=["a.x", "b"],
               not_before=now - timedelta(minutes=30), not_after=now + timedelta(days=1), parent=c0)  # fmt: skip
    c2 = issue(sub, issuer="sub", subject="leaf", subject_key=leaf.get_verifying_key(), capabilities=["a.x"],
               not_before=now - timedelta(minutes=10), not_after=now + timedelta(hours=1), parent=c1)  # fmt: skip
    return [c0, c1, c2], {"keys": [root.get_verifying_key()]}, vaults


def write(tmp_path: Path, certs: list[dict[str, Any]], roots: dict[str, Any]) -> tuple[Path, Path]:
    (tmp_path / "chain.json").write_text(json.dumps(certs))
    (tmp_path / "roots.json").write_text(json.dumps(roots))
    return tmp_path / "chain.json", tmp_path / "roots.json"


@pytest.mark.parametrize("alg", [Algorithm.ED25519, Algorithm.ECDSA_P256_SHA256])
def test_three_level_chain_verifies_with_sockets_blocked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alg: Algorithm
) -> None:
    certs, roots, _ = chain(alg)
    chain_file, roots_file = write(tmp_path, certs, roots)
    with network_blocked() as guard:
        status = main(["verify-chain", str(chain_file), "--roots", str(roots_file), "--json"])
    assert guard.attempts == []
    assert status == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "capabilities": ["a.x"], "length": 3}


def test_in_an_empty_network_namespace(tmp_path: Path) -> None:
    reason = unshare_unavailable_reason()
    if reason is not None:
        pytest.skip(f"no empty network namespace here: {reason}")
    certs, roots, _ = chain(Algorithm.ED25519)
    chain_file, roots_file = write(tmp_path, certs, roots)
    code = "import sys; from pytest_kmsconform.cli import main; sys.exit(main())"
    argv = offline_argv([sys.executable, "-c", code, "verify-chain", str(chain_file), "--roots", str(roots_file)])
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "OK, 3 certificates; capabilities: a.x" in proc.stdout


def _bad_chains(certs: list[dict[str, Any]], vaults: list[SignerVault]) -> dict[str, list[dict[str, Any]]]:
    def resign(index: int, **changes: Any) -> list[dict[str, Any]]:
        edited = copy.deepcopy(certs)
        edited[index].update(changes)
        edited[index] = sign_certificate(edited[index], vaults[index])
        return edited

    tampered = copy.deepcopy(certs)
    tampered[2]["capabilities"] = ["a.x", "b"]
    outsider = copy.deepcopy(certs)
    outsider[2] = sign_certificate(outsider[2], vaults[3])
    return {
        "CAPABILITY_WIDENED": resign(2, capabilities=["a.y"]),
        "OUTLIVES_PARENT": resign(2, not_after="2999-01-01T00:00:00.000000Z"),
        "EXPIRED": resign(2, not_before=certs[1]["not_before"], not_after=certs[2]["not_before"]),
        "NOT_YET_VALID": resign(2, not_before=certs[2]["not_after"], not_after=certs[1]["not_after"]),
        "BAD_SIGNATURE": tampered,
        "WRONG_KEY": outsider,
        "PARENT_MISMATCH": resign(2, parent="0" * 64),
    }


def test_each_bad_chain_gets_its_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    certs, roots, vaults = chain(Algorithm.ED25519)
    for code, bad in sorted(_bad_chains(certs, vaults).items()):
        chain_file, roots_file = write(tmp_path, bad, roots)
        assert main(["verify-chain", str(chain_file), "--roots", str(roots_file), "--json"]) == 1, code
        verdict = json.loads(capsys.readouterr().out)
        assert (verdict["ok"], verdict["code"], verdict["index"]) == (False, code, 2)
    chain_file, _ = write(tmp_path, certs, roots)
    (tmp_path / "other.json").write_text(json.dumps({"keys": [vaults[1].get_verifying_key()]}))
    assert main(["verify-chain", str(chain_file), "--roots", str(tmp_path / "other.json")]) == 1
    assert capsys.readouterr().out.startswith("UNTRUSTED_ROOT: certificate 0")


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "chain.json").write_text("[]")
    assert main(["verify-chain", str(tmp_path / "chain.json"), "--roots", str(tmp_path / "none.json")]) == 2
    assert "cannot read roots" in capsys.readouterr().err
    (tmp_path / "roots.json").write_text("[]")
    assert main(["verify-chain", str(tmp_path / "chain.json"), "--roots", str(tmp_path / "roots.json")]) == 2
    assert "is not a JWKS" in capsys.readouterr().err
