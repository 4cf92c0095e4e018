"""The composite GitHub Action (``action.yml``): its shell steps run here, as a runner would run
them, with the inputs substituted; the ``uses:`` steps are checked for what they are given."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (extra 'dev')")

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def load() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(ACTION.read_text())
    return doc


def substitute(text: str, context: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in context:
            raise AssertionError(f"action.yml uses ${{{{ {name} }}}}, which this runner does not provide")
        return context[name]

    return EXPR.sub(value, text)


def run_action(inputs: dict[str, str], workspace: Path) -> dict[str, Any]:
    """Run every ``shell: bash`` step (``always()`` ones after a failure too), as a runner does."""
    doc = load()
    given = {name: spec.get("default", "") for name, spec in doc["inputs"].items()}
    given.update(inputs)
    summary, output = workspace / "step_summary.md", workspace / "github_output"
    context = {f"inputs.{k}": v for k, v in given.items()} | {"github.action_path": str(ROOT)}
    failed, results = False, {}
    for step in doc["runs"]["steps"]:
        if "uses" in step or step.get("id") == "install":  # this test's venv is that install
            continue
        if failed and step.get("if") != "always()":
            continue
        assert step["shell"] == "bash"
        env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
        env |= {k: substitute(str(v), context) for k, v in step.get("env", {}).items()}
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", substitute(step["run"], context)],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        results[step["id"]] = proc
        failed = failed or proc.returncode != 0
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines()) if output.exists() else {}
    return {"steps": results, "summary": summary.read_text() if summary.exists() else "", "outputs": outputs}


def test_the_action_declares_its_inputs_outputs_and_steps() -> None:
    doc = load()
    assert doc["runs"]["using"] == "composite"
    assert {"impl", "backends", "report-dir"} <= set(doc["inputs"])
    assert doc["outputs"]["exit-code"]["value"] == "${{ steps.run.outputs.exit-code }}"
    uses = {step["uses"].split("@")[0]: step for step in doc["runs"]["steps"] if "uses" in step}
    assert set(uses) == {"actions/setup-python", "actions/upload-artifact"}
    artifact = uses["actions/upload-artifact"]
    assert artifact["if"] == "always()" and artifact["with"]["path"] == "${{ inputs.report-dir }}"
    for step in doc["runs"]["steps"]:  # inputs reach scripts through env, never spliced into the code
        assert "inputs." not in step.get("run", ""), f"step {step.get('id')} splices an input into its script"


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_action_certifies_and_summarises(tmp_path: Path) -> None:
    result = run_action({"backends": "mock", "report-dir": "out/report"}, tmp_path)
    run = result["steps"]["run"]
    assert run.returncode == 0, run.stderr[-2000:]
    assert result["outputs"]["exit-code"] == "0"
    report = tmp_path / "out" / "report"
    assert {p.name for p in report.iterdir()} >= {"report.json", "report.md", "report.html", "junit.xml"}
    assert result["summary"] == (report / "report.md").read_text()
    assert "mock" in result["summary"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_a_failed_run_still_writes_the_summary_and_fails_the_step(tmp_path: Path) -> None:
    result = run_action({"impl": "no.such.module:Impl", "backends": "mock, local"}, tmp_path)
    status = result["steps"]["run"].returncode
    assert status != 0 and result["outputs"]["exit-code"] == str(status)
    assert result["steps"]["summary"].returncode == 0  # if: always()
    assert "wrote no report.md" in result["summary"]
