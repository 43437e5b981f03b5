"""Interactive pictures: 3D field lines (plotly) and widgets that redraw as their controls move.

Nothing here is physics: the pictures call a field's `field` and `velocity` (through the
tracers of `fieldlab.plot`) and `fieldlab.sample`.

- `field_lines_3d`: field lines of 2D data in the augmented space (x1, x2, s) above the data
  plane, with s = r = sigma sqrt(D) for finite D and s = sigma at D = inf, traced outward
  along (E_x, E_r) from the positive charges.
- `Composer`: one weight slider per field; the picture shows the flow and the samples of
  sum_k c_k F_k, with total charge Q = sum_k c_k Q_k.
- `ChargePainter`: clicks on a 2D canvas add positive or negative point charges.
- `ImageMixer`: one slider w over image samples of w * A + (1 - w) * B (a cat and a dog).

Every widget is an object whose state can be driven from Python: setting a slider's `value`
redraws, `figure` is the plotly FigureWidget whose data can be read, and `message` is the text
shown under the controls. Sampling needs Q > 0 (DESIGN): a weight set with Q <= 0 is refused
with a visible message and the last good picture stays. Sliders redraw on release
(`continuous_update=False`); the same prior draws (one seed) serve every redraw, so a change
of picture is the change of field alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import torch

from . import plot
from ._checks import as_tensor, check_int, check_positive
from .fields import Field, Superposition
from .point_charges import PointCharges
from .sampling import sample

logger = logging.getLogger(__name__)

# Toy defaults that keep one redraw well under a second on a laptop CPU: 200 samples with
# 10 Heun intervals (19 field evaluations) of a few hundred charges.
N_SAMPLES = 200
STEPS = 10
SIGMA = 0.5
# Streamline seeds per side of the canvas and the length of one streamline step as a
# fraction of the canvas's width.
SEEDS_PER_SIDE = 12
STREAM_STEP = 0.01
# Weight sliders: range and resolution.
WEIGHT_RANGE = (-1.0, 1.0)
WEIGHT_STEP = 0.05
# 3D field lines: how many, their starting height as a fraction of the data's span, and the
# highest noise level, as a multiple of that span.
FIELD_LINES = 60
SEED_HEIGHT = 0.02
TOP_SIGMA = 1.0
# Canvas of the charge painter: clickable cells per side.
CANVAS_CELLS = 81
CANVAS = (-4.0, 4.0, -4.0, 4.0)
CHARGE_RANGE = (0.1, 2.0)
# Image samples shown by the mixer.
N_IMAGES = 16
FIGURE_SIZE = 520

POSITIVE_COLOUR = "crimson"
NEGATIVE_COLOUR = "royalblue"
SAMPLE_COLOUR = "darkorange"
LINE_COLOUR = "rgba(40, 40, 40, 0.6)"


def _values(array: np.ndarray) -> list[float | None]:
    """Numbers for a FigureWidget trace, with None (a gap in a line) for NaN.

    A widget's state travels as JSON, which has no NaN: one NaN would break the page's
    widgets in the browser.
    """
    return [float(v) if math.isfinite(v) else None for v in np.asarray(array, float).ravel()]


def _lines_xy(paths: np.ndarray) -> tuple[list, list]:
    """Paths (steps + 1, m, 2) as plotly line coordinates, one gap between paths."""
    gap = np.full((1, paths.shape[1], 2), np.nan)
    joined = np.concatenate([paths, gap]).transpose(1, 0, 2).reshape(-1, 2)
    return _values(joined[:, 0]), _values(joined[:, 1])


def _heads(paths: np.ndarray) -> np.ndarray:
    """The last finite point of each path (m, 2): where the arrow of a streamline points."""
    finite = np.isfinite(paths).all(2)
    last = finite.shape[0] - 1 - np.argmax(finite[::-1], axis=0)
    return paths[last, np.arange(paths.shape[1])]


def _seeds(box: np.ndarray, per_side: int) -> torch.Tensor:
    """A regular grid of per_side x per_side points inside the box (half a cell in)."""
    cells = [lo + (np.arange(per_side) + 0.5) * (hi - lo) / per_side for lo, hi in box]
    g1, g2 = np.meshgrid(*cells)
    return torch.as_tensor(np.stack([g1.ravel(), g2.ravel()], 1))


def _charge_xy(field: Field, sign: float) -> tuple[np.ndarray, np.ndarray]:
    found = plot.charges_of(field)
    if found is None:
        return np.empty(0), np.empty(0)
    points, charges = found
    chosen = points[np.sign(charges) == sign]
    return chosen[:, 0], chosen[:, 1]


def field_lines_3d(
    field: Field,
    *,
    data: object | None = None,
    n_lines: int = FIELD_LINES,
    sigma_max: float | None = None,
    extent: Sequence[float] | None = None,
    seed: int = 0,
) -> go.Figure:
    """Field lines of 2D data in (x1, x2, s) above the data plane, traced out along +E.

    Lines start just above a random subset of the positive charges (or of `data`, for a
    field without point charges) and stop above sigma_max or where they leave the box over
    the plane.

    Args:
        field: a field of point shape (2,).
        data: points (n, 2) to start from and to draw on the plane; by default the field's
            charges.
        n_lines: how many lines.
        sigma_max: the highest noise level; by default the data's span.
        extent: (x1_lo, x1_hi, x2_lo, x2_hi) of the plane; by default the data's box.
        seed: chooses the starting charges.

    Returns:
        A plotly Figure: trace "field lines" (lines through (x1, x2, s)), then the charges
        (or data) on the plane s = 0.
    """
    plot.check_drawable(field.shape, {(2,): "2D data"}, "field")
    n_lines = check_int(n_lines, "n_lines", 1)
    found = plot.charges_of(field)
    if data is not None:
        points = as_tensor(data, "data").double().numpy().reshape(-1, 2)
        charges = np.ones(len(points))
    elif found is not None:
        points, charges = found
    else:
        raise ValueError("data is needed: this field has no point charges to start lines from")
    box = plot.frame(points, extent, 2)
    span = float((box[:, 1] - box[:, 0]).max())
    scale = plot.vertical_scale(field.D)
    sigma_top = span * TOP_SIGMA if sigma_max is None else check_positive(sigma_max, "sigma_max")

    rng = np.random.default_rng(seed)
    positive = np.flatnonzero(charges > 0)
    starts = points[rng.choice(positive, min(n_lines, len(positive)), replace=False)]
    xs, ss = plot.trace_field_lines(
        field,
        torch.as_tensor(starts),
        SEED_HEIGHT * span / scale,
        sigma_max=sigma_top,
    )
    # A line ends where it leaves the box over the plane, so that the picture stays framed.
    outside = ((xs < box[:, 0]) | (xs > box[:, 1])).any(2)
    left = np.maximum.accumulate(outside, axis=0)
    xs[left], ss[left] = np.nan, np.nan
    gap = np.full((1, xs.shape[1]), np.nan)
    line_x = np.concatenate([xs[..., 0], gap]).T.ravel()
    line_y = np.concatenate([xs[..., 1], gap]).T.ravel()
    line_s = np.concatenate([ss, gap]).T.ravel()

    figure = go.Figure()
    figure.add_trace(
        go.Scatter3d(
            x=line_x,
            y=line_y,
            z=line_s,
            mode="lines",
            name="field lines",
            line={"color": LINE_COLOUR, "width": 2},
        )
    )
    for sign, colour, name in (
        (1, POSITIVE_COLOUR, "positive"),
        (-1, NEGATIVE_COLOUR, "negative"),
    ):
        chosen = points[np.sign(charges) == sign]
        if len(chosen):
            figure.add_trace(
                go.Scatter3d(
                    x=chosen[:, 0],
                    y=chosen[:, 1],
                    z=np.zeros(len(chosen)),
                    mode="markers",
                    name=f"{name} charges",
                    marker={"size": 2, "color": colour},
                )
            )
    figure.update_layout(
        title=f"field lines, D = {plot.format_D(field.D)}, {plot.weights_label(field)}",
        scene={
            "xaxis_title": "x1",
            "yaxis_title": "x2",
            "zaxis_title": plot.vertical_label(field.D),
        },
        height=FIGURE_SIZE,
    )
    return figure


class _Picture:
    """What every widget shares: a FigureWidget, a message line, and the charge check."""

    def __init__(self) -> None:
        self.message_widget = widgets.HTML("")
        self.figure: go.FigureWidget | None = None
        self.widget: widgets.Widget = widgets.VBox([])

    def trace(self, name: str) -> go.Scatter | go.Heatmap:
        """The figure's trace of that name."""
        (found,) = [t for t in self.figure.data if t.name == name]
        return found

    def _build(self, traces: dict[str, dict], title: str) -> go.FigureWidget:
        """A new FigureWidget holding these traces' data and the title."""
        raise NotImplementedError

    def _show(self, traces: dict[str, dict], title: str | None) -> None:
        """Put data on the named traces and the title (None keeps it); build the figure once.

        A FigureWidget sends later changes as messages that only a live view receives, and a
        dashboard (Voila) runs the notebook before any view exists, so the first picture goes
        into the figure's initial state.
        """
        if self.figure is None:
            self.figure = self._build(traces, title or "")
            return
        with self.figure.batch_update():
            for name, values in traces.items():
                self.trace(name).update(**values)
            if title is not None:
                self.figure.layout.title = title

    @property
    def message(self) -> str:
        """The text shown under the controls: empty, or why the picture did not change."""
        return self.message_widget.value

    def _say(self, text: str) -> None:
        self.message_widget.value = text

    def _refuse(self, field: Field, what: str) -> bool:
        """Show why a field with Q <= 0 cannot be drawn; True tells the caller to keep the
        last picture."""
        Q = field.total_charge
        if Q > 0:
            return False
        self._say(
            f"total charge Q = {Q:.3g} is not positive ({what}): no field lines come in from "
            "infinity, so there is nothing to sample. The picture shows the last valid one."
        )
        return True

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        return self.widget._repr_mimebundle_(**kwargs)


class _FlowPicture(_Picture):
    """A 2D canvas with streamlines, their heads, samples and the charges."""

    TRACES = ("streamlines", "heads", "samples", "positive charges", "negative charges")

    def __init__(
        self, box: np.ndarray, sigma: float, n_samples: int, steps: int, seed: int
    ) -> None:
        super().__init__()
        self.box = box
        self.sigma = check_positive(sigma, "sigma")
        self.n_samples = check_int(n_samples, "n_samples", 1)
        self.steps = check_int(steps, "steps", 1)
        self.seed = seed
        self._seed_points = _seeds(box, SEEDS_PER_SIDE)

    STYLES = (
        {"mode": "lines", "line": {"color": LINE_COLOUR, "width": 1}},
        {"mode": "markers", "marker": {"color": LINE_COLOUR, "size": 4}},
        {"mode": "markers", "marker": {"color": SAMPLE_COLOUR, "size": 4}},
        {"mode": "markers", "marker": {"color": POSITIVE_COLOUR, "symbol": "cross"}},
        {"mode": "markers", "marker": {"color": NEGATIVE_COLOUR, "symbol": "x"}},
    )

    def _extra_traces(self) -> list:
        """Traces drawn after the flow's own (none here)."""
        return []

    def _build(self, traces: dict[str, dict], title: str) -> go.FigureWidget:
        data = [
            go.Scatter(
                name=name, hoverinfo="skip", **style, **traces.get(name, {"x": [], "y": []})
            )
            for name, style in zip(self.TRACES, self.STYLES)
        ]
        layout = {
            "title": title,
            "xaxis": {"range": list(self.box[0]), "title": "x1"},
            "yaxis": {"range": list(self.box[1]), "title": "x2", "scaleanchor": "x"},
            "width": FIGURE_SIZE,
            "height": FIGURE_SIZE,
        }
        return go.FigureWidget(data=data + self._extra_traces(), layout=layout)

    @staticmethod
    def _charge_traces(field: Field) -> dict[str, dict]:
        traces = {}
        for sign, name in ((1, "positive charges"), (-1, "negative charges")):
            x1, x2 = _charge_xy(field, sign)
            traces[name] = {"x": _values(x1), "y": _values(x2)}
        return traces

    def _draw_flow(self, field: Field, title: str) -> None:
        """Streamlines at sigma and samples of a field with Q > 0, and its charges."""
        step = STREAM_STEP * float(self.box[0, 1] - self.box[0, 0])
        paths = plot.trace_streamlines(
            field, self.sigma, self._seed_points.to(field.dtype), step=step
        )
        samples, info = sample(
            field, self.n_samples, steps=self.steps, seed=self.seed, return_info=True
        )
        samples = samples.detach().cpu().double().numpy()
        line_x, line_y = _lines_xy(paths)
        heads = _heads(paths)
        traces = {
            "streamlines": {"x": line_x, "y": line_y},
            "heads": {"x": _values(heads[:, 0]), "y": _values(heads[:, 1])},
            "samples": {"x": _values(samples[:, 0]), "y": _values(samples[:, 1])},
            **self._charge_traces(field),
        }
        self._show(traces, title)
        dropped = info.n_failed
        self._say(
            f"{dropped} of {self.n_samples} trajectories met E_r <= 0 (they ended on negative "
            "charge) and are not shown."
            if dropped
            else ""
        )


class Composer(_FlowPicture):
    """One weight slider per field; draws the flow and samples of sum_k c_k F_k.

    Args:
        fields: fields of point shape (2,) and one D.
        names: a label per field (slider descriptions); "field 1", ... by default.
        weights: starting weights; 1 for the first field and 0 for the others by default.
        sigma: the noise level of the streamlines.
        n_samples, steps: samples drawn per redraw, and the sampler's Heun intervals.
        extent: (x1_lo, x1_hi, x2_lo, x2_hi); by default the box of all the charges.
        weight_range: (lowest, highest) slider weight.
        seed: the prior draws' seed, the same for every redraw.

    Limitation: the streamlines stop where the velocity is undefined (E_r <= 0, above net
    negative charge), so regions of negative charge are left blank rather than drawn.

    Attributes:
        sliders: the ipywidgets FloatSliders, in the order of `fields`.
        charge_label: HTML widget showing the total charge Q.
        figure: plotly FigureWidget with the traces named in TRACES.
        widget: the box to display (displaying the Composer displays it).
    """

    def __init__(
        self,
        fields: Sequence[Field],
        names: Sequence[str] | None = None,
        *,
        weights: Sequence[float] | None = None,
        sigma: float = SIGMA,
        n_samples: int = N_SAMPLES,
        steps: int = STEPS,
        extent: Sequence[float] | None = None,
        weight_range: tuple[float, float] = WEIGHT_RANGE,
        seed: int = 0,
    ) -> None:
        fields = list(fields)
        if not fields:
            raise ValueError("fields must hold at least one field")
        for k, field in enumerate(fields):
            plot.check_drawable(field.shape, {(2,): "2D data"}, f"fields[{k}]")
        names = [f"field {k + 1}" for k in range(len(fields))] if names is None else list(names)
        if len(names) != len(fields):
            raise ValueError(
                f"names must have one entry per field ({len(fields)}), got {len(names)}"
            )
        weights = [1.0] + [0.0] * (len(fields) - 1) if weights is None else list(weights)
        if len(weights) != len(fields):
            raise ValueError(
                f"weights must have one entry per field ({len(fields)}), got {len(weights)}"
            )
        lo, hi = weight_range
        if not lo < hi:
            raise ValueError(
                f"weight_range must be (lowest, highest) with lowest < highest, got {weight_range}"
            )
        Superposition(fields, weights)  # checks one D and one shape before any drawing

        found = [plot.charges_of(f) for f in fields]
        points = None if any(f is None for f in found) else np.concatenate([f[0] for f in found])
        super().__init__(plot.frame(points, extent, 2), sigma, n_samples, steps, seed)
        self.fields = fields
        self.names = names
        self.sliders = [
            widgets.FloatSlider(
                value=w,
                min=lo,
                max=hi,
                step=WEIGHT_STEP,
                description=name,
                continuous_update=False,
            )
            for name, w in zip(names, weights)
        ]
        self.charge_label = widgets.HTML("")
        for slider in self.sliders:
            slider.observe(self._on_change, names="value")
        if not self.redraw():
            self._show({}, "")
        self.widget = widgets.VBox(
            [*self.sliders, self.charge_label, self.message_widget, self.figure]
        )

    @property
    def weights(self) -> list[float]:
        """The sliders' weights c_k."""
        return [slider.value for slider in self.sliders]

    @property
    def field(self) -> Superposition:
        """sum_k c_k F_k at the sliders' weights."""
        return Superposition(self.fields, self.weights)

    def title(self) -> str:
        terms = " + ".join(f"{c:.3g}·{name}" for c, name in zip(self.weights, self.names))
        return f"{terms}, Q = {self.field.total_charge:.3g}, sigma = {self.sigma:g}"

    def _on_change(self, change: dict) -> None:
        self.redraw()

    def redraw(self) -> bool:
        """Draw the current weights; False (and a message) if their total charge is not > 0."""
        field = self.field
        self.charge_label.value = f"total charge Q = {field.total_charge:.3g}"
        if self._refuse(field, "weights " + ", ".join(f"{c:.3g}" for c in self.weights)):
            return False
        self._draw_flow(field, self.title())
        return True


class ChargePainter(_FlowPicture):
    """A 2D canvas where clicks add point charges; the flow and samples follow.

    Args:
        D: the augmented dimension of the painted field.
        sigma: the noise level of the streamlines.
        extent: the canvas (x1_lo, x1_hi, x2_lo, x2_hi).
        n_samples, steps: samples drawn per redraw and the sampler's Heun intervals.
        seed: the prior draws' seed, the same for every redraw.

    Attributes:
        sign: ToggleButtons choosing positive or negative charge for the next click.
        strength: FloatSlider, |q| of the next charge.
        points, charges: the charges painted so far.
        figure: plotly FigureWidget: the traces of TRACES and a clickable "canvas" heatmap.
    """

    def __init__(
        self,
        *,
        D: int | float = 1,
        sigma: float = SIGMA,
        extent: Sequence[float] = CANVAS,
        n_samples: int = N_SAMPLES,
        steps: int = STEPS,
        seed: int = 0,
    ) -> None:
        super().__init__(plot.frame(None, extent, 2), sigma, n_samples, steps, seed)
        self.D = D
        PointCharges(torch.zeros(1, 2), D=D)  # checks D before any drawing
        self.points: list[tuple[float, float]] = []
        self.charges: list[float] = []
        self.sign = widgets.ToggleButtons(options=[("positive", 1.0), ("negative", -1.0)])
        self.strength = widgets.FloatSlider(
            value=1.0,
            min=CHARGE_RANGE[0],
            max=CHARGE_RANGE[1],
            step=WEIGHT_STEP,
            description="|q|",
            continuous_update=False,
        )
        self.clear_button = widgets.Button(description="clear")
        self.clear_button.on_click(lambda _: self.clear())

        self._show({}, "")
        self.canvas = self.trace("canvas")
        self.canvas.on_click(self._on_click)
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.sign, self.strength, self.clear_button]),
                self.message_widget,
                self.figure,
            ]
        )
        self._say("click the canvas to add charges")

    def _extra_traces(self) -> list[go.Heatmap]:
        cells = [np.linspace(lo, hi, CANVAS_CELLS) for lo, hi in self.box]
        # An invisible heatmap over the whole canvas, so that a click anywhere is reported.
        canvas = go.Heatmap(
            x=cells[0].tolist(),
            y=cells[1].tolist(),
            z=np.zeros((CANVAS_CELLS, CANVAS_CELLS)).tolist(),
            name="canvas",
            colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
            showscale=False,
            hoverinfo="none",
        )
        return [canvas]

    @property
    def field(self) -> PointCharges | None:
        """The painted charges' field, or None before the first charge."""
        if not self.charges:
            return None
        return PointCharges(torch.tensor(self.points), torch.tensor(self.charges), D=self.D)

    def _on_click(self, trace: object, points: object, selector: object) -> None:
        for x1, x2 in zip(points.xs, points.ys):
            self.click(x1, x2)

    def click(self, x1: float, x2: float) -> bool:
        """What a click at (x1, x2) does: add a charge of the chosen sign and strength."""
        return self.add_charge(x1, x2, self.sign.value * self.strength.value)

    def add_charge(self, x1: float, x2: float, charge: float) -> bool:
        """Add a charge q at (x1, x2) and redraw; False if the total charge is not > 0."""
        if charge == 0 or not all(math.isfinite(v) for v in (x1, x2, charge)):
            raise ValueError(
                f"a charge needs a finite position and q != 0, got ({x1}, {x2}), {charge}"
            )
        self.points.append((float(x1), float(x2)))
        self.charges.append(float(charge))
        return self.redraw()

    def clear(self) -> None:
        """Remove every charge and empty the picture."""
        self.points, self.charges = [], []
        self._show({name: {"x": [], "y": []} for name in self.TRACES}, "")
        self._say("click the canvas to add charges")

    def redraw(self) -> bool:
        """Draw the painted field; False (and a message) if its total charge is not > 0."""
        field = self.field
        if field is None:
            self.clear()
            return False
        self._show(self._charge_traces(field), None)
        if self._refuse(field, f"{len(self.charges)} charges"):
            return False
        title = (
            f"{len(self.charges)} charges, Q = {field.total_charge:.3g}, "
            f"D = {plot.format_D(self.D)}"
        )
        self._draw_flow(field, title)
        return True


class ImageMixer(_Picture):
    """A weight slider w over image samples of w * first + (1 - w) * second.

    Args:
        first, second: fields of one image shape (C, H, W) and one D, e.g. cats and dogs.
        names: their labels.
        weight: the starting w.
        n_samples, steps: images drawn per redraw and the sampler's Heun intervals.
        weight_range: (lowest, highest) w; beyond [0, 1] one field gets a negative weight.
        seed: the prior draws' seed, the same for every redraw.

    Attributes:
        slider: the FloatSlider of w.
        figure: plotly FigureWidget with one "samples" heatmap of the tiled images.

    Limitation: a redraw samples the composed field anew, which takes a fraction of a second
    for exact fields of a thousand images per class but several seconds for learned U-Net
    fields on a CPU (each of the 2 * steps evaluations runs both networks); lower
    n_samples or steps there.
    """

    def __init__(
        self,
        first: Field,
        second: Field,
        names: Sequence[str] = ("cat", "dog"),
        *,
        weight: float = 0.5,
        n_samples: int = N_IMAGES,
        steps: int = STEPS,
        weight_range: tuple[float, float] = (0.0, 1.0),
        seed: int = 0,
    ) -> None:
        super().__init__()
        for name, field in (("first", first), ("second", second)):
            if len(field.shape) != 3:
                raise ValueError(
                    f"{name} must be a field of images, shape (C, H, W), got shape {field.shape}"
                )
        Superposition([first, second])  # checks one D and one shape before any drawing
        self.first, self.second, self.names = first, second, tuple(names)
        self.n_samples = check_int(n_samples, "n_samples", 1)
        self.steps = check_int(steps, "steps", 1)
        self.seed = seed
        self.slider = widgets.FloatSlider(
            value=weight,
            min=weight_range[0],
            max=weight_range[1],
            step=WEIGHT_STEP,
            description=f"w ({self.names[0]})",
            continuous_update=False,
        )
        self.slider.observe(lambda change: self.redraw(), names="value")
        if not self.redraw():
            self._show({}, "")
        self.widget = widgets.VBox([self.slider, self.message_widget, self.figure])

    def _build(self, traces: dict[str, dict], title: str) -> go.FigureWidget:
        mosaic = go.Heatmap(
            name="samples",
            colorscale="gray",
            zmin=0.0,
            zmax=1.0,
            showscale=False,
            hoverinfo="skip",
            **traces.get("samples", {"z": [[0.0]]}),
        )
        layout = {
            "title": title,
            "yaxis": {"autorange": "reversed", "scaleanchor": "x", "visible": False},
            "xaxis": {"visible": False},
            "width": FIGURE_SIZE,
            "height": FIGURE_SIZE,
        }
        return go.FigureWidget(data=[mosaic], layout=layout)

    @property
    def field(self) -> Superposition:
        """w * first + (1 - w) * second at the slider's w."""
        w = self.slider.value
        return Superposition([self.first, self.second], [w, 1.0 - w])

    def redraw(self) -> bool:
        """Draw samples at the slider's w; False (and a message) if Q is not > 0."""
        w = self.slider.value
        field = self.field
        if self._refuse(field, f"w = {w:.3g}"):
            return False
        images, info = sample(
            field, self.n_samples, steps=self.steps, seed=self.seed, return_info=True
        )
        mosaic = plot.tile_images(images.detach().cpu())
        title = (
            f"{w:.3g}·{self.names[0]} + {1 - w:.3g}·{self.names[1]}, Q = {field.total_charge:.3g}"
        )
        self._show({"samples": {"z": mosaic.mean(2).tolist()}}, title)
        dropped = info.n_failed
        self._say(
            f"{dropped} of {self.n_samples} samples met E_r <= 0 and are not shown."
            if dropped
            else ""
        )
        return True
