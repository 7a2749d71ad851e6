"""Compact drawing data for the report's overview: every compared pair, drawn by the browser.

Rendering thousands of PNG thumbnails costs tens of seconds; the numbers behind
them cost milliseconds. For each pair this keeps the binning and both shapes,
as densities (unit area per unit of x, so different binnings are comparable)
quantized to integers relative to the pair's largest value: three significant
digits are plenty for a thumbnail and keep `report_data.js` small. 2D
histograms are summed into at most 32 x 32 blocks first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from relval.workflows.qa.plots import density, uniform

LEVELS = 1000  # quantization steps between 0 and the pair's maximum
MAX_2D = 32  # cells per axis in the overview of a 2D histogram


def _axis(edges: np.ndarray) -> list[float]:
    """[low, high] for a uniform axis, else every edge (6 significant digits)."""
    if len(edges) > 2 and uniform(edges):
        return [float(f"{edges[0]:.6g}"), float(f"{edges[-1]:.6g}")]
    return [float(f"{e:.6g}") for e in edges]


def _blocks(values: np.ndarray, edges: tuple[np.ndarray, ...], profile: bool):
    """Sum (or, for profiles, average) 2D bins into at most MAX_2D blocks per axis."""
    factors = [max(1, -(-(len(e) - 1) // MAX_2D)) for e in edges]  # ceil(bins / MAX_2D)
    if factors == [1, 1]:
        return values, edges
    nx, ny = values.shape
    fx, fy = factors
    padded = np.zeros((-(-nx // fx) * fx, -(-ny // fy) * fy))
    padded[:nx, :ny] = values
    summed = padded.reshape(padded.shape[0] // fx, fx, padded.shape[1] // fy, fy).sum(axis=(1, 3))
    if profile:
        summed = summed / (fx * fy)
    new_edges = tuple(np.append(e[::f], e[-1]) if (len(e) - 1) % f else e[::f]
                      for e, f in zip(edges, factors))
    return summed, new_edges


def _quantize(a: np.ndarray, b: np.ndarray) -> tuple[list[int], list[int], float]:
    scale = float(max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0)))
    if not scale > 0 or not np.isfinite(scale):
        return [0] * a.size, [0] * b.size, 0.0
    qa = np.rint(a.ravel() * (LEVELS / scale)).astype(int).tolist()  # finite: density() zeroed NaN/inf
    qb = np.rint(b.ravel() * (LEVELS / scale)).astype(int).tolist()
    return qa, qb, float(f"{scale:.4g}")


def payload(new, ref) -> dict[str, Any] | None:
    """The drawing data of one pair, or None when there is nothing to draw."""
    if new.ndim != ref.ndim or new.ndim not in (1, 2):
        return None
    vn, _ = density(new, errors=False)
    vr, _ = density(ref, errors=False)
    if new.ndim == 1:
        qa, qb, scale = _quantize(vn, vr)
        out = {"d": 1, "x": _axis(new.edges[0]), "a": qa, "b": qb, "s": scale, "p": int(new.is_profile)}
        x_new, x_ref = new.edges[0], ref.edges[0]
        if not (len(x_new) == len(x_ref) and (np.array_equal(x_new, x_ref) or np.allclose(x_new, x_ref))):
            out["xb"] = _axis(ref.edges[0])  # the reference has its own binning
        return out
    if new.values.shape != ref.values.shape:
        return None  # a 2D pair of different binnings: the table says why
    vn, edges = _blocks(vn, new.edges, new.is_profile)
    vr, _ = _blocks(vr, ref.edges, ref.is_profile)
    qa, qb, scale = _quantize(vn, vr)
    return {"d": 2, "x": _axis(edges[0]), "y": _axis(edges[1]), "nx": int(vn.shape[0]), "ny": int(vn.shape[1]),
            "a": qa, "b": qb, "s": scale, "p": int(new.is_profile)}


class Overview:
    """Drawing data per object name, collected while the comparison runs."""

    def __init__(self):
        self.by_name: dict[str, dict[str, Any]] = {}

    def add(self, result, new, ref) -> None:
        data = payload(new, ref)
        if data is not None:
            self.by_name[result.name] = data
