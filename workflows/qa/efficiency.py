"""TEfficiency: compared on its total, its passed and its efficiency per bin.

`total` and `passed` are histograms and get the usual tests (flow bins
included). The efficiency test compares, bin by bin over the bins filled on both
sides, the two binomial fractions k1/n1 and k2/n2 with the pooled two-sample
variance p(1-p)(1/n1 + 1/n2), p = (k1+k2)/(n1+n2):

    chi2 = sum_i (k1_i/n1_i - k2_i/n2_i)^2 / (p_i (1 - p_i) (1/n1_i + 1/n2_i)),  ndf = bins used

(bins with p = 0 or 1 on both sides agree exactly and are left out). Its p-value
is graded with the chi2 thresholds. A uniform efficiency drop leaves the shape of
`passed` unchanged, so without this test a drop from 0.8 to 0.7 would be only an
entries WARNING.
"""

from __future__ import annotations

import numpy as np

from relval.workflows.qa.grading import ObjectResult, grade_pair, worst
from relval.workflows.qa.hist import Hist, from_uproot
from relval.workflows.qa.special import chi2_sf
from relval.workflows.qa.thresholds import grade_value


def is_efficiency(classname: str) -> bool:
    return classname == "TEfficiency"


def parts(obj) -> tuple[Hist, Hist]:
    """(passed, total) of an uproot TEfficiency model."""
    return from_uproot(obj.member("fPassedHistogram")), from_uproot(obj.member("fTotalHistogram"))


def efficiency_test(passed_new: Hist, total_new: Hist, passed_ref: Hist, total_ref: Hist) -> dict:
    k1, n1 = passed_new.with_flow().values.ravel(), total_new.with_flow().values.ravel()
    k2, n2 = passed_ref.with_flow().values.ravel(), total_ref.with_flow().values.ravel()
    used = (n1 > 0) & (n2 > 0)
    k1, n1, k2, n2 = k1[used], n1[used], k2[used], n2[used]
    pooled = (k1 + k2) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    informative = variance > 0
    delta = (k1 / n1 - k2 / n2)[informative]
    chi2 = float(np.sum(delta * delta / variance[informative]))
    ndf = int(np.count_nonzero(informative))
    eff_new = float(k1.sum() / n1.sum()) if n1.sum() > 0 else 0.0
    eff_ref = float(k2.sum() / n2.sum()) if n2.sum() > 0 else 0.0
    return {"chi2": chi2, "ndf": ndf, "chi2_ndf": chi2 / ndf if ndf else 0.0, "p": chi2_sf(chi2, ndf),
            "mean_new": eff_new, "mean_ref": eff_ref}


def grade(name: str, new_obj, ref_obj, settings) -> tuple[ObjectResult, Hist, Hist]:
    """Grade a TEfficiency pair; returns the result and the two `total` histograms (for plots)."""
    passed_new, total_new = parts(new_obj)
    passed_ref, total_ref = parts(ref_obj)
    result = ObjectResult(name=name, grade="GOOD", status="compared", kind="TEfficiency",
                          classname_new="TEfficiency", classname_ref="TEfficiency")
    reasons, grades = [], []
    for label, h_new, h_ref in (("total", total_new, total_ref), ("passed", passed_new, passed_ref)):
        part = grade_pair(f"{name}/{label}", h_new, h_ref, settings)
        if part.status != "compared" and part.grade != "GOOD":  # binning, one side empty...
            result.grade, result.status, result.reason = part.grade, part.status, f"{label}: {part.reason}"
            return result, total_new, total_ref
        for test, values in part.tests.items():
            result.tests[f"{label}_{test}"] = values
        grades.append(part.grade)
        if part.grade != "GOOD":
            reasons.append(f"{label}: {part.reason}")
    if settings["chi2"].get("enabled", True):
        values = efficiency_test(passed_new, total_new, passed_ref, total_ref)
        values["grade"] = grade_value("chi2", values["p"], settings["chi2"])
        result.tests["efficiency"] = values
        grades.append(values["grade"])
        if values["grade"] != "GOOD":
            p = values["p"]
            reasons.insert(0, f"efficiency {values['mean_new']:.3g} vs {values['mean_ref']:.3g} "
                              f"(chi2/ndf {values['chi2_ndf']:.3g}, {'p < 1e-300' if p < 1e-300 else f'p {p:.2g}'})")
    result.grade = worst(*grades)
    result.reason = "; ".join(reasons)
    return result, total_new, total_ref
