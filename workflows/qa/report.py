"""index.html: a static report made to navigate thousands of objects, offline.

Three files, all with relative links so the directory can be copied anywhere
(a CI artifact, a web area):
- `index.html`: the releases compared, the verdict and counts, the controls, and
  the page script (report.js, inlined);
- `report_data.js`: every object's grade, tests and reason, and the overview
  drawing data (overview.py), as `window.RELVAL = {...}`; a script file rather
  than JSON because browsers refuse to fetch() from file:// pages;
- `plots/*.png`: the WARNING/BAD overlays, shown inline under their rows.

The page groups objects by file and directory with counts per group, filters
by grade, by failing test and by name (substring or glob), and draws the
overview of the matching objects (GOOD included), page by page, in the browser.
"""

from __future__ import annotations

import html
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

DATA_FILE = "report_data.js"

_STYLE = """
body{font-family:sans-serif;margin:1.2em;font-size:15px;color:#222}
h1{font-size:150%;margin:.2em 0}
.releases{font-size:125%}.releases b{font-family:monospace}
.inputs{color:#666;font-size:85%}
.verdict{font-size:130%;font-weight:bold}
.verdict.FAIL{color:#b00}.verdict.PASS{color:#070}.verdict.WARNING{color:#a60}.verdict.NO_VERDICT{color:#808}
.controls{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ccc;z-index:1}
.controls label{margin-right:1em;white-space:nowrap}
#search{width:24em;font-size:100%;padding:2px 4px}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
thead th{background:#eee}
tr.grouphead th{background:#f3f3f3;cursor:pointer;font-weight:normal;font-family:monospace}
td.name{font-family:monospace;word-break:break-all}
td.reason{font-size:90%}
tr.row.GOOD{cursor:pointer}
tr.BAD td.grade,.count.BAD,.t-BAD{background:#f4a6a6}
tr.WARNING td.grade,.count.WARNING,.t-WARNING{background:#f7dc8b}
tr.GOOD td.grade,.count.GOOD{background:#b7e4b0}
tr.NOT_COMPARED td.grade,.count.NOT_COMPARED{background:#ddd}
.count{padding:0 4px;border-radius:3px}
ul.errors{color:#b00;font-weight:bold}
p.why{margin-bottom:0;color:#808}ul.no-verdict{color:#808;margin-top:.2em}
img.overlay{max-width:100%;width:864px}
#overview{display:flex;flex-wrap:wrap;gap:8px}
figure.card{margin:0;border:2px solid #ddd;padding:2px}
figure.card.BAD{border-color:#d55}figure.card.WARNING{border-color:#db3}
figcaption{font-family:monospace;font-size:12px;max-width:300px;word-break:break-all}
"""


def _labels(summary) -> tuple[str, str]:
    labels = getattr(summary, "labels", None)
    if labels:
        return labels[0], labels[1]
    return Path(summary.new).name or summary.new, Path(summary.ref).name or summary.ref


def _tests(result) -> dict[str, dict[str, Any]]:
    out = {}
    for name, values in result.tests.items():
        graded = values.get("rel_diff") if name == "entries" else values.get("p")
        out[name] = {"g": values.get("grade"), ("d" if name == "entries" else "p"): _plain(graded)}
    return out


def _plain(value):
    """JSON has no NaN or infinity: those become strings, as in Summary.json."""
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def report_data(summary, overview: dict[str, dict] | None) -> dict[str, Any]:
    """What report_data.js holds: the rows (BAD first) and the drawing data by row index."""
    objects, hists = [], {}
    for index, result in enumerate(summary.sorted_results()):
        row = {"n": result.name, "f": result.file or "", "p": result.path or result.name, "g": result.grade,
               "s": result.status, "r": result.reason, "t": _tests(result)}
        if result.plot:
            row["plot"] = result.plot
        if overview and result.name in overview:
            hists[index] = overview[result.name]
            row["h"] = 1
        objects.append(row)
    return {"objects": objects, "hists": hists}


def render_html(summary) -> str:
    new_label, ref_label = _labels(summary)
    counts = summary.counts
    count_html = " ".join(f'<span class="count {g}">{n} {g}</span>' for g, n in counts.items())
    boxes = "".join(f'<label><input type="checkbox" id="grade-{g}" checked> {g} ({counts[g]})</label>'
                    for g in counts)
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in getattr(summary, "warnings", []))
    errors = "".join(f"<li>error: {html.escape(e)}</li>" for e in getattr(summary, "errors", []))
    incomplete = "".join(f"<li>{html.escape(r)}</li>" for r in getattr(summary, "no_verdict", []))
    # A BAD still fails an incomplete comparison: then the reasons say what is missing, not why no verdict.
    why = "why there is no verdict:" if summary.verdict == "NO_VERDICT" else "the comparison is incomplete:"
    script = resources.files("relval.workflows.qa").joinpath("report.js").read_text()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>relval QA: {html.escape(new_label)} vs {html.escape(ref_label)}: {html.escape(summary.verdict)}</title>
<style>{_STYLE}</style></head><body>
<h1>relval QA comparison</h1>
<p class="releases">new <b id="label-new">{html.escape(new_label)}</b> vs reference
<b id="label-ref">{html.escape(ref_label)}</b></p>
<p class="inputs">new: <code>{html.escape(summary.new)}</code> &middot; reference: <code>{html.escape(summary.ref)}</code></p>
<p class="verdict {html.escape(summary.verdict)}">verdict: {html.escape(summary.verdict)}</p>
<p>{count_html}</p>
{f'<ul class="errors">{errors}</ul>' if errors else ''}
{f'<p class="why">{why}</p><ul class="no-verdict">{incomplete}</ul>' if incomplete else ''}
{f'<ul class="warnings">{warnings}</ul>' if warnings else ''}
<noscript><p>This report needs JavaScript; every result is also in Summary.json.</p></noscript>
<div class="controls">
<label>search <input type="search" id="search" placeholder="name, or a glob such as */tpc/*"></label>
{boxes}
<label>failing test <select id="test"><option value="any">any</option><option value="chi2">chi2</option>
<option value="ks">KS</option><option value="width">width</option><option value="entries">entries</option></select></label>
<label>group by <select id="group"><option value="dir">file and directory</option>
<option value="file">file</option><option value="none">nothing</option></select></label>
<span id="shown"></span>
</div>
<table id="results"><thead><tr><th>grade</th><th>object</th><th>status</th><th>chi2 p</th><th>KS p</th>
<th>width p</th><th>entries diff</th><th>reason</th></tr></thead></table>
<h2>overview of the objects shown</h2>
<p>Shapes as densities, new in red, reference in black; y from zero.
<button id="prev">&larr; previous</button> <span id="page"></span> <button id="next">next &rarr;</button></p>
<div id="overview"></div>
<script src="{DATA_FILE}"></script>
<script>{script}</script>
</body></html>
"""


def write_html(summary, path: Path, overview: dict[str, dict] | None = None) -> Path:
    """index.html and, beside it, report_data.js."""
    data = json.dumps(report_data(summary, overview), separators=(",", ":"), allow_nan=False)
    # `</` cannot end the script element early when the data is inlined or served as is.
    (path.parent / DATA_FILE).write_text("window.RELVAL = " + data.replace("</", "<\\/") + ";\n")
    path.write_text(render_html(summary))
    return path
