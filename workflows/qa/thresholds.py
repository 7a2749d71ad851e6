"""WARNING/BAD thresholds per test, with overrides per histogram-name glob.

Defaults (and why):

| test    | graded value            | WARNING when | BAD when  |
|---------|-------------------------|--------------|-----------|
| chi2    | p-value of chi2 / ndf   | p < 0.01     | p < 1e-6  |
| ks      | p-value of sqrt(n_eff)D | p < 0.01     | p < 1e-6  |
| width   | p-value of Mood's test  | p < 0.001    | p < 1e-6  |
| entries | relative difference     | > 0.05       | > 0.20    |

The shape tests are graded on p-values, not on raw chi2/ndf or D, so a
threshold means the same false-alarm rate whatever the number of bins or
entries. (A fixed cut on the KS distance is what made O2DPG RelVal flag 13 of
40 identical-distribution pairs: D shrinks only as 1/sqrt(n), so at 20,000
entries a typical identical pair already has D ~ 0.008.)

- WARNING is "worth a look": by design 1% of identical-distribution pairs per
  test. chi2 follows its nominal rate; the binned KS p-value is conservative.
  The width test warns at 0.1%. A histogram (worst of its tests) is therefore
  flagged in 1% to 2% of pairs.
  Measured on 2,000 multinomial pairs each (benchmarks/qa_compare.py):
  1D 100 bins 20k entries: chi2 1.00%, KS 0.65%, histogram 1.60%;
  2D 20x20 20k: chi2 0.80%, KS 0.00%, histogram 0.80%;
  1D 100 bins 1k: chi2 0.55%, KS 0.75%, histogram 1.25%.
- BAD fails the release, so its rate must be negligible summed over a whole
  release: at 1e-6 per test, a comparison of 5,000 histograms of the same
  physics turns up a false BAD with a probability of about 1% at most
  (measured: 0 in 6,000 pairs), while the regressions the issue names (a 0.1
  sigma mean shift or a 10% wider peak, 20,000 entries) give p-values of 1e-9
  to 1e-21. Smaller shifts (0.05 sigma) mostly end as WARNING. The width test
  makes a 5% wider peak at 20,000 entries BAD in 87% of pairs with no false BAD in
  20,000 same-distribution pairs (benchmarks/qa_sensitivity.py).
- entries: releases run on the same input events should fill the same
  histograms; 5% is a visible change, 20% a broken one. Compare samples of
  different sizes with `entries: {enabled: false}`.

A thresholds YAML file (or the `compare.thresholds` mapping of a campaign)
looks like this, every key optional (README.md, "Thresholds", has the details):

    tests:                       # replaces the defaults for every histogram
      chi2: {warning: 0.01, bad: 1.0e-6}
      ks: {enabled: false}
      width: {warning: 0.001, bad: 1.0e-6}
      entries: {warning: 0.05, bad: 0.2}
    overrides:                   # applied in order; later matches win per key
      - match: "QA/tpc/*"        # fnmatch glob (`*` crosses `/`)
        entries: {warning: 0.5, bad: 0.9}

A glob matches an object when it matches either the name shown in the report
(`pp.QAmerged.root:QA/vz` when directories are compared, `QA/vz` for two
files) or the object's path inside its file (`QA/vz`), so `match: QA/vz` works
in both. An override that matches no compared object is an error (exit 2) that
names the pattern and the closest names: it is most likely a typo, and the
grades it was meant to change are wrong. The comparison still writes its
results, so nothing computed is lost. examples/README.md documents the format.
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


from relval.errors import RelvalError
from relval.fields import Field, Problems, load_yaml

TESTS = ("chi2", "ks", "width", "entries")
# For p-value tests a smaller value is worse; for entries a larger one.
LOWER_IS_WORSE = {"chi2": True, "ks": True, "width": True, "entries": False}

DEFAULTS: dict[str, dict[str, Any]] = {
    "chi2": {"enabled": True, "warning": 0.01, "bad": 1e-6},
    "ks": {"enabled": True, "warning": 0.01, "bad": 1e-6},
    # Warns at 1e-3, not 1e-2: it is there to make width changes BAD, and a fourth test at
    # 1% would add half again as many WARNINGs (and overlays) on unchanged histograms.
    "width": {"enabled": True, "warning": 1e-3, "bad": 1e-6},
    "entries": {"enabled": True, "warning": 0.05, "bad": 0.20},
}


@dataclass(frozen=True)
class Thresholds:
    """The defaults plus an ordered list of (glob, partial settings) overrides."""

    tests: dict
    overrides: tuple = ()
    # Prefix of messages about an override: "t.yaml: " or "smoke.yaml: compare.thresholds."
    origin: str = "thresholds: "

    def for_name(self, name: str, path: str | None = None) -> dict[str, dict[str, Any]]:
        """The settings for one object (shared and read-only when no override matches).

        `name` is the name in the report, `path` the object's path inside its file.
        """
        matching = [partial for glob, partial in self.overrides if matches(glob, name, path)]
        if not matching:
            return self.tests
        settings = copy.deepcopy(self.tests)
        for partial in matching:
            for test, values in partial.items():
                settings[test].update(values)
        return settings

    def unmatched(self, names: list[tuple[str, str | None]]) -> list[str]:
        """One error per override glob that matches none of (name, path), naming the closest names."""
        errors = []
        candidates = None
        for index, (glob, _) in enumerate(self.overrides):
            if glob in (g for g, _ in self.overrides[:index]):
                continue  # a repeated glob is reported once
            if any(matches(glob, name, path) for name, path in names):
                continue
            if candidates is None:
                candidates = sorted({n for name, path in names for n in (name, path) if n})
            close = difflib.get_close_matches(glob, candidates, n=3, cutoff=0.5)
            hint = f"; closest: {', '.join(close)}" if close else "; nothing close"
            errors.append(f"{self.origin}overrides[{index}].match {glob!r} matches no compared object{hint}")
        return errors

    def to_dict(self) -> dict:
        return {"tests": self.tests,
                "overrides": [{"match": g, **p} for g, p in self.overrides]}


def matches(glob: str, name: str, path: str | None = None) -> bool:
    """Does an override glob select this object (by its report name or its path in the file)?"""
    return fnmatch.fnmatchcase(name, glob) or (path is not None and fnmatch.fnmatchcase(path, glob))


def grade_value(test: str, value: float, setting: dict[str, Any]) -> str:
    """GOOD / WARNING / BAD for one test value under one setting."""
    if LOWER_IS_WORSE[test]:
        if value < setting["bad"]:
            return "BAD"
        return "WARNING" if value < setting["warning"] else "GOOD"
    if value > setting["bad"]:
        return "BAD"
    return "WARNING" if value > setting["warning"] else "GOOD"


def _read_test_block(node: Field, test: str, base: dict[str, Any]) -> dict[str, Any]:
    """Read `{enabled, warning, bad}`; returns only the keys given."""
    if not node.mapping(allowed=("enabled", "warning", "bad")):
        return {}
    out: dict[str, Any] = {}
    if node["enabled"].present:
        out["enabled"] = node["enabled"].boolean()
    for key in ("warning", "bad"):
        if node[key].present:
            value = node[key].number(minimum=0.0, maximum=1.0 if LOWER_IS_WORSE[test] else None)
            if value is not None:
                out[key] = value
    merged = {**base, **out}
    warning, bad = merged.get("warning"), merged.get("bad")
    if warning is not None and bad is not None:
        if LOWER_IS_WORSE[test] and bad > warning:
            node.error(f"bad ({bad:g}) must be <= warning ({warning:g}) for a p-value test")
        if not LOWER_IS_WORSE[test] and bad < warning:
            node.error(f"bad ({bad:g}) must be >= warning ({warning:g})")
    return out


def parse_thresholds(data: Any, source: str = "thresholds") -> Thresholds:
    """Validate a thresholds document; every problem is reported at once."""
    problems = Problems(render=lambda path, msg: f"{source}: {path} {msg}")
    thresholds = read_thresholds(Field(data if data is not None else {}, "", problems))
    if problems:
        raise RelvalError(problems.messages)
    return replace(thresholds, origin=f"{source}: ")


def campaign_thresholds(data: Any, campaign_source: str) -> Thresholds:
    """A campaign's `compare.thresholds`, whose messages name the campaign file and the key."""
    return replace(parse_thresholds(data, f"{campaign_source}: compare.thresholds"),
                   origin=f"{campaign_source}: compare.thresholds.")


def read_thresholds(root: Field) -> Thresholds:
    """Read a thresholds mapping at `root`, recording problems on its Field (never raises).

    The campaign reader calls this on `compare.thresholds`, so a bad entry stops
    `relval run` before any job instead of after all of them.
    """
    tests = copy.deepcopy(DEFAULTS)
    overrides: list[tuple[str, dict]] = []
    if root.mapping(allowed=("tests", "overrides")):
        if root["tests"].mapping(allowed=TESTS):
            for test in TESTS:
                if root["tests"][test].present:
                    tests[test].update(_read_test_block(root["tests"][test], test, tests[test]))
        for item in root["overrides"].items():
            if not item.mapping(required=True, allowed=("match",) + TESTS):
                continue
            glob = item["match"].string(required=True)
            partial = {}
            for test in TESTS:
                if item[test].present:
                    partial[test] = _read_test_block(item[test], test, tests[test])
            if glob:
                overrides.append((glob, partial))
    return Thresholds(tests=tests, overrides=tuple(overrides))


def load_thresholds(spec: Path | str | dict | Thresholds | None) -> Thresholds:
    """Defaults, a parsed document, or a YAML file path."""
    if isinstance(spec, Thresholds):
        return spec
    if spec is None:
        return parse_thresholds({})
    if isinstance(spec, dict):
        return parse_thresholds(spec)
    path = Path(spec)
    return parse_thresholds(load_yaml(path, "thresholds file"), source=str(path))
