"""Widgets driven from Python: move a control, read the FigureWidget's data and the message."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from plotly.callbacks import Points

import fieldlab
from fieldlab import interactive

# Small pictures keep every redraw fast; the behaviour checked does not depend on the size.
SMALL = {"n_samples": 100, "steps": 6}


def _cluster(centre, n=40, spread=0.15, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.tensor(centre) + spread * torch.randn(n, 2, generator=generator)


@pytest.fixture(scope="module")
def two_fields():
    """'pair': clusters at (-2, 0) and (2, 0); 'right': one cluster at (2, 0); D = 3."""
    pair = fieldlab.PointCharges(
        torch.cat([_cluster([-2.0, 0.0]), _cluster([2.0, 0.0], seed=1)]), D=3
    )
    right = fieldlab.PointCharges(_cluster([2.0, 0.0], seed=2), D=3)
    return pair, right


def _samples(picture):
    trace = picture.trace("samples")
    return np.stack([np.asarray(trace.x, dtype=float), np.asarray(trace.y, dtype=float)], 1)


def test_composer_slider_redraws_samples_and_title(two_fields):
    composer = interactive.Composer(two_fields, ["pair", "right"], **SMALL)
    before = _samples(composer)
    assert len(before) == SMALL["n_samples"]
    assert "1·pair + 0·right, Q = 1" in composer.figure.layout.title.text

    composer.sliders[1].value = 0.5

    after = _samples(composer)
    assert len(after) == SMALL["n_samples"]
    assert not np.allclose(before, after)
    assert "1·pair + 0.5·right, Q = 1.5" in composer.figure.layout.title.text
    assert composer.charge_label.value == "total charge Q = 1.5"
    assert composer.message == ""
    assert all(s.continuous_update is False for s in composer.sliders)


def test_composer_refuses_non_positive_charge_and_keeps_the_picture(two_fields):
    composer = interactive.Composer(two_fields, ["pair", "right"], **SMALL)
    samples, lines = _samples(composer), np.asarray(composer.trace("streamlines").x)
    title = composer.figure.layout.title.text

    composer.sliders[0].value = -0.5

    assert "total charge Q = -0.5 is not positive" in composer.message
    assert composer.charge_label.value == "total charge Q = -0.5"
    np.testing.assert_array_equal(_samples(composer), samples)
    np.testing.assert_array_equal(np.asarray(composer.trace("streamlines").x), lines)
    assert composer.figure.layout.title.text == title

    composer.sliders[1].value = 1.0
    # Q = 0.5 > 0 again: redrawn, and the trajectories that ended on the negative charge of
    # -0.5 * pair are counted instead.
    assert "not positive" not in composer.message
    assert "trajectories met E_r <= 0" in composer.message
    assert "-0.5·pair + 1·right, Q = 0.5" in composer.figure.layout.title.text


def test_composer_negative_weight_repels_samples(two_fields):
    composer = interactive.Composer(two_fields, ["pair", "right"], **SMALL)
    near_right = lambda x: np.mean(np.linalg.norm(x - [2.0, 0.0], axis=1) < 1.0)  # noqa: E731
    assert near_right(_samples(composer)) > 0.3

    composer.sliders[1].value = -0.45

    # The right cluster keeps a net charge of 0.5 - 0.45 = 0.05 of Q = 0.55.
    assert near_right(_samples(composer)) < 0.2
    assert len(composer.trace("negative charges").x) == 40
    assert len(composer.trace("positive charges").x) == 80


def test_composer_streamlines_move_towards_the_charges(two_fields):
    composer = interactive.Composer(two_fields[1:], sigma=0.3, **SMALL)
    x = np.asarray(composer.trace("streamlines").x, dtype=float)
    y = np.asarray(composer.trace("streamlines").y, dtype=float)
    starts = composer._seed_points.numpy()
    heads = np.stack([np.asarray(composer.trace("heads").x), composer.trace("heads").y], 1)

    distance = lambda p: np.linalg.norm(p - [2.0, 0.0], axis=1)  # noqa: E731
    far = distance(starts) > 0.5
    assert np.mean(distance(heads)[far] < distance(starts)[far]) > 0.95
    assert np.isnan(x).sum() == np.isnan(y).sum() >= interactive.SEEDS_PER_SIDE**2


def test_composer_refuses_fields_it_cannot_draw():
    line = fieldlab.PointCharges(torch.zeros(3, 1), D=1)
    plane = fieldlab.PointCharges(torch.zeros(3, 2), D=1)
    with pytest.raises(ValueError, match=r"fields\[0\].*2D data"):
        interactive.Composer([line])
    with pytest.raises(ValueError, match="names must have one entry per field"):
        interactive.Composer([plane, plane], ["only one"])
    with pytest.raises(ValueError, match="different D"):
        interactive.Composer([plane, fieldlab.PointCharges(torch.zeros(3, 2), D=2)])


def test_charge_painter_clicks_add_charges_and_redraw():
    painter = interactive.ChargePainter(D=2, sigma=0.3, **SMALL)
    assert "click the canvas" in painter.message

    painter._on_click(painter.canvas, Points([0], [-1.0], [0.5], "canvas", 0), None)
    assert painter.points == [(-1.0, 0.5)] and painter.charges == [1.0]
    first = _samples(painter)
    assert len(first) == SMALL["n_samples"]
    assert np.median(np.linalg.norm(first - [-1.0, 0.5], axis=1)) < 0.1

    painter.sign.value = -1.0
    painter.click(1.0, 0.5)
    assert "total charge Q = 0 is not positive" in painter.message
    np.testing.assert_array_equal(_samples(painter), first)
    assert list(painter.trace("negative charges").x) == [1.0]

    painter.strength.value = 0.5
    painter.sign.value = 1.0
    painter.click(2.0, -2.0)
    assert "Q = 0.5" in painter.figure.layout.title.text
    assert not np.array_equal(_samples(painter), first)

    painter.clear()
    assert painter.field is None and len(painter.trace("samples").x) == 0


def test_image_mixer_weight_moves_samples_between_the_two_fields():
    bright = fieldlab.PointCharges(0.8 + 0.05 * torch.randn(6, 1, 4, 4), D=4)
    dark = fieldlab.PointCharges(-0.8 + 0.05 * torch.randn(6, 1, 4, 4), D=4)
    mixer = interactive.ImageMixer(
        bright, dark, ("bright", "dark"), weight=1.0, n_samples=9, steps=6
    )
    z = np.asarray(mixer.figure.data[0].z)
    assert z.shape == (3 * 5 - 1, 3 * 5 - 1)
    # Pixels in [-1, 1] are shown in [0, 1]: 0.8 is 0.9, -0.8 is 0.1.
    assert z[:4, :4].mean() == pytest.approx(0.9, abs=0.05)
    assert "1·bright + 0·dark" in mixer.figure.layout.title.text

    mixer.slider.value = 0.0
    z = np.asarray(mixer.figure.data[0].z)
    assert z[:4, :4].mean() == pytest.approx(0.1, abs=0.05)
    assert mixer.slider.continuous_update is False


def test_image_mixer_refuses_non_positive_charge():
    small = fieldlab.PointCharges(torch.zeros(2, 1, 3, 3), D=2)
    heavy = fieldlab.PointCharges(torch.ones(2, 1, 3, 3), torch.tensor([1.5, 1.5]), D=2)
    mixer = interactive.ImageMixer(
        small, heavy, weight=1.0, n_samples=4, steps=4, weight_range=(0.0, 2.0)
    )
    z = np.asarray(mixer.figure.data[0].z)

    mixer.slider.value = 1.5  # 1.5 * 1 - 0.5 * 3 = 0

    assert "total charge Q = 0 is not positive (w = 1.5)" in mixer.message
    np.testing.assert_array_equal(np.asarray(mixer.figure.data[0].z), z)
    with pytest.raises(ValueError, match=r"first must be a field of images"):
        interactive.ImageMixer(fieldlab.PointCharges(torch.zeros(2, 2), D=2), small)


@pytest.mark.parametrize("D", [1, 16, math.inf])
def test_field_lines_3d_rise_straight_from_a_lone_charge(D):
    field = fieldlab.PointCharges(0.3 * torch.randn(25, 2, dtype=torch.float64), D=D)
    single = fieldlab.PointCharges(torch.zeros(1, 2, dtype=torch.float64), D=D)
    figure = interactive.field_lines_3d(field, n_lines=10)
    lines = figure.data[0]
    assert lines.name == "field lines"
    assert figure.data[1].name == "positive charges" and len(figure.data[1].x) == 25
    # One NaN gap closes each of the 10 lines.
    assert np.isnan(np.asarray(lines.z, dtype=float)).sum() >= 10
    assert figure.layout.scene.zaxis.title.text == fieldlab.plot.vertical_label(D)

    figure = interactive.field_lines_3d(
        single, data=torch.tensor([[0.5, 0.0]]), n_lines=1, extent=(-4, 4, -4, 4)
    )
    x, y, z = (np.asarray(figure.data[0][k], dtype=float) for k in "xyz")
    keep = np.isfinite(z)
    # The field of one charge is radial in (x, s): the line keeps its start's x / s, rises,
    # and ends where it leaves the box over the plane.
    np.testing.assert_allclose(x[keep] / z[keep], x[0] / z[0], rtol=1e-6)
    np.testing.assert_allclose(y[keep], 0.0, atol=1e-12)
    assert np.all(np.diff(z[keep]) > 0)
    assert 4 - 0.5 < x[keep][-1] <= 4


def test_widgets_display_as_their_widget_box(two_fields):
    composer = interactive.Composer(two_fields[:1], **SMALL)
    bundle = composer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert (
        bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == composer.widget.model_id
    )
