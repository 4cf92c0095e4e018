"""``report.html``: one self-contained page (inline CSS, no script, no external asset).

Every piece of text from the run goes through :func:`html.escape`, attributes included, so a
message carrying markup shows as text.
"""

from __future__ import annotations

import html
from pathlib import Path

from pytest_kmsconform.results import RunResult

from . import summary

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1b1f24;background:#fff}
h1{font-size:1.5rem;margin:0 0 .5rem}
h2{font-size:1.15rem;margin:1.75rem 0 .5rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;font-family:ui-monospace,monospace;padding:.2rem .6rem;border-radius:.3rem;color:#fff}
.badge.pass{background:#1a7f37}.badge.fail{background:#cf222e}
.o{font-weight:600;white-space:nowrap}
.o-passed{color:#1a7f37}.o-failed,.o-error{color:#cf222e}.o-skipped{color:#9a6700}.o-not_applicable{color:#57606a}
tr.failed,tr.error{background:#ffebe9}
pre{margin:0;white-space:pre-wrap;word-break:break-word;font-size:.85rem}
code{font-family:ui-monospace,monospace;font-size:.85rem}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
"""


def esc(text: object) -> str:
    return html.escape(summary.printable(str(text)), quote=True)


def _summary(run: RunResult) -> list[str]:
    totals = summary.tally(run.checks)
    verdict = summary.verdict(run)
    items = [
        ("Verdict", verdict),
        ("Implementation", f"{run.implementation} {run.implementation_version}".strip()),
        ("Suite version", run.suite_version),
        ("Started", run.started_at),
        ("Finished", run.finished_at),
        ("Catalogue digest", run.catalogue_digest or "(not computed)"),
        (
            "Check instances",
            f"{totals.total}: {totals.passed} passed, {totals.failed} failed, {totals.error} error, "
            f"{totals.skipped} skipped, {totals.not_applicable} not applicable",
        ),
        ("Score (passed / applicable)", f"{totals.passed}/{totals.applicable}"),
    ]
    out = [f'<p><span class="badge {esc(verdict)}">{esc(summary.badge(run))}</span></p>', "<dl>"]
    out += [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items]
    out.append("</dl>")
    return out


def _backends(run: RunResult) -> list[str]:
    out = ["<h2>Backends</h2>", "<table><thead><tr><th>Backend</th><th>Status</th><th>Version</th><th>Reason</th>"]
    out.append("</tr></thead><tbody>")
    for b in run.backends:
        out.append(
            f"<tr><td>{esc(b.name)}</td><td>{esc(b.status)}</td><td>{esc(b.version)}</td><td>{esc(b.reason)}</td></tr>"
        )
    out.append("</tbody></table>")
    return out


def _table(run: RunResult) -> list[str]:
    out = [
        "<h2>Results by backend and suite</h2>",
        "<table><thead><tr><th>Backend</th><th>Suite</th><th>Passed</th><th>Failed</th><th>Error</th>"
        "<th>Not applicable</th><th>Skipped</th></tr></thead><tbody>",
    ]
    for backend, suite, c in summary.table(run).rows():
        nums = "".join(f'<td class="n">{n}</td>' for n in (c.passed, c.failed, c.error, c.not_applicable, c.skipped))
        out.append(f"<tr><td>{esc(backend)}</td><td>{esc(suite)}</td>{nums}</tr>")
    out.append("</tbody></table>")
    return out


def _checks(run: RunResult) -> list[str]:
    out = [
        "<h2>Checks (failures first)</h2>",
        "<table><thead><tr><th>Check</th><th>Title</th><th>Source</th><th>Backend</th><th>Alg</th>"
        "<th>Outcome</th><th>Message</th><th>Time (s)</th></tr></thead><tbody>",
    ]
    for c in summary.ordered(run.checks):
        outcome = c.outcome.value
        out.append(
            f'<tr class="{esc(outcome)}"><td title="{esc(c.nodeid)}"><code>{esc(c.check_id)}</code></td>'
            f"<td>{esc(c.title)}</td>"
            f"<td>{esc(c.source)}</td><td>{esc(c.backend or summary.NO_BACKEND)}</td><td>{esc(c.alg)}</td>"
            f'<td class="o o-{esc(outcome)}">{esc(summary.OUTCOME_LABEL[c.outcome])}</td>'
            f'<td><pre>{esc(c.message)}</pre></td><td class="n">{c.duration_s:.3f}</td></tr>'
        )
    out.append("</tbody></table>")
    return out


def render(run: RunResult) -> str:
    title = f"kmsconform report: {run.implementation}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(title)}</h1>",
        *_summary(run),
        *_backends(run),
        *_table(run),
        *_checks(run),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def write(run: RunResult, path: Path) -> Path:
    path.write_text(render(run), encoding="utf-8")
    return path
