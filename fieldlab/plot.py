"""Static pictures of fields, flows and samples, drawn with matplotlib.

Nothing here is physics: every number drawn comes from a field's `field`, `velocity` and
`log_potential`, or from samples and trajectories that the sampler returned.

- Field lines of 1D data live in the half-plane (x, s) above the data axis, with the vertical
  coordinate s = r = sigma sqrt(D) for finite D and s = sigma at D = inf. A field line obeys
  dx/dsigma = E_x sqrt(D) / E_r = ex / esigma, so with s = c sigma (c = sqrt(D), or 1 at
  D = inf) its direction in the (x, s) plane is (ex, c esigma): (E_x, E_r) up to the positive
  factor e^l for finite D, and the (x, sigma) plane of the probability-flow ODE at D = inf.
  One formula serves every D, and it stays defined where E_r <= 0 (near negative charge).
- Arrows show the backward flow, the way samples travel: along -E, towards the data.
- Flows of 2D data are streamlines of -velocity at one sigma, the data-space part of the
  backward ODE's motion (sigma decreasing), drawn over contours of psi = log phi.
- Field-line and streamline tracers (`trace_field_lines`, `trace_streamlines`) are geometry of
  the picture: fixed-rule steps along the normalised direction the field gives.

Every drawing function takes `ax=None` (a fresh figure is made) and returns its Axes, or the
Figure for the animation. `quick_mode()` tells notebooks to shrink their work.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._checks import as_tensor, check_int, check_positive
from .fields import Field, Superposition
from .point_charges import PointCharges

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The environment variable that puts notebooks into their quick mode (small counts).
QUICK_ENV = "FIELDLAB_QUICK"
QUICK_VALUES = ("1", "true", "yes", "on")

# Grid points per side for direction fields and potential contours: 60 x 60 evaluations of a
# few hundred charges take a few tens of milliseconds.
GRID = 60
# Margin around the data when no extent is given, as a fraction of the data's span.
MARGIN = 0.25
# Smallest span drawn around data that collapse to a point.
MIN_SPAN = 1.0
# The lowest grid row sits this fraction of the vertical span above the data axis, where the
# field of a point charge is singular.
LOWEST_ROW = 0.01
# Field-line tracing: each step moves GROWTH times the larger of the height s and the distance
# travelled, so steps grow geometrically and a line reaches far in few steps.
FIELD_LINE_STEPS = 150
FIELD_LINE_GROWTH = 0.05
# Streamlines at fixed sigma: steps per line and step length as a fraction of the extent.
STREAMLINE_STEPS = 12
STREAMLINE_STEP = 0.01
# Bins of the data histogram drawn under the axis of a 1D picture, and its height as a
# fraction of the vertical span.
DENSITY_BINS = 60
DENSITY_HEIGHT = 0.15
# The tallest bar fills this fraction of the band, leaving a gap at its bottom.
DENSITY_FILL = 0.9
# Marker areas (points^2) of charges: their total, shared in proportion to |q|, and the
# smallest and largest area of one marker.
CHARGE_TOTAL_AREA = 2000.0
CHARGE_MARKER = (4.0, 80.0)
POSITIVE_COLOUR = "tab:red"
NEGATIVE_COLOUR = "tab:blue"
SAMPLE_COLOUR = "tab:orange"
DATA_COLOUR = "0.55"
# Trajectories drawn at most, so that a picture stays readable.
MAX_TRAJECTORIES = 100
# Columns of a denoising strip and frames per second of an animation.
STRIP_COLUMNS = 8
FPS = 8
# Pixels of padding between tiled images.
TILE_PAD = 1
# Pixel values of images, EDM's convention.
PIXEL_RANGE = (-1.0, 1.0)


def quick_mode() -> bool:
    """True when the environment variable FIELDLAB_QUICK asks for a quick run (1/true/yes)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in QUICK_VALUES


def choose(full: T, quick: T) -> T:
    """`quick` in quick mode, `full` otherwise: notebooks size their work with it."""
    return quick if quick_mode() else full


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots()
    return ax


def format_D(D: int | float) -> str:
    """D as written in titles: its digits, or ∞."""
    return "∞" if D == math.inf else str(D)


def vertical_scale(D: int | float) -> float:
    """c in s = c sigma: sqrt(D) (s = r) for finite D, 1 (s = sigma) at D = inf."""
    return 1.0 if D == math.inf else math.sqrt(D)


def vertical_label(D: int | float) -> str:
    """The name of the vertical coordinate s of pictures in the augmented space."""
    return "sigma" if D == math.inf else "r = sigma·√D"


def check_drawable(shape: Sequence[int], supported: dict[tuple[int, ...], str], what: str) -> None:
    """Raise unless shape is one of the supported point shapes."""
    if tuple(shape) not in supported:
        names = ", ".join(f"{label} (shape {list(s)})" for s, label in supported.items())
        raise ValueError(
            f"{what} has points of shape {list(shape)}; this picture draws only {names}"
        )


def charges_of(field: Field) -> tuple[np.ndarray, np.ndarray] | None:
    """(positions (n, N), signed charges (n,)) of a field made of point charges, else None.

    A superposition of point-charge fields contributes each term's charges times its weight.
    """
    if isinstance(field, PointCharges):
        points = field.points.detach().cpu().double().reshape(field.points.shape[0], -1)
        return points.numpy(), field.charges.detach().cpu().double().numpy()
    if isinstance(field, Superposition):
        parts = [(c, charges_of(f)) for c, f in field.terms]
        if any(part is None for _, part in parts):
            return None
        points = np.concatenate([p for _, (p, _) in parts])
        charges = np.concatenate([c * q for c, (_, q) in parts])
        return points, charges
    return None


def weights_label(field: Field) -> str:
    """'weights (c_1, c_2, ...), Q = ...' for a superposition, 'Q = ...' otherwise."""
    charge = f"Q = {field.total_charge:.3g}"
    if isinstance(field, Superposition):
        weights = ", ".join(f"{c:.3g}" for c in field.weights)
        return f"weights ({weights}), {charge}"
    return charge


def _points_array(points: object, name: str) -> np.ndarray:
    tensor = as_tensor(points, name)
    if tensor.dim() < 2:
        raise ValueError(f"{name} must have shape (n, *shape), got {tuple(tensor.shape)}")
    return tensor.detach().cpu().double().numpy()


def _positions(field: Field, data: object | None) -> np.ndarray | None:
    """Data points to frame a picture on: `data` if given, else the field's charges."""
    if data is not None:
        return _points_array(data, "data").reshape(-1, field.N)
    found = charges_of(field)
    return None if found is None else found[0]


def frame(points: np.ndarray | None, extent: Sequence[float] | None, dims: int) -> np.ndarray:
    """(lo, hi) per coordinate, shape (dims, 2): the extent given, or the points' box with a
    margin."""
    if extent is not None:
        box = np.asarray(extent, dtype=float).reshape(dims, 2)
        if not np.all(np.isfinite(box)) or not np.all(box[:, 0] < box[:, 1]):
            raise ValueError(f"extent must be finite (lo, hi) pairs with lo < hi, got {extent}")
        return box
    if points is None:
        raise ValueError("extent is needed: this field has no point charges to frame the picture")
    lo, hi = points.min(0)[:dims], points.max(0)[:dims]
    span = np.maximum(hi - lo, MIN_SPAN)
    return np.stack([lo - MARGIN * span, hi + MARGIN * span], 1)


def _mark_charges(ax: Axes, points: np.ndarray, charges: np.ndarray) -> None:
    """Scatter positive charges as red + and negative ones as blue x, sized by |q|.

    The markers share a fixed total area in proportion to |q|, so a data set of many equal
    charges is drawn fine and a few charges boldly.
    """
    share = CHARGE_TOTAL_AREA * np.abs(charges) / np.abs(charges).sum()
    area = np.clip(share, *CHARGE_MARKER)
    for mask, colour, marker, label in (
        (charges > 0, POSITIVE_COLOUR, "+", "positive charges"),
        (charges < 0, NEGATIVE_COLOUR, "x", "negative charges"),
    ):
        if mask.any():
            ax.scatter(*points[mask].T, s=area[mask], c=colour, marker=marker, label=label)


def _scaled_directions(
    field: Field, x: torch.Tensor, sigma: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """The field-line direction (ex, c esigma) at points x and levels sigma, as float64."""
    value = field.field(x, sigma)
    ex = value.ex.detach().cpu().double().reshape(x.shape[0], -1).numpy()
    es = value.esigma.detach().cpu().double().numpy() * vertical_scale(field.D)
    return ex, es


def field_lines_1d(
    field: Field,
    *,
    sigma_max: float | None = None,
    extent: Sequence[float] | None = None,
    data: object | None = None,
    grid: int = GRID,
    density: float = 1.0,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Field lines of 1D data in the (x, r) half-plane, with the data's density on the axis.

    At D = inf the vertical axis is sigma: the lines are the probability-flow ODE's paths.

    Args:
        field: a field of point shape (1,).
        sigma_max: the highest noise level drawn; by default half the x extent.
        extent: (x_lo, x_hi); by default the charges' (or data's) span with a margin.
        data: points (n, 1) whose histogram is drawn on the axis; by default the field's
            charges (signed), if it is made of point charges.
        grid: grid points per side of the direction field.
        density: matplotlib's streamplot density (1 spaces lines by 1/30 of the axes).
        ax: the Axes to draw on; a new figure if None.
        title: defaults to the D and the weights of the field.

    Returns:
        The Axes, with the stream lines' LineCollection labelled "field lines".
    """
    check_drawable(field.shape, {(1,): "1D data"}, "field")
    grid = check_int(grid, "grid", 2)
    density = check_positive(density, "density")
    points = _positions(field, data)
    ((x_lo, x_hi),) = frame(points, extent, 1)
    sigma_top = (x_hi - x_lo) / 2 if sigma_max is None else check_positive(sigma_max, "sigma_max")
    s_top = sigma_top * vertical_scale(field.D)
    ax = _axes(ax)

    xs = np.linspace(x_lo, x_hi, grid)
    ss = np.linspace(LOWEST_ROW * s_top, s_top, grid)
    X, S = np.meshgrid(xs, ss)
    x = torch.as_tensor(X.reshape(-1, 1), dtype=field.dtype)
    sigma = torch.as_tensor(S.reshape(-1) / vertical_scale(field.D), dtype=field.dtype)
    ex, es = _scaled_directions(field, x, sigma)
    norm = np.hypot(ex[:, 0], es)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.where(norm > 0, -ex[:, 0] / norm, np.nan).reshape(X.shape)
        v = np.where(norm > 0, -es / norm, np.nan).reshape(X.shape)
    stream = ax.streamplot(
        X,
        S,
        np.ma.masked_invalid(u),
        np.ma.masked_invalid(v),
        color="k",
        linewidth=0.7,
        density=density,
    )
    stream.lines.set_label("field lines")

    _draw_axis_density(ax, field, data, (x_lo, x_hi), s_top)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(-DENSITY_HEIGHT * s_top, s_top)
    ax.axhline(0.0, color="k", linewidth=0.8)
    ax.set_xlabel("x")
    ax.set_ylabel(vertical_label(field.D))
    ax.set_title(
        title if title is not None else f"D = {format_D(field.D)}, {weights_label(field)}"
    )
    return ax


def _draw_axis_density(
    ax: Axes, field: Field, data: object | None, x_range: tuple[float, float], s_top: float
) -> None:
    """A histogram of the data (or the signed charges) below the axis, scaled to fit a band."""
    if data is not None:
        values = _points_array(data, "data").reshape(-1)
        weights = np.full(values.shape, 1.0 / values.size)
    else:
        found = charges_of(field)
        if found is None:
            return
        values, weights = found[0].reshape(-1), found[1]
    mass, edges = np.histogram(values, bins=DENSITY_BINS, range=x_range, weights=weights)
    height = (
        DENSITY_FILL
        * DENSITY_HEIGHT
        * s_top
        * mass
        / max(np.abs(mass).max(), np.finfo(float).tiny)
    )
    for part, colour, label in (
        (np.maximum(height, 0), POSITIVE_COLOUR, "data density"),
        (np.maximum(-height, 0), NEGATIVE_COLOUR, "negative charge density"),
    ):
        if part.any():
            ax.stairs(-part, edges, fill=True, color=colour, alpha=0.6, label=label)


def flow_2d(
    field: Field,
    sigma: float,
    *,
    extent: Sequence[float] | None = None,
    data: object | None = None,
    grid: int = GRID,
    density: float = 1.0,
    potential: bool = True,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Streamlines of the backward flow of 2D data at one sigma, over contours of psi.

    The lines follow -velocity, the way samples move as sigma decreases. Positive charges are
    marked +, negative ones x, if the field is made of point charges.

    Args:
        field: a field of point shape (2,).
        sigma: the noise level of the picture.
        extent: (x1_lo, x1_hi, x2_lo, x2_hi); by default the charges' (or data's) box.
        data: points (n, 2) drawn in grey, e.g. the training data of a learned field.
        grid: grid points per side.
        density: matplotlib's streamplot density (1 spaces lines by 1/30 of the axes).
        potential: draw filled contours of psi = log phi (NaN where phi < 0 is left blank).
        ax: the Axes to draw on; a new figure if None.
        title: defaults to sigma, D and the weights of the field.

    Returns:
        The Axes; the streamlines' LineCollection is labelled "streamlines".
    """
    check_drawable(field.shape, {(2,): "2D data"}, "field")
    sigma = check_positive(sigma, "sigma")
    grid = check_int(grid, "grid", 2)
    density = check_positive(density, "density")
    box = frame(_positions(field, data), extent, 2)
    ax = _axes(ax)

    X1, X2 = np.meshgrid(np.linspace(*box[0], grid), np.linspace(*box[1], grid))
    x = torch.as_tensor(np.stack([X1.ravel(), X2.ravel()], 1), dtype=field.dtype)
    if potential:
        psi = field.log_potential(x, sigma).detach().cpu().numpy().reshape(X1.shape)
        filled = ax.contourf(X1, X2, np.ma.masked_invalid(psi), levels=20, cmap="Greys", alpha=0.5)
        filled.set_label("log potential")
    velocity = field.velocity(x, sigma).detach().cpu().double().numpy()
    u = np.ma.masked_invalid(-velocity[:, 0].reshape(X1.shape))
    v = np.ma.masked_invalid(-velocity[:, 1].reshape(X1.shape))
    stream = ax.streamplot(X1, X2, u, v, color="k", linewidth=0.7, density=density)
    stream.lines.set_label("streamlines")

    if data is not None:
        ax.scatter(*_points_array(data, "data").T, s=3, c=DATA_COLOUR, label="data")
    found = charges_of(field)
    if found is not None:
        _mark_charges(ax, *found)
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])
    ax.set_aspect("equal")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    default = f"sigma = {sigma:g}, D = {format_D(field.D)}, {weights_label(field)}"
    ax.set_title(title if title is not None else default)
    return ax


def samples_scatter(
    samples: object,
    data: object | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Samples over the data: a scatter for 2D points, overlaid histograms for 1D ones.

    Args:
        samples: shape (n, 2) or (n, 1).
        data: reference points of the same shape, drawn in grey.
        ax: the Axes to draw on; a new figure if None.
        title: defaults to the number of samples.

    Returns:
        The Axes; the samples' artist is labelled "samples".
    """
    samples = _points_array(samples, "samples")
    check_drawable(samples.shape[1:], {(1,): "1D points", (2,): "2D points"}, "samples")
    reference = None if data is None else _points_array(data, "data")
    if reference is not None and reference.shape[1:] != samples.shape[1:]:
        raise ValueError(
            f"data must have points of the samples' shape {list(samples.shape[1:])}, "
            f"got {list(reference.shape[1:])}"
        )
    ax = _axes(ax)

    if samples.shape[1] == 2:
        if reference is not None:
            ax.scatter(*reference.T, s=3, c=DATA_COLOUR, label="data")
        ax.scatter(*samples.T, s=5, c=SAMPLE_COLOUR, label="samples")
        ax.set_aspect("equal")
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
    else:
        both = samples if reference is None else np.concatenate([samples, reference])
        bins = np.linspace(both.min(), both.max(), DENSITY_BINS + 1)
        if reference is not None:
            ax.hist(reference[:, 0], bins, density=True, color=DATA_COLOUR, label="data")
        ax.hist(
            samples[:, 0],
            bins,
            density=True,
            histtype="step",
            color=SAMPLE_COLOUR,
            label="samples",
        )
        ax.set_xlabel("x")
        ax.set_ylabel("density")
    ax.legend(loc="upper right")
    ax.set_title(title if title is not None else f"{samples.shape[0]} samples")
    return ax


def _trajectory_parts(trajectory: object, sigmas: object | None) -> tuple[np.ndarray, object]:
    """(states (levels, n, *shape), sigmas) from a `Trajectory` of the sampler or a tensor.

    A Trajectory carries its own sigmas, used unless sigmas are given.
    """
    if hasattr(trajectory, "x") and hasattr(trajectory, "sigmas"):
        sigmas = trajectory.sigmas if sigmas is None else sigmas
        trajectory = trajectory.x
    array = as_tensor(trajectory, "trajectory").detach().cpu().double().numpy()
    if array.ndim < 3:
        raise ValueError(
            f"trajectory must have shape (levels, n, *shape), got {list(array.shape)}"
        )
    return array, _check_sigmas(sigmas, array.shape[0])


def _check_sigmas(sigmas: object | None, levels: int) -> np.ndarray | None:
    if sigmas is None:
        return None
    values = as_tensor(sigmas, "sigmas").detach().cpu().double().numpy()
    if values.shape != (levels,):
        raise ValueError(f"sigmas must have shape ({levels},), one per level, got {values.shape}")
    return values


def trajectories(
    trajectory: object,
    *,
    data: object | None = None,
    sigmas: object | None = None,
    extent: Sequence[float] | None = None,
    max_lines: int = MAX_TRAJECTORIES,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Paths of samples from the prior (first level) to the data (last level).

    2D points are drawn in the plane, the view framed on the end points (the prior lies far
    out at sigma_max); 1D points are drawn as x against sigma (or the level's index).

    Args:
        trajectory: a `Trajectory` from `fieldlab.sample(..., return_trajectory=True)`, or
            states of shape (levels, n, 2) or (levels, n, 1), first level the prior.
        data: reference points drawn in grey.
        sigmas: the noise level of each level (for the 1D picture's vertical axis); a
            Trajectory brings its own.
        extent: the view, as for `flow_2d`; by default the end points' box.
        max_lines: draw at most this many paths.
        ax: the Axes to draw on; a new figure if None.
        title: defaults to the number of paths and levels.

    Returns:
        The Axes; the paths' artists are labelled "trajectories", the end points "samples".
    """
    path, levels = _trajectory_parts(trajectory, sigmas)
    check_drawable(path.shape[2:], {(1,): "1D points", (2,): "2D points"}, "trajectory")
    max_lines = check_int(max_lines, "max_lines", 1)
    path = path[:, :max_lines]
    ax = _axes(ax)

    if path.shape[2] == 2:
        box = frame(path[-1], extent, 2)
        if data is not None:
            ax.scatter(*_points_array(data, "data").T, s=3, c=DATA_COLOUR, label="data")
        ax.plot(path[:, :, 0], path[:, :, 1], color="k", linewidth=0.5, alpha=0.5)
        ax.lines[-1].set_label("trajectories")
        ax.scatter(*path[-1].T, s=8, c=SAMPLE_COLOUR, label="samples", zorder=3)
        ax.set_xlim(*box[0])
        ax.set_ylim(*box[1])
        ax.set_aspect("equal")
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
    else:
        height = np.arange(path.shape[0])[::-1] if levels is None else levels
        ax.plot(path[:, :, 0], height, color="k", linewidth=0.5, alpha=0.5)
        ax.lines[-1].set_label("trajectories")
        ax.scatter(
            path[-1, :, 0],
            np.full(path.shape[1], height[-1]),
            s=8,
            c=SAMPLE_COLOUR,
            label="samples",
            zorder=3,
        )
        if levels is not None:
            ax.set_yscale("log")
        ax.set_xlabel("x")
        ax.set_ylabel("sigma" if levels is not None else "levels to go")
    ax.set_title(
        title if title is not None else f"{path.shape[1]} trajectories, {path.shape[0]} levels"
    )
    return ax


def _image_array(images: object, name: str) -> np.ndarray:
    array = as_tensor(images, name).detach().cpu().double().numpy()
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} must have shape (n, C, H, W) with C = 1 (grey) or 3 (RGB), "
            f"got {list(array.shape)}"
        )
    return array


def tile_images(images: object, columns: int | None = None, pad: int = TILE_PAD) -> np.ndarray:
    """Images (n, C, H, W) in [-1, 1] tiled into one picture (rows*H', cols*W', C) in [0, 1].

    Args:
        images: shape (n, C, H, W), C = 1 or 3.
        columns: images per row; by default the smallest count giving a square-ish grid.
        pad: pixels between images (white).
    """
    array = _image_array(images, "images")
    n, C, H, W = array.shape
    columns = math.ceil(math.sqrt(n)) if columns is None else check_int(columns, "columns", 1)
    rows = math.ceil(n / columns)
    lo, hi = PIXEL_RANGE
    unit = np.clip((array - lo) / (hi - lo), 0.0, 1.0).transpose(0, 2, 3, 1)
    mosaic = np.ones((rows * (H + pad) - pad, columns * (W + pad) - pad, C))
    for k in range(n):
        i, j = divmod(k, columns)
        mosaic[i * (H + pad) : i * (H + pad) + H, j * (W + pad) : j * (W + pad) + W] = unit[k]
    return mosaic


def _show_mosaic(ax: Axes, mosaic: np.ndarray) -> None:
    if mosaic.shape[2] == 1:
        ax.imshow(mosaic[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(mosaic)


def image_grid(
    images: object,
    *,
    columns: int | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """A grid of images (n, C, H, W) in [-1, 1], grey for C = 1 and colour for C = 3.

    Returns:
        The Axes holding one image: the tiled mosaic.
    """
    mosaic = tile_images(images, columns)
    ax = _axes(ax)
    _show_mosaic(ax, mosaic)
    ax.set_axis_off()
    ax.set_title(
        title if title is not None else f"{_image_array(images, 'images').shape[0]} images"
    )
    return ax


def denoising_strip(
    trajectory: object,
    *,
    sigmas: object | None = None,
    columns: int = STRIP_COLUMNS,
    rows: int = 1,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Rows of x at decreasing sigma: the first `rows` samples of an image trajectory.

    Args:
        trajectory: a `Trajectory` of images, or states (levels, n, C, H, W), first level
            the prior.
        sigmas: the noise level of each level, written under the columns.
        columns: levels shown, evenly spaced from the first to the last.
        rows: samples shown, one per row.
        ax: the Axes to draw on; a new figure if None.
        title: defaults to "denoising".

    Returns:
        The Axes holding the mosaic, one column per level shown.
    """
    path, levels = _trajectory_parts(trajectory, sigmas)
    if path.ndim != 5:
        raise ValueError(
            f"trajectory must have shape (levels, n, C, H, W) of images, got {list(path.shape)}"
        )
    columns = min(check_int(columns, "columns", 2), path.shape[0])
    rows = min(check_int(rows, "rows", 1), path.shape[1])
    chosen = np.unique(np.linspace(0, path.shape[0] - 1, columns).round().astype(int))
    images = path[chosen, :rows].transpose(1, 0, 2, 3, 4).reshape(-1, *path.shape[2:])
    mosaic = tile_images(images, len(chosen))
    ax = _axes(ax)
    _show_mosaic(ax, mosaic)

    width = path.shape[-1] + TILE_PAD
    ax.set_xticks((np.arange(len(chosen)) + 0.5) * width - TILE_PAD)
    labels = (
        [f"σ={levels[k]:.3g}" for k in chosen] if levels is not None else list(map(str, chosen))
    )
    ax.set_xticklabels(labels, fontsize="small")
    ax.set_yticks([])
    ax.set_title(title if title is not None else "denoising")
    return ax


def animate_flow(
    trajectory: object,
    path: str | Path,
    *,
    data: object | None = None,
    sigmas: object | None = None,
    extent: Sequence[float] | None = None,
    fps: int = FPS,
) -> Figure:
    """Save a GIF of samples flowing from the prior to the data, one frame per level.

    Args:
        trajectory: a `Trajectory`, or states: (levels, n, 2) points, drawn as a moving
            scatter, or (levels, n, C, H, W) images, drawn as a changing grid.
        path: the GIF file to write.
        data: reference 2D points drawn in grey.
        sigmas: the noise level of each level, shown in the title.
        extent: the view for points, as for `flow_2d`; by default the end points' box.
        fps: frames per second.

    Returns:
        The Figure of the last frame.
    """
    array, levels = _trajectory_parts(trajectory, sigmas)
    fps = check_int(fps, "fps", 1)
    points = array.ndim == 3
    if points:
        check_drawable(array.shape[2:], {(2,): "2D points"}, "trajectory")
    elif array.ndim != 5:
        raise ValueError(
            "trajectory must have shape (levels, n, 2) of 2D points or (levels, n, C, H, W) of "
            f"images, got {list(array.shape)}"
        )
    fig, ax = plt.subplots()

    if points:
        box = frame(array[-1], extent, 2)
        if data is not None:
            ax.scatter(*_points_array(data, "data").T, s=3, c=DATA_COLOUR, label="data")
        artist = ax.scatter(*array[0].T, s=6, c=SAMPLE_COLOUR, label="samples")
        ax.set_xlim(*box[0])
        ax.set_ylim(*box[1])
        ax.set_aspect("equal")
    else:
        _show_mosaic(ax, tile_images(array[0]))
        artist = ax.images[0]
        ax.set_axis_off()

    def draw(level: int) -> list:
        if points:
            artist.set_offsets(array[level])
        else:
            mosaic = tile_images(array[level])
            artist.set_data(mosaic[:, :, 0] if mosaic.shape[2] == 1 else mosaic)
        where = f"sigma = {levels[level]:.3g}" if levels is not None else f"level {level}"
        ax.set_title(f"{where} ({level + 1}/{array.shape[0]})")
        return [artist]

    movie = animation.FuncAnimation(fig, draw, frames=array.shape[0], blit=False)
    movie.save(str(path), writer=animation.PillowWriter(fps=fps))
    logger.info("wrote %d frames to %s", array.shape[0], path)
    return fig


def trace_field_lines(
    field: Field,
    x: object,
    sigma: object,
    *,
    steps: int = FIELD_LINE_STEPS,
    growth: float = FIELD_LINE_GROWTH,
    sigma_max: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Follow field lines outward (along +E) from points x at noise levels sigma.

    Each step moves along the unit direction (ex, c esigma) in the (x, s) space of the module
    docstring, by growth times the larger of the height s and the distance travelled so far,
    so that steps grow geometrically as a line leaves the data. A line stops (NaN from then
    on) where the direction vanishes, where it comes down to s <= 0, or once it rises above
    sigma_max.

    Args:
        field: any field.
        x: starting points, shape (m, *field.shape).
        sigma: starting noise levels, a float or shape (m,).
        steps: steps per line.
        growth: step length relative to the height s or the distance travelled.
        sigma_max: stop lines above this noise level; no limit if None.

    Returns:
        (xs, ss): positions of shape (steps + 1, m, N) and heights s of shape (steps + 1, m),
        with s = r = sigma sqrt(D) for finite D and s = sigma at D = inf.
    """
    steps = check_int(steps, "steps", 1)
    growth = check_positive(growth, "growth")
    scale = vertical_scale(field.D)
    start = as_tensor(x, "x").to(field.dtype)
    m = start.shape[0]
    sigma0 = torch.as_tensor(sigma, dtype=torch.float64).expand(m).numpy()
    xs = np.full((steps + 1, m, field.N), np.nan)
    ss = np.full((steps + 1, m), np.nan)
    xs[0] = start.double().reshape(m, -1).numpy()
    ss[0] = sigma0 * scale
    s_top = math.inf if sigma_max is None else check_positive(sigma_max, "sigma_max") * scale

    travelled = np.zeros(m)
    for k in range(steps):
        alive = np.isfinite(ss[k]) & (ss[k] > 0) & (ss[k] <= s_top)
        if not alive.any():
            break
        here = torch.as_tensor(xs[k, alive].reshape(-1, *field.shape), dtype=field.dtype)
        level = torch.as_tensor(ss[k, alive] / scale, dtype=field.dtype)
        ex, es = _scaled_directions(field, here, level)
        norm = np.sqrt((ex**2).sum(1) + es**2)
        moving = norm > 0
        length = growth * np.maximum(ss[k, alive], travelled[alive])
        travelled[alive] += length
        unit = length / np.where(moving, norm, 1.0)
        step_x = np.where(moving[:, None], xs[k, alive] + unit[:, None] * ex, np.nan)
        step_s = np.where(moving, ss[k, alive] + unit * es, np.nan)
        xs[k + 1, alive] = step_x
        ss[k + 1, alive] = np.where(step_s > 0, step_s, np.nan)
        xs[k + 1, alive & ~np.isfinite(ss[k + 1])] = np.nan
    return xs, ss


def trace_streamlines(
    field: Field,
    sigma: float,
    seeds: object,
    *,
    steps: int = STREAMLINE_STEPS,
    step: float = STREAMLINE_STEP,
) -> np.ndarray:
    """Streamlines of the backward flow at one sigma: steps of fixed length along -velocity.

    Args:
        field: any field.
        sigma: the noise level, held fixed.
        seeds: starting points, shape (m, *field.shape).
        steps: steps per line.
        step: the length of one step.

    Returns:
        Positions of shape (steps + 1, m, N); a line is NaN from where the velocity is
        undefined (E_r <= 0) or vanishes.
    """
    sigma = check_positive(sigma, "sigma")
    steps = check_int(steps, "steps", 1)
    step = check_positive(step, "step")
    start = as_tensor(seeds, "seeds").to(field.dtype)
    m = start.shape[0]
    xs = np.full((steps + 1, m, field.N), np.nan)
    xs[0] = start.double().reshape(m, -1).numpy()

    for k in range(steps):
        alive = np.isfinite(xs[k]).all(1)
        if not alive.any():
            break
        here = torch.as_tensor(xs[k, alive].reshape(-1, *field.shape), dtype=field.dtype)
        velocity = field.velocity(here, sigma).detach().cpu().double().reshape(here.shape[0], -1)
        velocity = velocity.numpy()
        norm = np.sqrt((velocity**2).sum(1, keepdims=True))
        with np.errstate(invalid="ignore", divide="ignore"):
            xs[k + 1, alive] = np.where(norm > 0, xs[k, alive] - step * velocity / norm, np.nan)
    return xs
