"""PNG plots: an overlay with a ratio panel for every WARNING/BAD histogram,
and grid pages of small overlays for the others.

Shapes are drawn normalized to unit area, as the chi2 and KS tests see them
(profiles are drawn as they are). Matplotlib's Agg canvas is used directly (no
pyplot, no display). One figure per layout is built once and its artists are
updated for each histogram: building and laying out a figure costs more than
drawing it, and a comparison may need hundreds of plots. With the static
part of each layout cached (see `_Blitted`), an overlay costs about 10 ms.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

GRID_COLUMNS = 6
GRID_PER_PAGE = 36
GRID_PAGE_LIMIT = 20  # at most 720 thumbnails; the HTML says how many were left out
_PNG = {"pil_kwargs": {"compress_level": 1}}  # fast zlib: the files are small anyway


def plot_filename(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:80]
    return f"{safe}_{hashlib.sha1(name.encode()).hexdigest()[:8]}.png"


def _figure(width: float, height: float, dpi: int = 72):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _normalized(h) -> tuple[np.ndarray, np.ndarray]:
    values = np.nan_to_num(h.values, nan=0.0, posinf=0.0, neginf=0.0)
    errors = np.sqrt(np.clip(np.nan_to_num(h.variances, nan=0.0, posinf=0.0), 0, None))
    if h.is_profile:
        return values, errors
    total = values.sum()
    return (values / total, errors / total) if total > 0 else (values, errors)


def _same_edges(a, b) -> bool:
    return a.ndim == b.ndim and all(x.shape == y.shape and np.allclose(x, y) for x, y in zip(a.edges, b.edges))


def _steps(edges: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return edges, np.append(values, values[-1] if values.size else 0.0)


def _ratio(vn, en, vr, er):
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(vr != 0, vn / vr, np.nan)
        rel = np.sqrt(np.where(vn != 0, en / vn, 0.0) ** 2 + np.where(vr != 0, er / vr, 0.0) ** 2)
    return ratio, np.abs(ratio) * rel


_NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
_RATIO_RANGES = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


def nice_ceiling(value: float) -> float:
    """The next value up on a 1-1.2-1.5-2-2.5-3-4-5-6-8 grid (so limits repeat)."""
    if not value > 0 or not np.isfinite(value):
        return 1.0
    scale = 10.0 ** np.floor(np.log10(value))
    return next(step * scale for step in _NICE if step * scale >= value * (1 - 1e-12))


def _save_rgba(canvas, path: Path) -> None:
    from PIL import Image

    width, height = canvas.get_width_height()
    Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1) \
        .convert("RGB").save(path, format="png", compress_level=1)


class _Blitted:
    """A figure whose static part (axes, ticks, labels) is drawn once per layout.

    Drawing tick labels and other text is most of matplotlib's cost; the data
    artists are `animated`, so a layout's background is rendered once and each
    plot only restores it and draws its own lines or images on top.
    """

    def __init__(self, fig):
        self.fig = fig
        self.layout = None  # what the axes are currently set up for
        self.backgrounds: dict = {}  # layout -> rendered static part
        self.animated: list = []

    def animate(self, artist):
        artist.set_animated(True)
        self.animated.append(artist)
        return artist

    def render(self, layout, path: Path) -> None:
        canvas = self.fig.canvas
        self.layout = layout
        if layout not in self.backgrounds:
            if len(self.backgrounds) >= 32:
                self.backgrounds.pop(next(iter(self.backgrounds)))
            canvas.draw()
            self.backgrounds[layout] = canvas.copy_from_bbox(self.fig.bbox)
        canvas.restore_region(self.backgrounds[layout])
        for artist in self.animated:
            if artist.get_visible():
                self.fig.draw_artist(artist)
        _save_rgba(canvas, path)


class Overlay1D(_Blitted):
    """New vs reference with a new/ref ratio panel; one figure, reused."""

    def __init__(self):
        from matplotlib.collections import LineCollection
        from matplotlib.ticker import MaxNLocator

        super().__init__(_figure(6.4, 4.8))
        self.top = self.fig.add_axes([0.12, 0.36, 0.84, 0.56])
        self.bottom = self.fig.add_axes([0.12, 0.09, 0.84, 0.23], sharex=self.top)
        self.ref_line = self.animate(self.top.plot([], [], drawstyle="steps-post", color="black", lw=1,
                                                   label="reference")[0])
        self.new_line = self.animate(self.top.plot([], [], drawstyle="steps-post", color="tab:red", lw=1,
                                                   label="new")[0])
        self.top.legend(loc="upper right", fontsize=8)
        self.top.tick_params(labelbottom=False)
        self.top.yaxis.set_major_locator(MaxNLocator(5))
        self.bottom.yaxis.set_major_locator(MaxNLocator(4))
        self.title = self.animate(self.top.set_title("", fontsize=8))
        self.ratio_points = self.animate(self.bottom.plot([], [], ".", color="tab:red", ms=3)[0])
        self.ratio_errors = self.animate(LineCollection([], colors="tab:red", lw=0.8))
        self.bottom.add_collection(self.ratio_errors)
        self.bottom.axhline(1.0, color="black", lw=0.8)
        self.bottom.set_ylabel("new / ref", fontsize=8)
        self.note = self.bottom.text(0.5, 0.5, "", ha="center", va="center", transform=self.bottom.transAxes)

    def draw(self, new, ref, title: str, path: Path) -> None:
        vn, en = _normalized(new)
        vr, er = _normalized(ref)
        self.ref_line.set_data(*_steps(ref.edges[0], vr))
        self.new_line.set_data(*_steps(new.edges[0], vn))
        self.title.set_text(title)
        xlim = (float(min(new.edges[0][0], ref.edges[0][0])), float(max(new.edges[0][-1], ref.edges[0][-1])))
        both = np.concatenate([vn, vr])
        low = min(float(both.min()), 0.0)
        ylim = (-nice_ceiling(-low) if low < 0 else 0.0, float(nice_ceiling(float(both.max()) * 1.1)))
        same = _same_edges(new, ref)
        rlim = (0.0, 2.0)
        if same:
            centers = 0.5 * (new.edges[0][1:] + new.edges[0][:-1])
            ratio, err = _ratio(vn, en, vr, er)
            self.ratio_points.set_data(centers, ratio)
            segments = np.stack([np.stack([centers, ratio - err], 1), np.stack([centers, ratio + err], 1)], 1)
            self.ratio_errors.set_segments(segments[np.isfinite(ratio)])
            # Scale the panel on the well-measured bins (sparse tails would set it at random),
            # from a few fixed ranges so that the cached background is reused.
            precise = np.isfinite(ratio) & (err < 0.25 * np.abs(ratio))
            finite = ratio[precise] if precise.any() else ratio[np.isfinite(ratio)]
            low_r, high_r = (finite.min(), finite.max()) if finite.size else (1.0, 1.0)
            need = max(high_r - 1.0, 1.0 - low_r) * 1.1
            half = next((r for r in _RATIO_RANGES if r >= need), _RATIO_RANGES[-1])
            rlim = (max(0.0, 1.0 - half), 1.0 + half)
        self.ratio_points.set_visible(same)
        self.ratio_errors.set_visible(same)
        ylabel = "bin mean" if new.is_profile else "normalized"
        xlabel = new.axis_titles[0] if new.axis_titles else ""
        layout = (xlim, ylim, rlim, same, ylabel, xlabel)
        if layout != self.layout:
            self.top.set_xlim(*xlim)
            self.top.set_ylim(*ylim)
            self.bottom.set_ylim(*rlim)
            self.top.set_ylabel(ylabel, fontsize=8)
            self.bottom.set_xlabel(xlabel, fontsize=8)
            self.note.set_text("" if same else "different binning: no ratio")
        self.render(layout, path)


class Overlay2D(_Blitted):
    """New, reference and new/ref maps side by side; one figure, reused.

    The maps are drawn relative to the larger maximum of the two (colour scale
    0..1) and the ratio on a fixed 0.5..1.5 scale, so the colour bars are part of
    the static background. Uniform binnings are images; variable ones meshes.
    """

    def __init__(self):
        from matplotlib.ticker import MaxNLocator

        super().__init__(_figure(12, 4))
        self.axes = [self.fig.add_axes([0.045 + 0.33 * i, 0.1, 0.22, 0.78]) for i in range(3)]
        cax = [self.fig.add_axes([0.272 + 0.33 * i, 0.1, 0.012, 0.78]) for i in range(3)]
        self.images = []
        for ax, c, label, cmap, limits in zip(self.axes, cax, ("new", "reference", "new / ref"),
                                              ("viridis", "viridis", "coolwarm"), ((0, 1), (0, 1), (0.5, 1.5))):
            ax.set_title(label + (" (fraction of max)" if limits == (0, 1) else ""), fontsize=9)
            image = self.animate(ax.imshow(np.zeros((2, 2)), origin="lower", aspect="auto", cmap=cmap,
                                           interpolation="nearest", vmin=limits[0], vmax=limits[1]))
            self.images.append(image)
            bar = self.fig.colorbar(image, cax=c)
            bar.locator = MaxNLocator(4)
            ax.xaxis.set_major_locator(MaxNLocator(4))
            ax.yaxis.set_major_locator(MaxNLocator(4))
        self.title = self.animate(self.fig.suptitle("", fontsize=8))
        self.meshes: list = []

    def draw(self, new, ref, title: str, path: Path) -> None:
        vn, _ = _normalized(new)
        vr, _ = _normalized(ref)
        same = _same_edges(new, ref)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(vr != 0, vn / vr, np.nan) if same else np.full_like(vn, np.nan)
        high = max(float(vn.max()), float(vr.max())) or 1.0
        for mesh in self.meshes:
            mesh.remove()
            self.animated.remove(mesh)
        self.meshes = []
        ranges = []
        for ax, image, h, values in zip(self.axes, self.images, (new, ref, new), (vn / high, vr / high, ratio)):
            x, y = h.edges
            uniform = all(np.allclose(np.diff(e), e[1] - e[0]) for e in (x, y))
            image.set_visible(uniform)
            if uniform:
                image.set_data(values.T)
                image.set_extent((x[0], x[-1], y[0], y[-1]))
            else:
                low, top = image.get_clim()
                self.meshes.append(self.animate(ax.pcolormesh(x, y, values.T, shading="flat", cmap=image.get_cmap(),
                                                              vmin=low, vmax=top)))
            ranges.append((float(x[0]), float(x[-1]), float(y[0]), float(y[-1])))
        layout = (tuple(ranges), same)
        if layout != self.layout:
            for ax, (x0, x1, y0, y1) in zip(self.axes, ranges):
                ax.set_xlim(x0, x1)
                ax.set_ylim(y0, y1)
            self.axes[2].set_title("new / ref" if same else "new / ref: different binning", fontsize=9)
        self.title.set_text(title)
        self.render(layout, path)


def _thumbnail(ax, new, ref, title: str) -> None:
    vn, _ = _normalized(new)
    vr, _ = _normalized(ref)
    if new.ndim == 1 and _same_edges(new, ref):
        ax.plot(*_steps(ref.edges[0], vr), drawstyle="steps-post", color="black", lw=0.8)
        ax.plot(*_steps(new.edges[0], vn), drawstyle="steps-post", color="tab:red", lw=0.8)
    elif new.ndim == 2:
        ax.pcolormesh(new.edges[0], new.edges[1], vn.T, shading="flat")
    ax.set_title(title[-40:], fontsize=6)
    ax.tick_params(labelsize=5)


class Plotter:
    """Draws overlays as they are requested, reusing one figure per layout."""

    def __init__(self):
        self._canvases: dict[int, object] = {}

    def overlay(self, new, ref, title: str, path: Path) -> Path:
        if new.ndim != ref.ndim:
            raise ValueError("a 1D and a 2D histogram have no common overlay")
        if new.ndim not in self._canvases:
            self._canvases[new.ndim] = Overlay2D() if new.ndim == 2 else Overlay1D()
        self._canvases[new.ndim].draw(new, ref, title, path)
        return path


def _grid_page(page: list, target: Path) -> Path:
    rows = -(-len(page) // GRID_COLUMNS)
    fig = _figure(2.4 * GRID_COLUMNS, 2.0 * rows, dpi=60)
    axes = fig.subplots(rows, GRID_COLUMNS, squeeze=False)
    for ax in axes.ravel()[len(page):]:
        ax.axis("off")
    for ax, (name, new, ref) in zip(axes.ravel(), page):
        _thumbnail(ax, new, ref, name)
    fig.tight_layout()
    fig.savefig(target, **_PNG)
    return target


class PlotSink:
    """Collects the plots of a comparison while it runs.

    Overlays of WARNING/BAD pairs are drawn as they are graded (about 10 ms
    each with the reused figures); the other pairs are kept for the grid pages,
    drawn by `finish`.
    """

    def __init__(self, out_dir: Path, grid: bool = True):
        self.out_dir = out_dir
        self.plot_dir = out_dir / "plots"
        self.grid = grid
        self.plotter = Plotter()
        self.others: list[tuple] = []
        self.written: list[Path] = []
        self.omitted = 0

    def add(self, result, new, ref) -> None:
        import logging

        if new.ndim != ref.ndim:
            return
        if result.grade not in ("WARNING", "BAD"):
            if self.grid:
                self.others.append((result.name, new, ref))
            return
        self.plot_dir.mkdir(parents=True, exist_ok=True)
        target = self.plot_dir / plot_filename(result.name)
        title = f"{result.name}  [{result.grade}] {result.reason}"[:150]
        try:
            self.plotter.overlay(new, ref, title, target)
        except Exception as error:  # noqa: BLE001 - a failed plot must not lose the verdict
            logging.getLogger(__name__).warning("plot of %s failed: %s", result.name, error)
            return
        result.plot = target.relative_to(self.out_dir).as_posix()
        self.written.append(target)

    def finish(self) -> list[Path]:
        """Draw the grid pages; returns every file written."""
        if self.grid and self.others:
            pages = [self.others[i:i + GRID_PER_PAGE] for i in range(0, len(self.others), GRID_PER_PAGE)]
            self.omitted = sum(len(p) for p in pages[GRID_PAGE_LIMIT:])
            for number, page in enumerate(pages[:GRID_PAGE_LIMIT], start=1):
                self.written.append(_grid_page(page, self.out_dir / f"grid_{number:03d}.png"))
        return self.written
