"""Measures: W2 against hand-solved cases, sliced W2, MMD, nearest neighbours, classifier."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fieldlab import datasets, metrics

# Measured: the held-out accuracy on cats against dogs is 0.935 (seed 0); the bound leaves room
# for other library versions.
CATS_DOGS_ACCURACY_BOUND = 0.88


def _cloud(n: int, dim: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=generator, dtype=torch.float64)


def test_w2_of_shifted_point_set_equals_shift_norm():
    points = _cloud(60, 3, seed=0)
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)

    assert metrics.w2(points, points + shift) == pytest.approx(float(shift.norm()), rel=1e-9)


def test_w2_of_two_point_sets_matches_hand_solution():
    # Matching straight up costs 3 per point; matching across costs 5 per point.
    a = torch.tensor([[0.0, 0.0], [4.0, 0.0]])
    b = torch.tensor([[4.0, 3.0], [0.0, 3.0]])

    assert metrics.w2(a, b) == pytest.approx(3.0)


def test_w2_between_sets_of_different_sizes_splits_the_mass():
    # The one point at 0 sends half its mass to -1 and half to +1: W2^2 = 1.
    assert metrics.w2(torch.zeros(1, 1), torch.tensor([[-1.0], [1.0]])) == pytest.approx(1.0)


def test_w2_is_zero_for_identical_sets_and_symmetric():
    a, b = _cloud(40, 2, seed=1), _cloud(30, 2, seed=2)

    assert metrics.w2(a, a) == pytest.approx(0.0, abs=1e-7)
    assert metrics.w2(a, b) == pytest.approx(metrics.w2(b, a), rel=1e-9)


def test_w2_flattens_images_and_takes_numpy():
    a = np.zeros((5, 1, 2, 2))
    assert metrics.w2(a, a + 0.5) == pytest.approx(1.0)


@pytest.mark.parametrize("sizes", [(50, 50), (37, 50)])
def test_sliced_w2_equals_exact_w2_in_one_dimension(sizes):
    a, b = _cloud(sizes[0], 1, seed=3), _cloud(sizes[1], 1, seed=4) * 2 + 1

    assert metrics.sliced_w2(a, b) == pytest.approx(metrics.w2(a, b), rel=1e-7)


def test_sliced_w2_of_a_shift_is_its_norm_over_root_dimension():
    # Along a unit direction theta the shift moves every point by theta.v, and
    # E (theta.v)^2 = |v|^2 / N for theta uniform on the sphere.
    points = _cloud(200, 4, seed=5)
    shift = torch.tensor([3.0, 0.0, -1.0, 2.0], dtype=torch.float64)
    sliced = metrics.sliced_w2(points, points + shift, projections=4000, seed=0)

    assert sliced == pytest.approx(float(shift.norm()) / 2.0, rel=0.03)


def test_sliced_w2_never_exceeds_exact_w2():
    a, b = _cloud(80, 3, seed=6), _cloud(80, 3, seed=7) * 1.5

    assert metrics.sliced_w2(a, b, seed=1) <= metrics.w2(a, b)


def test_sliced_w2_is_deterministic_under_its_seed():
    a, b = _cloud(30, 5, seed=8), _cloud(30, 5, seed=9)

    first = metrics.sliced_w2(a, b, projections=10, seed=2)
    assert first == metrics.sliced_w2(a, b, projections=10, seed=2)
    assert first != metrics.sliced_w2(a, b, projections=10, seed=3)


def test_biased_mmd_is_zero_for_identical_sets_and_positive_for_different():
    a = datasets.toy("moons", 300, seed=0)
    b = datasets.toy("rings", 300, seed=0)

    assert metrics.mmd2(a, a) == pytest.approx(0.0, abs=1e-12)
    assert metrics.mmd2(a, b) > 0.05


def test_mmd_of_single_points_matches_hand_formula():
    a, b = torch.zeros(1, 1), torch.ones(1, 1)
    bandwidths = (1.0, 2.0)
    expected = 2 * len(bandwidths) - 2 * sum(math.exp(-1 / (2 * h**2)) for h in bandwidths)

    assert metrics.mmd2(a, b, bandwidths=bandwidths) == pytest.approx(expected)


def test_unbiased_mmd_matches_brute_force_u_statistic():
    a, b = _cloud(9, 2, seed=10), _cloud(7, 2, seed=11) + 0.5
    h = 0.7

    def k(x, y):
        return torch.exp(-(torch.cdist(x, y).double() ** 2) / (2 * h**2))

    kaa, kbb = k(a, a), k(b, b)
    expected = (
        (kaa.sum() - kaa.trace()) / (9 * 8)
        + (kbb.sum() - kbb.trace()) / (7 * 6)
        - 2 * k(a, b).mean()
    )
    assert metrics.mmd2(a, b, bandwidths=[h], unbiased=True) == pytest.approx(float(expected))


def test_unbiased_mmd_of_two_draws_of_one_distribution_is_near_zero():
    a = datasets.toy("8gaussians", 400, seed=0)
    b = datasets.toy("8gaussians", 400, seed=1)
    c = datasets.toy("checkerboard", 400, seed=0)

    same = metrics.mmd2(a, b, unbiased=True, bandwidths=(0.5, 1.0, 2.0))
    different = metrics.mmd2(a, c, unbiased=True, bandwidths=(0.5, 1.0, 2.0))
    assert abs(same) < 0.1 * different


def test_nearest_distance_matches_brute_force_in_small_chunks():
    samples, points = _cloud(50, 3, seed=12), _cloud(33, 3, seed=13)
    brute = torch.cdist(samples.double(), points.double()).min(dim=1).values

    nearest = metrics.nearest_distance(samples, points, chunk=7)
    assert nearest.shape == (50,)
    assert torch.allclose(nearest, brute, rtol=1e-9, atol=1e-9)


def test_nearest_distance_of_a_training_copy_is_zero():
    points = _cloud(20, 2, seed=14)
    samples = torch.cat([points[:3], points[:2] + 10.0])

    nearest = metrics.nearest_distance(samples, points)
    assert nearest[:3].tolist() == [0.0, 0.0, 0.0]
    assert metrics.count_near(samples, points, radius=1e-6) == 3


def test_w2_floor_of_a_sampler_is_reproducible_and_positive():
    def moons(n, seed):
        return datasets.toy("moons", n, seed=seed)

    floor = metrics.w2_floor(moons, 200, seed=0, repeats=2)
    assert floor.n == 200 and floor.repeats == 2
    assert 0.0 < floor.mean < 1.0 and floor.std >= 0.0
    assert floor == metrics.w2_floor(moons, 200, seed=0, repeats=2)


def test_w2_floor_shrinks_as_the_draws_grow():
    reference = datasets.toy("8gaussians", 2000, seed=0)

    small = metrics.w2_floor(reference, 50, seed=0)
    large = metrics.w2_floor(reference, 1000, seed=0)
    assert large.mean < small.mean


def test_w2_floor_of_a_point_mass_is_zero():
    assert metrics.w2_floor(torch.ones(20, 2), 10, repeats=1).mean == pytest.approx(0.0)


def test_w2_floor_refuses_a_reference_too_small_to_split():
    with pytest.raises(ValueError, match="reference: expected at least 2 n = 20 points"):
        metrics.w2_floor(torch.zeros(15, 2), 10)


@pytest.mark.parametrize(
    "measure", [metrics.w2, metrics.sliced_w2, metrics.mmd2, metrics.nearest_distance]
)
def test_measures_refuse_sets_of_different_dimension(measure):
    with pytest.raises(ValueError, match=r"expected points of shape \(2,\).*got \(3,\)"):
        measure(torch.zeros(4, 2), torch.zeros(4, 3))


@pytest.mark.parametrize("measure", [metrics.w2, metrics.sliced_w2, metrics.mmd2])
def test_measures_refuse_nan(measure):
    bad = torch.zeros(4, 2)
    bad[1, 0] = math.nan

    with pytest.raises(ValueError, match="a: expected finite numbers"):
        measure(bad, torch.zeros(4, 2))


def test_measures_refuse_an_empty_set_and_a_list():
    with pytest.raises(ValueError, match="b: expected at least one point"):
        metrics.w2(torch.zeros(3, 2), torch.zeros(0, 2))
    with pytest.raises(TypeError, match="a: expected a torch tensor or numpy array"):
        metrics.w2([[0.0, 1.0]], torch.zeros(3, 2))


def test_sliced_w2_refuses_zero_projections():
    with pytest.raises(ValueError, match="projections: expected a positive int"):
        metrics.sliced_w2(torch.zeros(3, 2), torch.zeros(3, 2), projections=0)


@pytest.fixture(scope="module")
def cats_dogs():
    images, labels, names = datasets.animals(["cat", "dog"], return_labels=True)
    return images, labels, names, metrics.ProportionClassifier(seed=0).fit(images, labels, names)


def test_classifier_tells_cats_from_dogs_far_above_chance(cats_dogs):
    *_, classifier = cats_dogs

    assert classifier.accuracy > CATS_DOGS_ACCURACY_BOUND
    assert classifier.class_names == ("cat", "dog")


def test_classifier_proportions_follow_the_classes_shown(cats_dogs):
    images, labels, _, classifier = cats_dogs
    # Three cats to one dog, taken from the real images.
    mixed = torch.cat([images[labels == 0][:300], images[labels == 1][:100]])

    proportions = classifier.proportions(mixed)
    assert proportions.shape == (2,)
    assert float(proportions.sum()) == pytest.approx(1.0)
    assert float(proportions[0]) == pytest.approx(0.75, abs=0.05)


def test_classifier_refuses_samples_of_another_shape(cats_dogs):
    *_, classifier = cats_dogs

    with pytest.raises(ValueError, match=r"samples: expected images of shape \(1, 28, 28\)"):
        classifier.proportions(torch.zeros(3, 1, 8, 8))


def test_classifier_must_be_fitted_before_use():
    with pytest.raises(RuntimeError, match="call fit"):
        metrics.ProportionClassifier().proportions(torch.zeros(2, 1, 8, 8))
