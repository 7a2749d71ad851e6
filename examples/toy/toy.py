#!/usr/bin/env python3
"""A toy stand-in for the experiment software: sim -> rec -> qa, writing real ROOT files.

    python3 toy.py sim --release toy/v1 --events 2000 --seed 3 -o sim.root
    python3 toy.py rec sim.root -o rec.root
    python3 toy.py qa rec.root -o QAresults.root

sim   draws events (primary vertex, tracks with pT, eta, phi, charge, cluster charge)
      into a TTree `events`, seeded by --seed only, so every release draws the same numbers.
rec   smears each track's pT by the detector resolution and computes dE/dx from the
      cluster charge; TTree `tracks`.
qa    fills histograms in the directory `QA`: TH1D vz, ntracks, pt, eta, phi, dedx,
      pt_resolution and TH2D eta_phi, dedx_vs_p.

Releases: `toy/v1` is the baseline. `toy/v2` carries a deliberate regression for the
demo: the simulated vertex z is shifted by +1.5 cm and the cluster charge is broadened
(sigma x1.6), so the QA histograms `vz` and `dedx` (and `dedx_vs_p`) differ from toy/v1
while every other histogram is identical. `toy/v3` has identical physics but a memory
regression: its `rec` step holds 60% more peak memory than toy/v1's (a leak the resource
comparison must catch). Any other release behaves like toy/v1.
Needs numpy and uproot only.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import uproot

REGRESSIONS = {"toy/v2": {"vz_shift_cm": 1.5, "charge_broadening": 1.6}}
MEMORY_REGRESSIONS = {"toy/v3": 0.6}   # extra peak memory of `rec`, relative to its own peak
PT_RESOLUTION = 0.02


def simulate(release: str, events: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    bug = REGRESSIONS.get(release, {})
    # Draw everything first, in a fixed order, so a regression changes only what it touches.
    vz = rng.normal(0.0, 5.0, events)
    ntracks = rng.poisson(12, events) + 1
    total = int(ntracks.sum())
    pt = rng.exponential(0.7, total) + 0.15
    eta = rng.uniform(-0.9, 0.9, total)
    phi = rng.uniform(0.0, 2 * np.pi, total)
    charge = rng.choice(np.array([-1, 1], dtype=np.int32), total)
    cluster = rng.normal(1.0, 0.08, total)
    vz = vz + bug.get("vz_shift_cm", 0.0)
    cluster = 1.0 + (cluster - 1.0) * bug.get("charge_broadening", 1.0)
    event = np.repeat(np.arange(events, dtype=np.int32), ntracks)
    return {"event": event, "vz": np.repeat(vz, ntracks), "pt": pt, "eta": eta, "phi": phi,
            "charge": charge, "cluster": cluster, "seed": np.full(total, seed, dtype=np.int32)}


def reconstruct(tracks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    seed = int(tracks["seed"][0]) if len(tracks["seed"]) else 0
    rng = np.random.default_rng(10_000 + seed)
    pt = tracks["pt"]
    pt_rec = pt * (1 + rng.normal(0.0, PT_RESOLUTION, len(pt)))
    p = pt_rec * np.cosh(tracks["eta"])
    # A Bethe-Bloch-like falloff times the cluster charge.
    dedx = 50.0 * tracks["cluster"] * (1.0 + 0.3 / np.maximum(p, 0.1) ** 2)
    return {"event": tracks["event"], "vz": tracks["vz"], "pt": pt_rec, "pt_true": pt,
            "eta": tracks["eta"], "phi": tracks["phi"], "p": p, "dedx": dedx}


def qa_histograms(tracks: dict[str, np.ndarray]) -> dict[str, tuple]:
    first = np.r_[True, tracks["event"][1:] != tracks["event"][:-1]] if len(tracks["event"]) else []
    vz = tracks["vz"][first]
    ntracks = np.bincount(np.unique(tracks["event"], return_inverse=True)[1]) if len(first) else []
    h1 = {
        "vz": (vz, np.linspace(-20, 20, 81)),
        "ntracks": (ntracks, np.arange(0.5, 40.5, 1.0)),
        "pt": (tracks["pt"], np.linspace(0, 5, 101)),
        "eta": (tracks["eta"], np.linspace(-1, 1, 41)),
        "phi": (tracks["phi"], np.linspace(0, 2 * np.pi, 37)),
        "dedx": (tracks["dedx"], np.linspace(30, 110, 81)),
        "pt_resolution": ((tracks["pt"] - tracks["pt_true"]) / tracks["pt_true"], np.linspace(-0.1, 0.1, 41)),
    }
    hists: dict[str, tuple] = {}
    for name, (values, edges) in h1.items():
        counts, _ = np.histogram(values, bins=edges)
        hists[name] = (counts.astype(np.float64), edges)
    eta_phi, ex, ey = np.histogram2d(tracks["eta"], tracks["phi"],
                                     bins=(np.linspace(-1, 1, 21), np.linspace(0, 2 * np.pi, 19)))
    hists["eta_phi"] = (eta_phi, ex, ey)
    dedx_p, px, py = np.histogram2d(tracks["p"], tracks["dedx"],
                                    bins=(np.linspace(0, 3, 31), np.linspace(30, 110, 41)))
    hists["dedx_vs_p"] = (dedx_p, px, py)
    return hists


def hold_extra_memory(fraction: float) -> int:
    """Touch `fraction` x this process's peak RSS of extra memory (the planted leak)."""
    if fraction <= 0:
        return 0
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    ballast = np.ones(int(peak * fraction), dtype=np.uint8)  # ones: every page really touched
    import time

    time.sleep(2.0)  # held long enough for the sampling monitor (from 1 s on) to see it
    return int(ballast.size)


def _read(path: str, tree: str) -> dict[str, np.ndarray]:
    with uproot.open(path) as f:
        return {k: np.asarray(v) for k, v in f[tree].arrays(library="np").items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="toy.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    sim = sub.add_parser("sim", help="simulate events into a TTree")
    sim.add_argument("--release", required=True)
    sim.add_argument("--events", type=int, default=1000)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("-o", "--output", required=True)
    rec = sub.add_parser("rec", help="reconstruct tracks from a sim file")
    rec.add_argument("input")
    rec.add_argument("-o", "--output", required=True)
    rec.add_argument("--release", default="", help="only toy/v3 changes anything (memory)")
    qa = sub.add_parser("qa", help="fill QA histograms from a rec file")
    qa.add_argument("input")
    qa.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)

    if args.step == "sim":
        data = simulate(args.release, args.events, args.seed)
        with uproot.recreate(args.output) as f:
            f["events"] = data
        print(f"toy sim: release {args.release}, {args.events} events, "
              f"{len(data['pt'])} tracks, seed {args.seed} -> {args.output}")
    elif args.step == "rec":
        data = reconstruct(_read(args.input, "events"))
        with uproot.recreate(args.output) as f:
            f["tracks"] = data
        leak = hold_extra_memory(MEMORY_REGRESSIONS.get(args.release, 0.0))
        print(f"toy rec: {len(data['pt'])} tracks -> {args.output}"
              + (f" (release {args.release} held {leak // 2**20} MB more)" if leak else ""))
    else:
        hists = qa_histograms(_read(args.input, "tracks"))
        with uproot.recreate(args.output) as f:
            for name, hist in hists.items():
                f[f"QA/{name}"] = hist
        print(f"toy qa: {len(hists)} histograms -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
