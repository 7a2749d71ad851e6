"""The trends page: one static HTML file with inline SVG plots and an inline script (no
network), so it opens from a copied artifact or a mail attachment as it is.

    render(trends) -> str
    write_page(trends, out_dir) -> Path        out_dir/index.html (the directory is checked first)

- Releases: each validated release, its run, verdict and grade counts.
- Histograms: the latest grade change first. Per release the grade and the chi2 and KS
  p-values; the plot draws both p-values on a log scale against the warning and bad
  thresholds, over a strip of grade colours, so a GOOD -> BAD -> GOOD is seen at a glance.
  A campaign has thousands of histograms: the rows (their HTML, drawn here) sit in a JSON
  block and the script puts one page of them (PAGE_ROWS) at a time into the table,
  filtered by name (a substring, or a glob with * and ?) and by grade (the latest one,
  or "changed"). Without JavaScript the first page is there as it is.
- Stages: per resource metric the median and the maximum per release, the points
  coloured by the grade against that run's reference.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path

from relval.workflows.trends import ObjectTrend, Point, StageTrend, Trends

COLOURS = {"GOOD": "#2e7d32", "WARNING": "#f9a825", "BAD": "#c62828", "NOT_COMPARED": "#757575"}
ABSENT = "#dddddd"
P_FLOOR = 12            # -log10 p is drawn up to 1e-12; smaller p-values sit on the floor
PAGE_ROWS = 100         # histogram rows in the page at once (5,000 inline plots would stall the browser)
UNITS = {"max_rss_kb": ("memory", "MB", 1 / 1024), "cpu_s": ("CPU", "s", 1.0),
         "wall_s": ("wall", "s", 1.0), "bytes_written": ("written", "MB", 1 / 1024 / 1024)}
CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:middle;font-size:13px}
th{background:#f3f3f3;text-align:left}
td.grade{text-align:center;white-space:nowrap}
td.grade .p{display:block;font-size:11px;color:#555}
.GOOD{background:#e8f5e9}.WARNING{background:#fff8e1}.BAD{background:#ffebee}.NOT_COMPARED{background:#eee}
.absent{color:#999}
.change{font-weight:bold;white-space:nowrap}
.legend{font-size:12px;color:#555}
code{font-size:12px}
.controls{position:sticky;top:0;background:#fff;padding:.4em 0;border-bottom:1px solid #ccc;z-index:1}
.controls label{margin-right:1em;white-space:nowrap}
#filter-name{width:22em}
"""
# The histogram table's pages and filter (rows are HTML strings from _object_row).
SCRIPT = r"""
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var rows = JSON.parse($("objects-data").textContent);
  var body = $("object-rows"), size = Number(body.getAttribute("data-page-rows")), page = 0, shown = rows;
  function globToRegExp(text) {
    var escaped = text.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    return new RegExp("^" + escaped + "$", "i");
  }
  function draw() {
    var pages = Math.max(1, Math.ceil(shown.length / size));
    page = Math.max(0, Math.min(page, pages - 1));
    body.innerHTML = shown.slice(page * size, (page + 1) * size).map(function (r) { return r.h; }).join("");
    var first = shown.length ? page * size + 1 : 0, last = Math.min(shown.length, (page + 1) * size);
    $("objects-status").textContent = first + "-" + last + " of " + shown.length + " matching (" +
      rows.length + " in all), page " + (page + 1) + " of " + pages;
    $("page-prev").disabled = page === 0;
    $("page-next").disabled = page >= pages - 1;
  }
  function filter() {
    var text = $("filter-name").value.trim(), grade = $("filter-grade").value;
    var glob = /[*?]/.test(text) ? globToRegExp(text) : null, lower = text.toLowerCase();
    shown = rows.filter(function (r) {
      if (grade === "changed" ? !r.c : grade && r.g !== grade) return false;
      return !text || (glob ? glob.test(r.n) : r.n.toLowerCase().indexOf(lower) >= 0);
    });
    page = 0;
    draw();
  }
  $("filter-name").addEventListener("input", filter);
  $("filter-grade").addEventListener("change", filter);
  $("page-prev").addEventListener("click", function () { page -= 1; draw(); });
  $("page-next").addEventListener("click", function () { page += 1; draw(); });
  filter();
})();
"""


def write_page(trends: Trends, out_dir: Path) -> Path:
    from relval.workflows.qa.output import prepare_output_dir

    prepare_output_dir(Path(out_dir))
    page = Path(out_dir) / "index.html"
    page.write_text(render(trends), encoding="utf-8")
    return page


def render(trends: Trends) -> str:
    releases = [r["release"] for r in trends.releases]
    changed = [o for o in trends.objects if o.changed_at is not None]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>relval trends: {escape(trends.campaign)}</title>",
        '<link rel="icon" href="data:,">',  # no favicon request, no console error for it
        f"<style>{CSS}</style></head><body>",
        f"<h1>Trends of campaign <code>{escape(trends.campaign)}</code></h1>",
        f"<p>{len(releases)} validated release(s) from <code>{escape(trends.url)}</code>; "
        f'<span id="changed-count">{len(changed)}</span> object(s) changed grade.</p>',
        _releases_table(trends),
        "<h2>Histograms</h2>",
        '<p class="legend">The latest grade change first. Plot: p-values on a log scale '
        "(top: p = 1; bottom: p &le; 1e-12), chi2 as circles on a solid line, KS as squares on a "
        "dashed line, the dotted lines are the warning and bad thresholds; the strip below is "
        "the grade per release.</p>",
        _objects_table(trends.objects, releases, trends.thresholds),
        "<h2>Resources per stage</h2>",
        '<p class="legend">Median (solid) and maximum (dashed) per release; a point\'s colour is '
        "the grade against that run's reference (grey: not compared).</p>",
        _stages_section(trends.stages, releases),
        f"<script>{SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _releases_table(trends: Trends) -> str:
    rows = ['<table id="releases"><tr><th>release</th><th>verdict</th><th>reference</th>'
            "<th>GOOD / WARNING / BAD</th><th>archived run</th><th>created</th></tr>"]
    for r in trends.releases:
        counts = r.get("counts") or {}
        tally = " / ".join(str(counts.get(g, 0)) for g in ("GOOD", "WARNING", "BAD")) if counts else "-"
        verdict_class = "GOOD" if r["verdict"] == "PASS" else "BAD"
        rows.append(f'<tr class="release"><td>{escape(r["release"])}</td>'
                    f'<td class="{verdict_class}">{escape(str(r["verdict"]))}</td>'
                    f'<td>{escape(str(r.get("reference") or "-"))}</td><td>{tally}</td>'
                    f'<td><code>{escape(r["run"])}</code></td><td>{escape(str(r.get("created") or ""))}</td></tr>')
    rows.append("</table>")
    return "\n".join(rows)


def _objects_table(objects: list[ObjectTrend], releases: list[str], thresholds: dict) -> str:
    head = "".join(f"<th>{escape(r)}</th>" for r in releases)
    grades = [g for g in COLOURS if any(o.latest and o.latest.grade == g for o in objects)]
    options = "".join(f'<option value="{g}">latest {g}</option>' for g in grades)
    data = [{"n": o.name, "g": o.latest.grade if o.latest else "", "c": o.change is not None,
             "h": _object_row(o, releases, thresholds)} for o in objects]
    # Neither `</` nor `<!--` may appear inside a script element; JSON reads `<\/` and `\u003c` back.
    blob = (json.dumps(data, separators=(",", ":"), allow_nan=False)
            .replace("</", "<\\/").replace("<!--", "\\u003c!--"))
    return "\n".join([
        '<div class="controls"><label>name <input id="filter-name" type="search" '
        'placeholder="substring, or a glob: *TPC*/dEdx*"></label>'
        f'<label>grade <select id="filter-grade"><option value="">any</option>{options}'
        '<option value="changed">changed grade</option></select></label>'
        '<button id="page-prev" type="button">&larr; previous</button> '
        '<button id="page-next" type="button">next &rarr;</button> '
        f'<span id="objects-status">1-{min(PAGE_ROWS, len(objects))} of {len(objects)}</span></div>',
        f'<table id="objects"><thead><tr><th>object</th><th>last change</th>{head}<th>plot</th></tr></thead>',
        f'<tbody id="object-rows" data-page-rows="{PAGE_ROWS}">',
        *(row["h"] for row in data[:PAGE_ROWS]),  # the first page, also without JavaScript
        "</tbody></table>",
        f'<script type="application/json" id="objects-data">{blob}</script>',
    ])


def _object_row(trend: ObjectTrend, releases: list[str], thresholds: dict) -> str:
    change = trend.change
    change_cell = (f'<td class="change">{escape(releases[trend.changed_at])}: '
                   f"{escape(change[0])} &rarr; {escape(change[1])}</td>" if change else "<td></td>")
    cells = "".join(_grade_cell(p, release) for p, release in zip(trend.points, releases))
    return (f'<tr class="row" data-name="{escape(trend.name)}" '
            f'data-changed="{escape(releases[trend.changed_at]) if change else ""}">'
            f"<td><code>{escape(trend.name)}</code></td>{change_cell}{cells}"
            f"<td>{p_value_plot(trend, releases, thresholds)}</td></tr>")


def _grade_cell(point: Point | None, release: str) -> str:
    if point is None:
        return f'<td class="grade absent" data-release="{escape(release)}" data-grade="">absent</td>'
    tests = " ".join(part for part in (
        f"&chi;&sup2; {_p_text(point.chi2_p)}" if point.chi2_p is not None else "",
        f"KS {_p_text(point.ks_p)}" if point.ks_p is not None else "") if part)
    title = escape(point.reason or point.grade)
    return (f'<td class="grade {escape(point.grade)}" data-release="{escape(release)}" '
            f'data-grade="{escape(point.grade)}" title="{title}">{escape(point.grade)}'
            f'<span class="p">{tests}</span></td>')


def _p_text(p: float) -> str:
    if p != p:
        return "nan"
    return f"{p:.2f}" if p >= 0.01 else f"{p:.1e}"


def _depth(p: float | None) -> float | None:
    """-log10 p, clipped to [0, P_FLOOR]; None when there is no p-value."""
    if p is None or p != p:
        return None
    return P_FLOOR if p <= 0 else min(P_FLOOR, max(0.0, -math.log10(p)))


def p_value_plot(trend: ObjectTrend, releases: list[str], thresholds: dict,
                 width: int = 240, height: int = 80) -> str:
    strip, pad = 10, 6
    plot_h = height - strip - 2 * pad
    cell = (width - 2 * pad) / max(1, len(releases))
    x = lambda i: pad + (i + 0.5) * cell  # noqa: E731  (a point sits over its release's strip cell)
    y = lambda depth: pad + depth / P_FLOOR * plot_h  # noqa: E731
    parts = [f'<svg class="pplot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="p-values of {escape(trend.name)}">',
             f'<rect x="0" y="0" width="{width}" height="{height - strip}" fill="#fafafa"/>']
    tests = (thresholds or {}).get("tests") or {}
    for level, colour in (("warning", COLOURS["WARNING"]), ("bad", COLOURS["BAD"])):
        p = (tests.get("chi2") or {}).get(level)
        if isinstance(p, (int, float)) and p > 0:
            yy = y(_depth(p))
            parts.append(f'<line class="threshold" x1="0" x2="{width}" y1="{yy:.1f}" y2="{yy:.1f}" '
                         f'stroke="{colour}" stroke-dasharray="2,2"/>')
    for test, dash, marker in (("chi2_p", "", "circle"), ("ks_p", ' stroke-dasharray="4,3"', "square")):
        coords = [(x(i), y(d)) for i, p in enumerate(trend.points)
                  if p is not None and (d := _depth(getattr(p, test))) is not None]
        if len(coords) > 1:
            line = " ".join(f"{a:.1f},{b:.1f}" for a, b in coords)
            parts.append(f'<polyline points="{line}" fill="none" stroke="#555"{dash}/>')
        for i, point in enumerate(trend.points):
            depth = _depth(getattr(point, test)) if point is not None else None
            if depth is None:
                continue
            label = f"{escape(releases[i])}: {'chi2' if test == 'chi2_p' else 'KS'} p = {_p_text(getattr(point, test))}"
            colour = COLOURS.get(point.grade, ABSENT)
            if marker == "circle":
                parts.append(f'<circle cx="{x(i):.1f}" cy="{y(depth):.1f}" r="3.5" fill="{colour}">'
                             f"<title>{label}</title></circle>")
            else:
                parts.append(f'<rect x="{x(i) - 3:.1f}" y="{y(depth) - 3:.1f}" width="6" height="6" '
                             f'fill="{colour}"><title>{label}</title></rect>')
    for i, point in enumerate(trend.points):
        grade = point.grade if point else "absent"
        parts.append(f'<rect class="strip" data-grade="{escape(grade)}" x="{pad + i * cell:.1f}" '
                     f'y="{height - strip}" width="{cell - 1:.1f}" height="{strip}" '
                     f'fill="{COLOURS.get(grade, ABSENT)}"><title>{escape(releases[i])}: {escape(grade)}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _stages_section(stages: list[StageTrend], releases: list[str]) -> str:
    if not stages:
        return "<p>No resource metrics were archived for these releases.</p>"
    head = "".join(f"<th>{escape(r)}</th>" for r in releases)
    rows = [f'<table id="stages"><tr><th>stage</th><th>metric</th>{head}<th>plot</th></tr>']
    for stage in stages:
        for metric, values in stage.values.items():
            name, unit, scale = UNITS[metric]
            grades = stage.grades.get(metric) or [None] * len(values)
            cells = "".join(_metric_cell(v, g, scale) for v, g in zip(values, grades))
            rows.append(f'<tr class="stage" data-stage="{escape(stage.stage)}" data-metric="{name}">'
                        f"<td>{escape(stage.stage)}</td><td>{name} ({unit})</td>{cells}"
                        f"<td>{metric_plot(values, grades, releases, scale, f'{stage.stage} {name}', unit)}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _metric_cell(value: dict | None, grade: str | None, scale: float) -> str:
    if value is None:
        return '<td class="grade absent">-</td>'
    css = f" {grade}" if grade else ""
    return (f'<td class="grade{css}" data-grade="{grade or ""}">{value["median"] * scale:.1f}'
            f'<span class="p">max {value["max"] * scale:.1f}</span></td>')


def metric_plot(values: list[dict | None], grades: list[str | None], releases: list[str], scale: float,
                label: str, unit: str, width: int = 240, height: int = 70) -> str:
    pad = 6
    top = max((v["max"] for v in values if v), default=0) * scale * 1.1 or 1.0
    cell = (width - 2 * pad) / max(1, len(releases))
    x = lambda i: pad + (i + 0.5) * cell  # noqa: E731
    y = lambda v: height - pad - v * scale / top * (height - 2 * pad)  # noqa: E731
    parts = [f'<svg class="mplot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa"/>']
    for key, dash in (("median", ""), ("max", ' stroke-dasharray="4,3"')):
        coords = [(x(i), y(v[key])) for i, v in enumerate(values) if v]
        if len(coords) > 1:
            parts.append(f'<polyline points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in coords)}" '
                         f'fill="none" stroke="#555"{dash}/>')
    for i, (value, grade) in enumerate(zip(values, grades)):
        if not value:
            continue
        colour = COLOURS.get(grade or "NOT_COMPARED", ABSENT)
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(value["median"]):.1f}" r="3.5" fill="{colour}" '
                     f'data-grade="{grade or ""}"><title>{escape(releases[i])}: median '
                     f'{value["median"] * scale:.1f} {unit}, max {value["max"] * scale:.1f} {unit}'
                     f'{f" ({grade})" if grade else ""}</title></circle>')
    parts.append(f'<text x="{pad}" y="12" font-size="10" fill="#555">{top / 1.1:.1f} {unit}</text></svg>')
    return "".join(parts)
