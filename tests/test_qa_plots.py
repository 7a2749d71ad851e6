"""Overlay plots and report files: readable, honest about off-scale points, per bin width, no stale files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from relval.workflows.qa import compare_paths
from relval.workflows.qa.hist import Hist
from relval.workflows.qa.overview import MAX_2D, payload
from relval.workflows.qa.plots import DPI, density, off_scale

from .qa_support import gaus_counts, write_root
from .test_qa_cli import run  # noqa: F401 - the in-process CLI fixture


def _hist(values, edges) -> Hist:
    values = np.asarray(values, float)
    return Hist(kind="TH1", values=values, variances=values.copy(), edges=(np.asarray(edges, float),),
                entries=float(values.sum()))


def test_density_is_per_bin_width_so_two_binnings_agree():
    rng = np.random.default_rng(7)
    sample = rng.normal(size=200000)
    fine = _hist(np.histogram(sample, np.linspace(-5, 5, 101))[0], np.linspace(-5, 5, 101))
    coarse = _hist(np.histogram(sample, np.linspace(-5, 5, 51))[0], np.linspace(-5, 5, 51))
    fine_density, _ = density(fine)
    coarse_density, _ = density(coarse)
    # Pairs of fine bins average to the coarse bin: no factor of 2 between the binnings.
    assert np.allclose(fine_density.reshape(50, 2).mean(axis=1), coarse_density)
    assert np.isclose((coarse_density * 0.2).sum(), 1.0)


def test_off_scale_points_are_marked_not_dropped():
    ratio = np.array([1.0, 3.5, -0.2, np.inf, np.nan, 0.4])
    above, below = off_scale(ratio, 0.5, 1.5)
    assert above.tolist() == [False, True, False, True, False, False]
    assert below.tolist() == [False, False, True, False, False, True]


def test_overlay_is_readable_at_full_size(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(8)
    new = write_root(tmp_path / "new.root", {"h": gaus_counts(rng, mean=0.5)})
    ref = write_root(tmp_path / "ref.root", {"h": gaus_counts(rng)})
    summary = compare_paths(new, ref, out_dir=tmp_path / "out")
    (result,) = summary.results
    with Image.open(tmp_path / "out" / result.plot) as image:
        width, height = image.size
    assert DPI >= 120 and width >= 800 and height >= 600


def test_overview_data_keeps_every_bin_and_blocks_large_2d_maps():
    rng = np.random.default_rng(9)
    edges = np.linspace(0, 1, 201)
    one = payload(_hist(rng.poisson(50, 200), edges), _hist(rng.poisson(50, 200), edges))
    assert one["d"] == 1 and len(one["a"]) == 200 and len(one["b"]) == 200 and one["x"] == [0.0, 1.0]
    assert max(max(one["a"]), max(one["b"])) == 1000  # quantized relative to the pair's maximum
    values = rng.poisson(5, (100, 70)).astype(float)
    h2 = Hist(kind="TH2", values=values, variances=values, edges=(np.linspace(0, 1, 101), np.linspace(0, 1, 71)),
              entries=float(values.sum()))
    two = payload(h2, h2)
    assert two["nx"] <= MAX_2D and two["ny"] <= MAX_2D and len(two["a"]) == two["nx"] * two["ny"]
    assert two["a"] == two["b"]


def test_rerun_removes_stale_plots_and_keeps_other_files(tmp_path):
    rng = np.random.default_rng(10)
    ref = write_root(tmp_path / "ref.root", {"h": gaus_counts(rng)})
    bad = write_root(tmp_path / "bad.root", {"h": gaus_counts(rng, mean=0.5)})
    out = tmp_path / "out"
    first = compare_paths(bad, ref, out_dir=out)
    stale = out / first.results[0].plot
    assert stale.is_file()
    (out / "notes.txt").write_text("mine")
    compare_paths(ref, ref, out_dir=out)
    assert not stale.exists() and not (out / "plots").exists()
    assert (out / "notes.txt").read_text() == "mine"


def test_report_links_are_relative_and_resolve_in_a_copy(tmp_path):
    import shutil

    rng = np.random.default_rng(11)
    ref = write_root(tmp_path / "ref.root", {"d/h": gaus_counts(rng), "d/g": gaus_counts(rng)})
    bad = write_root(tmp_path / "bad.root", {"d/h": gaus_counts(rng, mean=0.5), "d/g": gaus_counts(rng)})
    compare_paths(bad, ref, out_dir=tmp_path / "out", labels=("v2", "v1"))
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(tmp_path / "out", copy)
    page = (copy / "index.html").read_text()
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert links and all(not link.startswith(("/", "file:", "http")) for link in links)
    assert all((copy / link).is_file() for link in links)
    data = json.loads((copy / "report_data.js").read_text().split("=", 1)[1].rstrip().rstrip(";"))
    plots = [o["plot"] for o in data["objects"] if "plot" in o]
    assert plots and all((copy / p).is_file() and not p.startswith("/") for p in plots)
    assert "<b id=\"label-new\">v2</b>" in page and "<b id=\"label-ref\">v1</b>" in page


@pytest.mark.parametrize("grid", [True, False])
def test_overview_data_only_with_grid(tmp_path, grid):
    rng = np.random.default_rng(12)
    path = write_root(tmp_path / "f.root", {"h": gaus_counts(rng)})
    compare_paths(path, path, out_dir=tmp_path / "out", grid=grid)
    data = (tmp_path / "out" / "report_data.js").read_text()
    assert ('"hists":{}' not in data) == grid


def test_cli_labels_name_the_releases_in_the_report(tmp_path, run):
    rng = np.random.default_rng(13)
    path = write_root(tmp_path / "f.root", {"h": gaus_counts(rng)})
    result = run("qa", "compare", path, path, "-o", tmp_path / "out", "--labels", "O2 v2", "O2 v1")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "out" / "index.html").read_text()
    assert '<b id="label-new">O2 v2</b>' in page and '<b id="label-ref">O2 v1</b>' in page
    assert json.loads((tmp_path / "out" / "Summary.json").read_text())["labels"] == ["O2 v2", "O2 v1"]


def test_png_writer_round_trips_through_pillow(tmp_path):
    """The overlays' PNG encoder (unfiltered rows, zlib level 1: twice as fast as Pillow's) decodes exactly."""
    from PIL import Image

    from relval.workflows.qa.plots import png_bytes

    rng = np.random.default_rng(8)
    rgba = rng.integers(0, 256, size=(37, 53, 4), dtype=np.uint8)
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes(rgba))
    decoded = np.asarray(Image.open(path))
    assert decoded.shape == (37, 53, 3) and np.array_equal(decoded, rgba[:, :, :3])


def test_a_large_comparison_draws_its_overlays_in_a_worker_process(tmp_path, monkeypatch):
    """Overlays are half the CPU of a 5,000-histogram comparison: a second process draws them
    while the first grades. The pages are the same as when drawn in-process."""
    import os

    import relval.workflows.qa.plots as plots
    from relval.workflows.qa import compare_paths

    from .qa_support import gaus_counts, write_root

    rng = np.random.default_rng(12)
    objects_new = {f"h{i}": gaus_counts(rng, mean=0.3 if i % 3 == 0 else 0.0) for i in range(12)}
    objects_ref = {f"h{i}": gaus_counts(rng) for i in range(12)}
    new, ref = write_root(tmp_path / "new.root", objects_new), write_root(tmp_path / "ref.root", objects_ref)
    here = compare_paths(new, ref, out_dir=tmp_path / "here")
    monkeypatch.setattr(plots, "PARALLEL_FROM", 10)  # objects compared from which a worker draws
    children = os.times().children_user
    there = compare_paths(new, ref, out_dir=tmp_path / "there")
    assert os.times().children_user > children  # a child process did the drawing
    assert [r.plot for r in here.sorted_results()] == [r.plot for r in there.sorted_results()]
    assert len(there.plots) == 4 and all(p.is_file() and p.stat().st_size > 10_000 for p in there.plots)
    for a, b in zip(sorted(here.plots), sorted(there.plots)):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_a_plot_that_fails_in_the_worker_loses_its_link_not_the_verdict(tmp_path, monkeypatch):
    import relval.workflows.qa.plots as plots
    from relval.workflows.qa import compare_paths

    from .qa_support import gaus_counts, write_root

    rng = np.random.default_rng(13)
    new = write_root(tmp_path / "new.root", {f"h{i}": gaus_counts(rng, mean=0.3) for i in range(12)})
    ref = write_root(tmp_path / "ref.root", {f"h{i}": gaus_counts(rng) for i in range(12)})
    monkeypatch.setattr(plots, "PARALLEL_FROM", 10)
    (tmp_path / "out" / "plots").mkdir(parents=True)
    (tmp_path / "out" / "plots" / plots.plot_filename("h3")).mkdir()  # the PNG cannot be written there
    summary = compare_paths(new, ref, out_dir=tmp_path / "out")
    assert summary.verdict == "FAIL" and summary.counts["BAD"] == 12
    plotted = {r.name: r.plot for r in summary.results}
    assert plotted["h3"] is None and all(plotted[f"h{i}"] for i in range(12) if i != 3)
    assert len(summary.plots) == 11
