"""QA comparison with the reference release, and hadd-like merging, with uproot.

Public API (used by `relval qa` and by `relval run`):

- `compare_paths(new, ref, out_dir=None, thresholds=None, plots=True) -> Summary`
  grades every object; `Summary.verdict` is "PASS", "WARNING" (pass with
  warnings), "FAIL" (any BAD) or "NO_VERDICT" (nothing compared);
  `Summary.counts` maps GOOD/WARNING/BAD/NOT_COMPARED to numbers;
  `Summary.to_dict()` is Summary.json; with `out_dir`, `summary_json`, `html`
  and `junit` are the paths written.
- `merge_files(inputs, output) -> MergeResult`.
- `load_thresholds(path) -> Thresholds` validates a thresholds file (RelvalError,
  one line per problem); `read_thresholds(field)` does the same inside a campaign.

Names are imported on first use, so that reading a campaign (which validates its
thresholds) does not load numpy and uproot.
"""

from importlib import import_module

_EXPORTS = {
    "compare_paths": "compare", "Summary": "compare", "VERDICTS": "compare",
    "ObjectResult": "grading",
    "merge_files": "merge", "MergeResult": "merge",
    "DEFAULTS": "thresholds", "Thresholds": "thresholds", "load_thresholds": "thresholds",
    "read_thresholds": "thresholds",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
