"""Reports of a conformance run: ``report.json``, ``report.md``, ``report.html``, ``junit.xml``,
and the signed ``certificate.json`` (:mod:`pytest_kmsconform.report.certificate`).

The plugin calls :func:`write_reports` on the controller once the run is merged; renderers are
pure functions of a :class:`~pytest_kmsconform.results.RunResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from pytest_kmsconform.results import RunResult

from . import html_report, json_report, junit, markdown
from .errors import ReportError, UnknownFormat

# format name -> (file name, writer)
FORMATS: dict[str, tuple[str, Callable[[RunResult, Path], Path]]] = {
    "json": ("report.json", json_report.write),
    "md": ("report.md", markdown.write),
    "html": ("report.html", html_report.write),
    "junit": ("junit.xml", junit.write),
}

__all__ = ["FORMATS", "ReportError", "UnknownFormat", "write_formats", "write_reports"]


def _known(formats: Collection[str]) -> None:
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise UnknownFormat(f"unknown report format(s) {', '.join(unknown)}; known: {', '.join(FORMATS)}")


def write_formats(run: RunResult, paths: Mapping[str, Path]) -> dict[str, Path]:
    """Write each format of ``paths`` (format name -> file) through :data:`FORMATS`, creating
    parent directories; return format -> path.

    :raises UnknownFormat: before writing anything, if a format is not one of :data:`FORMATS`.
    """
    _known(paths)
    written: dict[str, Path] = {}
    for name in FORMATS:
        if name in paths:
            path = Path(paths[name])
            path.parent.mkdir(parents=True, exist_ok=True)
            written[name] = FORMATS[name][1](run, path)
    return written


def write_reports(
    run: RunResult, out_dir: Path, formats: Collection[str] = ("json", "md", "html", "junit")
) -> dict[str, Path]:
    """Write the chosen formats into ``out_dir`` (created if missing); return format -> path.

    :raises UnknownFormat: before writing anything, if a format is not one of :data:`FORMATS`.
    """
    _known(formats)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return write_formats(run, {name: Path(out_dir) / FORMATS[name][0] for name in formats})
