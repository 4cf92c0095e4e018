"""Options: precedence (factory > CLI > ini > env > default, by ``is None``), validation, header."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_kmsconform.loader import SCHEMES, ImplLoadError, load_implementation, scheme_of
from pytest_kmsconform.options import resolve_config


class FakeConfig:
    """Just what resolve_config reads."""

    def __init__(self, options: dict[str, Any] | None = None, ini: dict[str, Any] | None = None) -> None:
        self.options = options or {}
        self.ini = ini or {}

    def getoption(self, name: str) -> Any:
        return self.options.get(name)

    def getini(self, name: str) -> Any:
        return self.ini.get(name)


def resolve(
    options: dict[str, Any] | None = None,
    ini: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    **factory: Any,
) -> Any:
    return resolve_config(FakeConfig(options, {"kmsconform": True, **(ini or {})}), env or {}, **factory)  # type: ignore[arg-type]


def test_precedence_factory_cli_ini_env_default() -> None:
    env = {"KMSCONFORM_IMPL": "env.mod:f"}
    assert resolve().impl == "reference"
    assert resolve(env=env).impl == "env.mod:f"
    assert resolve(ini={"kmsconform_impl": "ini.mod:f"}, env=env).impl == "ini.mod:f"
    cfg = resolve(options={"kmsconform_impl": "cli.mod:f"}, ini={"kmsconform_impl": "ini.mod:f"}, env=env)
    assert (cfg.impl, cfg.sources["impl"]) == ("cli.mod:f", "cli")
    assert resolve(options={"kmsconform_impl": "cli.mod:f"}, impl="factory.mod:f").sources["impl"] == "factory"


def test_zero_is_a_value_not_a_missing_one() -> None:
    cfg = resolve(options={"kmsconform_revocation_window": "0"}, env={"KMSCONFORM_REVOCATION_WINDOW": "7"})
    assert cfg.revocation_window_s == 0.0
    assert cfg.sources["revocation_window"] == "cli"


def test_backends_comma_and_repeat_deduplicated() -> None:
    cfg = resolve(options={"kmsconform_backend": ["local,mock", "local"]})
    assert cfg.backends == ("local", "mock")
    assert resolve(ini={"kmsconform_backend": ["mock"]}).backends == ("mock",)
    assert resolve(env={"KMSCONFORM_BACKEND": "mock, local"}).backends == ("mock", "local")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kmsconform_backend": ["nope"]}, "unknown backend"),
        ({"kmsconform_revocation_window": "soon"}, "expected a number"),
        ({"kmsconform_revocation_window": "-1"}, "must be >= 0"),
        ({"kmsconform_revocation_window": "nan"}, "finite"),
        ({"kmsconform_audit_records": "1"}, "must be >= 3"),
        ({"kmsconform_report": "out/report.txt"}, "ending in .json"),
        ({"kmsconform_impl": " "}, "empty implementation"),
    ],
)
def test_bad_values_are_usage_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(pytest.UsageError, match=message):
        resolve(options=options)


def test_disabled_resolves_without_touching_backends() -> None:
    cfg = resolve_config(FakeConfig({"kmsconform_backend": ["nope"]}), {})  # type: ignore[arg-type]
    assert not cfg.enabled and cfg.backends == ()


def test_scheme_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    assert scheme_of("reference") == "reference"
    assert scheme_of("mypkg.adapter:make_impl") == "python"
    assert scheme_of("http://127.0.0.1:8080") == "http"
    assert scheme_of("cmd:node signer.js") == "cmd"
    monkeypatch.delitem(SCHEMES, "cmd")  # a reserved scheme whose adapter is not installed
    with pytest.raises(ImplLoadError, match="reserved"):
        load_implementation("cmd:node signer.js")
    with pytest.raises(ImplLoadError, match="cannot import"):
        load_implementation("no_such_module_kc:make")
    with pytest.raises(ImplLoadError, match="is not"):
        load_implementation("not a spec")
    with pytest.raises(ImplLoadError, match="without"):
        load_implementation("pathlib:PurePath")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kmsconform-backend=nope"], "*unknown backend(s) nope*"),
        (["--kmsconform-impl=http://127.0.0.1:9", "--kmsconform-impl-timeout=2"], "*cannot reach http://127.0.0.1:9*"),
        (["--kmsconform-impl=no_such_module_kc:make"], "*cannot import no_such_module_kc*"),
    ],
)
def test_usage_errors_from_the_command_line(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest_inprocess("--kmsconform", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_ini_twins_and_report_header(pytester: pytest.Pytester, toys_on_path: None) -> None:
    pytester.makeini(
        """
        [pytest]
        kmsconform = true
        kmsconform_impl = kmsconform_toys:Correct
        kmsconform_backend = local
        kmsconform_audit_records = 4
        """
    )
    result = pytester.runpytest_inprocess("-k", "test_sign_basic", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "kmsconform: impl=kmsconform_toys:Correct (ini), backends=local (ini)",
            "kmsconform: revocation_window=10s, audit_records=4, report=-",
        ]
    )
    # skipped: the toy declares ed25519 and hmac-sha256 only; local also offers the other three of
    # contract version 1 and the three ML-DSA sets, each reported not applicable
    result.assert_outcomes(passed=2, skipped=6)


def test_fixture_override_in_conftest(pytester: pytest.Pytester, toys_on_path: None) -> None:
    pytester.makeconftest(
        """
        import pytest
        import kmsconform_toys

        class Mine(kmsconform_toys.Correct):
            name = "mine-from-conftest"

        @pytest.fixture(scope="session")
        def kmsconform_impl():
            return Mine()
        """
    )
    report = pytester.path / "out" / "r.json"
    result = pytester.runpytest_inprocess(
        "--kmsconform", "--kmsconform-backend=mock", f"--kmsconform-report={report}", "-k", "test_sign_basic"
    )
    result.assert_outcomes(passed=1)
    assert "mine-from-conftest" in report.read_text()
    assert Path(report.with_suffix(".md")).exists()


def test_bundled_suites_are_collected_from_any_directory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own="def test_own():\n    pass\n")
    alone = pytester.runpytest_inprocess("--kmsconform", "--kmsconform-backend=mock", "--collect-only", "-q")
    assert "test_own.py::test_own" not in alone.stdout.str()
    alone.stdout.fnmatch_lines(["*test_signing.py::test_sign_basic[[]mock-hmac-sha256[]]"])
    both = pytester.runpytest_inprocess(
        "--kmsconform", "--kmsconform-backend=mock", "--collect-only", "-q", "test_own.py"
    )
    both.stdout.fnmatch_lines(["test_own.py::test_own", "*test_signing.py::test_sign_basic[[]mock-hmac-sha256[]]"])
    plain = pytester.runpytest_inprocess("--collect-only", "-q")
    plain.stdout.fnmatch_lines(["test_own.py::test_own", "1 test collected*"])
