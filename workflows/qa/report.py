"""index.html: the verdict, the counts, and a sortable table with BAD first.

A single self-contained page (inline CSS and a few lines of JavaScript for
sorting by any column), linking the overlay plots and the grid pages that sit
beside it in the output directory.
"""

from __future__ import annotations

import html
from pathlib import Path

_STYLE = """
body{font-family:sans-serif;margin:1.5em}
table{border-collapse:collapse;font-size:90%}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee;cursor:pointer}
tr.BAD td.grade{background:#f4a6a6}tr.WARNING td.grade{background:#f7dc8b}
tr.GOOD td.grade{background:#b7e4b0}tr.NOT_COMPARED td.grade{background:#ddd}
.verdict{font-size:130%;font-weight:bold}
img.grid{max-width:100%}
"""

# Click a header to sort; numbers sort numerically, empty cells last.
_SCRIPT = """
document.querySelectorAll('th').forEach(function(th, col){
  th.addEventListener('click', function(){
    var body = th.closest('table').tBodies[0];
    var rows = Array.from(body.rows);
    var asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
    function key(r){ var c = r.cells[col]; return c.dataset.sort !== undefined ? c.dataset.sort : c.textContent; }
    rows.sort(function(a, b){
      var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      var r = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? r : -r;
    });
    rows.forEach(function(r){ body.appendChild(r); });
  });
});
"""

_RANK = {"BAD": 0, "WARNING": 1, "GOOD": 2, "NOT_COMPARED": 3}


def _num(value, fmt: str = "{:.3g}") -> tuple[str, str]:
    if value is None:
        return "", ""
    if isinstance(value, str):
        return value, value
    return fmt.format(value), repr(float(value))


def _row(result) -> str:
    tests = result.tests
    chi2 = tests.get("chi2", {})
    ks = tests.get("ks", {})
    entries = tests.get("entries", {})
    cells = [
        (result.grade, str(_RANK[result.grade]), "grade"),
        (result.name, None, ""),
        (result.status, None, ""),
    ]
    for value, fmt in ((chi2.get("chi2_ndf"), "{:.3g}"), (chi2.get("p"), "{:.2g}"),
                       (ks.get("distance"), "{:.3g}"), (ks.get("p"), "{:.2g}"),
                       (entries.get("new"), "{:g}"), (entries.get("ref"), "{:g}"),
                       (entries.get("rel_diff"), "{:.2%}")):
        text, key = _num(value, fmt)
        cells.append((text, key, ""))
    cells.append((result.reason, None, ""))
    out = []
    for text, key, css in cells:
        attrs = f' class="{css}"' if css else ""
        attrs += f' data-sort="{html.escape(key)}"' if key is not None else ""
        out.append(f"<td{attrs}>{html.escape(str(text))}</td>")
    plot = (f'<td><a href="{html.escape(result.plot)}">plot</a></td>' if result.plot else "<td></td>")
    return f'<tr class="{result.grade}">' + "".join(out) + plot + "</tr>"


def render_html(summary) -> str:
    counts = summary.counts
    header = ["grade", "name", "status", "chi2/ndf", "chi2 p", "KS D", "KS p",
              "entries new", "entries ref", "entries diff", "reason", "plot"]
    rows = "\n".join(_row(r) for r in summary.sorted_results())
    grids = "\n".join(f'<p><a href="{html.escape(p.name)}"><img class="grid" src="{html.escape(p.name)}" '
                      f'alt="{html.escape(p.name)}"></a></p>'
                      for p in summary.plots if p.name.startswith("grid_"))
    count_text = ", ".join(f"{n} {g}" for g, n in counts.items())
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>relval QA: {html.escape(summary.verdict)}</title>
<style>{_STYLE}</style></head><body>
<h1>relval QA comparison</h1>
<p>new: <code>{html.escape(summary.new)}</code><br>reference: <code>{html.escape(summary.ref)}</code></p>
<p class="verdict">verdict: {html.escape(summary.verdict)}</p>
<p>{html.escape(count_text)}</p>
<table id="results"><thead><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in header)}</tr></thead>
<tbody>
{rows}
</tbody></table>
{'<h2>other histograms</h2>' + grids if grids else ''}
{f'<p>{summary.grid_omitted} more GOOD histograms are not drawn (grid page limit); all are in the table.</p>' if summary.grid_omitted else ''}
<script>{_SCRIPT}</script>
</body></html>
"""


def write_html(summary, path: Path) -> Path:
    path.write_text(render_html(summary))
    return path
