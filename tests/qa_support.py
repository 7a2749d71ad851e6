"""Helpers for the QA tests: histograms drawn with numpy, written with uproot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import uproot

EDGES = np.linspace(-5.0, 5.0, 101)


def gaus_counts(rng, n: int = 20000, mean: float = 0.0, sigma: float = 1.0, edges=EDGES):
    """(counts, edges) of n normal draws, in the np.histogram shape uproot writes."""
    return np.histogram(rng.normal(mean, sigma, n), edges)


def write_root(path: Path, objects: dict) -> Path:
    """Write `{path_in_file: object}` with uproot (np.histogram tuples, strings, models)."""
    with uproot.recreate(path) as sink:
        for key, value in objects.items():
            sink[key] = value
    return path


def weighted_th1(name: str, values, sumw2, edges, entries=None):
    """A TH1D with explicit flow-less contents and sumw2 (zero flow bins)."""
    from uproot.writing.identify import to_TAxis, to_TH1x

    values = np.concatenate([[0.0], np.asarray(values, float), [0.0]])
    sumw2 = np.concatenate([[0.0], np.asarray(sumw2, float), [0.0]])
    centers = np.concatenate([[0.0], 0.5 * (edges[1:] + edges[:-1]), [0.0]])
    axis = to_TAxis("xaxis", "", len(edges) - 1, float(edges[0]), float(edges[-1]))
    total = float(values.sum())
    return to_TH1x(name, "", values, float(total if entries is None else entries), total, float(sumw2.sum()),
                   float((values * centers).sum()), float((values * centers ** 2).sum()), sumw2, axis)


def profile(name: str, rng, n: int, edges, slope: float = 1.0, noise: float = 1.0):
    """A TProfile of y = slope * x + noise, filled like TProfile::Fill with unit weights."""
    from uproot.writing.identify import to_TAxis, to_TProfile

    x = rng.uniform(edges[0], edges[-1], n)
    y = slope * x + rng.normal(0.0, noise, n)
    index = np.digitize(x, edges)  # 0 underflow ... len(edges) overflow
    size = len(edges) + 1
    sumy = np.bincount(index, weights=y, minlength=size).astype(float)
    sumy2 = np.bincount(index, weights=y * y, minlength=size).astype(float)
    counts = np.bincount(index, minlength=size).astype(float)
    axis = to_TAxis("xaxis", "", len(edges) - 1, float(edges[0]), float(edges[-1]))
    return to_TProfile(name, "", sumy, float(n), float(n), float(n), float(x.sum()), float((x * x).sum()),
                       float(y.sum()), float((y * y).sum()), sumy2, counts, np.array([], float), axis)


def labelled_th1(name: str, values, labels):
    """A TH1D with alphanumeric bin labels (as TAxis::SetBinLabel stores them)."""
    from uproot.writing.identify import to_TAxis, to_TH1x, to_THashList, to_TObjString

    hashlist = to_THashList([to_TObjString(text) for text in labels])
    for number, label in enumerate(hashlist, start=1):
        label._bases[0]._members["@fUniqueID"] = number
    axis = to_TAxis("xaxis", "", len(labels), 0.0, float(len(labels)), fLabels=hashlist)
    data = np.concatenate([[0.0], np.asarray(values, float), [0.0]])
    total = float(data.sum())
    return to_TH1x(name, "", data, total, total, total, 0.0, 0.0, np.array([], float), axis)
