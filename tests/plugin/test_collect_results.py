"""The controller's side of result collection under xdist (:mod:`pytest_kmsconform.collect_results`)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from pytest_kmsconform import collect_results
from pytest_kmsconform.checks import catalogue, catalogue_digest
from pytest_kmsconform.options import CONFIG_KEY, get_config


def _worker_down(digest: str) -> SimpleNamespace:
    out = {"backends": [], "impl": None, "catalogue_digest": digest}
    return SimpleNamespace(workeroutput={collect_results.PROPERTY: out}, workerinput={"workerid": "gw0"})


def test_the_controller_takes_the_catalogue_digest_from_a_worker(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers have the suites imported; the controller importing them again costs half a
    second after the last check."""

    def imports_the_suites() -> None:
        raise AssertionError("the controller imported the suites to compute the digest")

    monkeypatch.setattr(collect_results, "catalogue", imports_the_suites)
    collector = collect_results.ResultCollector(pytestconfig)
    collector.pytest_testnodedown(node=_worker_down("sha256:" + "ab" * 32), error=None)
    collector.pytest_testnodedown(node=_worker_down("sha256:" + "cd" * 32), error=None)
    assert collector.build().catalogue_digest == "sha256:" + "ab" * 32


def test_without_a_worker_the_digest_is_computed_here(pytestconfig: pytest.Config) -> None:
    collector = collect_results.ResultCollector(pytestconfig)
    assert collector.build().catalogue_digest == catalogue_digest(catalogue())


def test_a_worker_hands_its_catalogue_digest_to_the_controller(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    kc = dataclasses.replace(get_config(pytestconfig), enabled=True)
    stash = pytest.Stash()
    stash[CONFIG_KEY] = kc
    config = SimpleNamespace(stash=stash, workeroutput={})
    collect_results.pytest_sessionfinish(SimpleNamespace(config=config), 0)  # type: ignore[arg-type]
    assert config.workeroutput[collect_results.PROPERTY]["catalogue_digest"] == catalogue_digest(catalogue())
