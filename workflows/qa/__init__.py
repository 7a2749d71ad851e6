"""QA comparison with the reference release, and hadd-like merging, with uproot.

Public API (used by `relval qa` and by `relval run`):

- `compare_paths(new, ref, out_dir=None, thresholds=None, plots=True) -> Summary`
  grades every object; `Summary.verdict` is "PASS", "WARNING" (pass with
  warnings) or "FAIL" (any BAD); `Summary.counts` maps GOOD/WARNING/BAD/
  NOT_COMPARED to numbers; `Summary.to_dict()` is Summary.json; with `out_dir`,
  `summary_json`, `html` and `junit` are the paths written.
- `merge_files(inputs, output) -> MergeResult`.
"""

from relval.workflows.qa.compare import VERDICTS, Summary, compare_paths
from relval.workflows.qa.grading import ObjectResult
from relval.workflows.qa.merge import MergeResult, merge_files
from relval.workflows.qa.thresholds import DEFAULTS, Thresholds, load_thresholds

__all__ = ["compare_paths", "Summary", "ObjectResult", "VERDICTS", "merge_files", "MergeResult",
           "DEFAULTS", "Thresholds", "load_thresholds"]
