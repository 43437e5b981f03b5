"""Static pictures: checked against what they show (directions, counts, titles), not just run."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import fieldlab  # noqa: E402
from fieldlab import plot  # noqa: E402

ALL_D = [1, 128, math.inf]
# A coarse grid keeps each picture fast; the laws checked do not depend on the resolution.
GRID = 30
DENSITY = 0.6


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _collection(ax, label):
    (found,) = [c for c in ax.collections if c.get_label() == label]
    return found


def _stream_steps(ax, label):
    """(start points, unit directions, lengths) of every step of the labelled stream lines."""
    segments = _collection(ax, label).get_segments()
    starts = np.concatenate([s[:-1] for s in segments])
    steps = np.concatenate([np.diff(s, axis=0) for s in segments])
    lengths = np.linalg.norm(steps, axis=1)
    keep = lengths > 0
    return starts[keep], steps[keep] / lengths[keep, None], lengths[keep]


def _share(mask, lengths):
    """The fraction of the drawn length where mask holds (streamplot dithers in tiny steps
    at stagnation points, so steps are weighed by their length, not counted)."""
    return lengths[mask].sum() / lengths.sum()


@pytest.mark.parametrize("D", ALL_D)
def test_field_lines_1d_come_down_onto_positive_charge(D):
    field = fieldlab.PointCharges(torch.tensor([[-2.0], [2.0]]), D=D)
    ax = plot.field_lines_1d(field, grid=GRID, density=DENSITY)

    _, steps, lengths = _stream_steps(ax, "field lines")
    assert len(steps) > 100
    assert _share(steps[:, 1] < 0, lengths) > 0.95


@pytest.mark.parametrize("D", ALL_D)
def test_field_lines_1d_leave_negative_charge(D):
    charges = torch.tensor([1.0, -0.5])
    field = fieldlab.PointCharges(torch.tensor([[-2.0], [2.0]]), charges, D=D)
    ax = plot.field_lines_1d(field, extent=(-4.0, 4.0), sigma_max=2.0, grid=GRID, density=DENSITY)

    starts, steps, lengths = _stream_steps(ax, "field lines")
    s_top = 2.0 * (1.0 if D == math.inf else math.sqrt(D))
    near_negative = (np.abs(starts[:, 0] - 2.0) < 0.5) & (starts[:, 1] < 0.1 * s_top)
    assert near_negative.sum() > 5
    assert _share(steps[near_negative, 1] > 0, lengths[near_negative]) > 0.9
    near_positive = (np.abs(starts[:, 0] + 2.0) < 0.5) & (starts[:, 1] < 0.1 * s_top)
    assert _share(steps[near_positive, 1] < 0, lengths[near_positive]) > 0.9


def test_field_lines_1d_draws_signed_density_on_the_axis():
    charges = torch.tensor([0.75, 0.75, -0.5])
    field = fieldlab.PointCharges(torch.tensor([[-2.0], [-1.0], [2.0]]), charges, D=1)
    ax = plot.field_lines_1d(field, grid=GRID, density=DENSITY)

    bands = [p for p in ax.patches if "density" in p.get_label()]
    assert [p.get_label() for p in bands] == ["data density", "negative charge density"]
    assert all(p.get_path().vertices[:, 1].max() <= 0 for p in bands)
    assert ax.get_ylim()[0] < 0
    assert ax.get_ylabel() == "r = sigma·√D"


@pytest.mark.parametrize("D", [2, math.inf])
def test_flow_2d_streamlines_point_towards_nearest_positive_charge(D):
    points = torch.tensor([[-2.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    field = fieldlab.PointCharges(points, D=D)
    ax = plot.flow_2d(field, 0.3, extent=(-4, 4, -3, 5), grid=GRID, density=DENSITY)

    starts, steps, lengths = _stream_steps(ax, "streamlines")
    gaps = points.numpy()[None] - starts[:, None]
    nearest = gaps[np.arange(len(starts)), np.linalg.norm(gaps, axis=2).argmin(1)]
    far_enough = np.linalg.norm(nearest, axis=1) > 0.3
    towards = (steps * nearest).sum(1) / np.linalg.norm(nearest, axis=1)
    assert far_enough.sum() > 100
    assert _share(towards[far_enough] > 0.5, lengths[far_enough]) > 0.95


def test_flow_2d_marks_charges_and_states_weights():
    good = fieldlab.PointCharges(torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), D=2)
    bad = fieldlab.PointCharges(torch.tensor([[0.0, -1.0], [0.0, -2.0]]), D=2)
    ax = plot.flow_2d(good - 0.5 * bad, 0.5, grid=GRID, density=DENSITY)

    assert len(_collection(ax, "positive charges").get_offsets()) == 3
    assert len(_collection(ax, "negative charges").get_offsets()) == 2
    assert "weights (1, -0.5)" in ax.get_title()
    assert "Q = 0.5" in ax.get_title()


def test_flow_2d_without_potential_draws_no_contours():
    field = fieldlab.PointCharges(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]), D=3)
    ax = plot.flow_2d(field, 0.5, grid=GRID, density=DENSITY, potential=False)
    assert [c.get_label() for c in ax.collections if c.get_label() == "log potential"] == []
    ax = plot.flow_2d(field, 0.5, grid=GRID, density=DENSITY)
    assert len([c for c in ax.collections if c.get_label() == "log potential"]) == 1


def test_pictures_refuse_dimensions_they_cannot_draw():
    field_3d = fieldlab.PointCharges(torch.zeros(2, 3), D=2)
    field_2d = fieldlab.PointCharges(torch.zeros(2, 2), D=2)
    with pytest.raises(ValueError, match=r"2D data \(shape \[2\]\)"):
        plot.flow_2d(field_3d, 0.5)
    with pytest.raises(ValueError, match=r"1D data \(shape \[1\]\)"):
        plot.field_lines_1d(field_2d)
    with pytest.raises(ValueError, match=r"1D points.*2D points"):
        plot.samples_scatter(torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"1D points.*2D points"):
        plot.trajectories(torch.zeros(4, 5, 3))
    with pytest.raises(ValueError, match=r"C = 1 \(grey\) or 3 \(RGB\)"):
        plot.image_grid(torch.zeros(4, 2, 5, 5))
    with pytest.raises(ValueError, match=r"sigma must be > 0"):
        plot.flow_2d(field_2d, -1.0)


def test_samples_scatter_draws_every_sample_and_the_data():
    samples, data = torch.randn(123, 2), torch.randn(45, 2)
    ax = plot.samples_scatter(samples, data)
    assert len(_collection(ax, "samples").get_offsets()) == 123
    assert len(_collection(ax, "data").get_offsets()) == 45
    assert ax.get_title() == "123 samples"


def test_samples_scatter_1d_histograms_are_densities():
    ax = plot.samples_scatter(torch.randn(500, 1), torch.randn(300, 1))

    (outline,) = [p for p in ax.patches if p.get_label() == "samples"]
    bars = [p for p in ax.patches if p is not outline]
    assert len(bars) == plot.DENSITY_BINS
    area = sum(p.get_height() * p.get_width() for p in bars)
    assert area == pytest.approx(1.0, rel=1e-6)


def test_trajectories_draw_one_path_per_sample_ending_at_the_samples():
    levels = torch.linspace(5.0, 0.0, 11)[:, None, None]
    ends = torch.randn(30, 2)
    path = ends[None] + levels * torch.randn(30, 2)[None]
    ax = plot.trajectories(path, max_lines=20)

    assert len(ax.lines) == 20
    np.testing.assert_allclose(_collection(ax, "samples").get_offsets(), ends[:20], atol=1e-6)
    np.testing.assert_allclose(ax.lines[3].get_xydata(), path[:, 3].numpy(), atol=1e-6)


def test_trajectories_1d_use_sigma_as_height():
    sigmas = fieldlab.geometry.edm_sigmas(6)
    path = torch.randn(7, 10, 1)
    ax = plot.trajectories(path, sigmas=sigmas)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), sigmas.numpy())
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match=r"sigmas must have shape \(7,\)"):
        plot.trajectories(path, sigmas=sigmas[:3])


def test_tile_images_maps_pixel_range_to_unit_and_places_images():
    images = torch.stack([torch.full((1, 3, 2), v) for v in (-1.0, 0.0, 1.0, 0.5, -0.5)])
    mosaic = plot.tile_images(images, columns=2, pad=1)

    assert mosaic.shape == (3 * 4 - 1, 2 * 3 - 1, 1)
    assert mosaic[0, 0, 0] == 0.0
    assert mosaic[0, 3, 0] == 0.5
    assert mosaic[4, 0, 0] == 1.0
    assert mosaic[4, 3, 0] == 0.75
    assert mosaic[8, 0, 0] == 0.25
    assert mosaic[8, 3, 0] == 1.0


def test_image_grid_shows_one_mosaic_in_grey():
    ax = plot.image_grid(torch.zeros(6, 1, 4, 4))
    (image,) = ax.images
    assert image.get_array().shape == (2 * 5 - 1, 3 * 5 - 1)
    assert ax.get_title() == "6 images"


def test_denoising_strip_columns_follow_decreasing_sigma():
    sigmas = fieldlab.geometry.edm_sigmas(9)
    # Each level's images are constant, brighter as sigma falls.
    path = torch.linspace(-1.0, 1.0, 10)[:, None, None, None, None].expand(10, 3, 1, 4, 4)
    ax = plot.denoising_strip(path, sigmas=sigmas, columns=4, rows=2)

    mosaic = ax.images[0].get_array()
    assert mosaic.shape == (2 * 5 - 1, 4 * 5 - 1)
    column_values = mosaic[0, ::5]
    assert np.all(np.diff(column_values) > 0)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == f"σ={sigmas[0].item():.3g}" and labels[-1] == "σ=0.002"


@pytest.mark.parametrize("kind", ["points", "images"])
def test_animate_flow_writes_one_gif_frame_per_level(tmp_path, kind):
    shape = (2,) if kind == "points" else (1, 4, 4)
    path = torch.rand(5, 6, *shape) * 2 - 1
    out = tmp_path / "flow.gif"
    fig = plot.animate_flow(path, out, fps=4)

    with Image.open(out) as gif:
        assert gif.n_frames == 5
    assert fig.axes[0].get_title() == "level 4 (5/5)"


@pytest.mark.parametrize("D", [1, 7, math.inf])
def test_field_lines_of_a_point_charge_are_straight_rays(D):
    field = fieldlab.PointCharges(torch.zeros(1, 2, dtype=torch.float64), D=D)
    start = torch.tensor([[0.3, -0.2], [-0.5, 0.1]], dtype=torch.float64)
    xs, ss = plot.trace_field_lines(field, start, 0.1)

    # In (x, s) the field of one charge is radial, so x / s stays what it was at the start.
    ratio = xs / ss[..., None]
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[0], ratio.shape), rtol=1e-6)
    assert np.all(np.diff(ss, axis=0) > 0)
    assert ss[-1].min() > 100 * ss[0].max()


def test_field_lines_stop_above_sigma_max():
    field = fieldlab.PointCharges(torch.zeros(1, 1), D=1)
    xs, ss = plot.trace_field_lines(field, torch.tensor([[0.5]]), 0.1, steps=200, sigma_max=3)
    finite = ss[np.isfinite(ss)]
    assert finite.max() <= 3 * (1 + plot.FIELD_LINE_GROWTH)
    assert np.isnan(ss[-1]).all() and np.isnan(xs[-1]).all()


def test_streamlines_of_a_point_charge_move_straight_in():
    field = fieldlab.PointCharges(torch.zeros(1, 2), D=4)
    seeds = torch.tensor([[3.0, 0.0], [0.0, -2.0], [1.0, 1.0]])
    xs = plot.trace_streamlines(field, 0.5, seeds, steps=5, step=0.1)

    radius = np.linalg.norm(xs, axis=2)
    np.testing.assert_allclose(np.diff(radius, axis=0), -0.1, atol=1e-5)
    np.testing.assert_allclose(
        xs[-1] / radius[-1][:, None], seeds / seeds.norm(dim=1, keepdim=True), atol=1e-5
    )


def test_streamlines_stop_where_the_velocity_is_undefined():
    charges = torch.tensor([1.0, -2.0])
    field = fieldlab.PointCharges(torch.tensor([[-3.0, 0.0], [0.0, 0.0]]), charges, D=3)
    xs = plot.trace_streamlines(field, 0.2, torch.tensor([[0.05, 0.0]]), steps=3)
    assert np.isnan(xs[1:]).all()


def test_quick_mode_follows_the_environment(monkeypatch):
    monkeypatch.setenv(plot.QUICK_ENV, "1")
    assert plot.quick_mode() and plot.choose(full=1000, quick=10) == 10
    monkeypatch.setenv(plot.QUICK_ENV, "0")
    assert not plot.quick_mode() and plot.choose(full=1000, quick=10) == 1000
    monkeypatch.delenv(plot.QUICK_ENV)
    assert not plot.quick_mode()


def test_trajectories_take_the_samplers_trajectory_and_its_sigmas():
    field = fieldlab.PointCharges(torch.tensor([[-1.0], [1.0]]), D=4)
    samples, trajectory = fieldlab.sample(field, 12, steps=5, seed=0, return_trajectory=True)
    ax = plot.trajectories(trajectory)

    np.testing.assert_allclose(ax.lines[0].get_ydata(), trajectory.sigmas.numpy())
    np.testing.assert_allclose(_collection(ax, "samples").get_offsets()[:, 0], samples[:, 0])
    assert ax.get_title() == "12 trajectories, 6 levels"
