"""Field arithmetic: a vector space over charges, checked against merged charge sets."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fieldlab

weights = st.floats(min_value=-4, max_value=4).filter(lambda w: abs(w) > 0.05)


def cluster(seed, centre, n=6):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=gen, dtype=torch.float64) * 0.5 + torch.tensor(centre)


FIELDS = [
    fieldlab.PointCharges(cluster(1, [0.0, 0.0]), D=3),
    fieldlab.PointCharges(cluster(2, [2.0, 0.0]), D=3),
    fieldlab.PointCharges(cluster(3, [0.0, 2.0]), [0.1, 0.2, -0.1, 0.3, 0.2, 0.3], D=3),
]
QUERIES = torch.tensor([[0.3, -0.2], [1.5, 1.5], [-2.0, 3.0], [4.0, -1.0]], dtype=torch.float64)


def linear_field(field, sigma):
    """E_x and E_sigma on a linear scale (float64; fine for these small d)."""
    value = field.field(QUERIES, sigma)
    scale = torch.exp(value.log_scale)
    return torch.cat([scale[:, None] * value.ex, (scale * value.esigma)[:, None]], 1)


def assert_same_field(f, g):
    for sigma in [0.1, 1.0, 10.0]:
        lhs, rhs = linear_field(f, sigma), linear_field(g, sigma)
        assert torch.allclose(lhs, rhs, rtol=1e-9, atol=1e-12 * rhs.abs().max())
    assert f.total_charge == pytest.approx(g.total_charge, rel=1e-12, abs=1e-12)


def merged(weighted):
    """One PointCharges holding every charge of sum_k c_k F_k."""
    points = torch.cat([f.points for _, f in weighted])
    charges = torch.cat([c * f.charges for c, f in weighted])
    return fieldlab.PointCharges(points, charges, D=3)


@settings(max_examples=25, deadline=None)
@given(weights, weights, weights)
def test_addition_is_associative(wa, wb, wc):
    a, b, c = (w * f for w, f in zip([wa, wb, wc], FIELDS))
    assert_same_field((a + b) + c, a + (b + c))
    assert_same_field((a + b) + c, merged(list(zip([wa, wb, wc], FIELDS))))


@settings(max_examples=25, deadline=None)
@given(weights, weights, weights)
def test_scaling_distributes_over_addition(c, wa, wb):
    a, b = wa * FIELDS[0], wb * FIELDS[1]
    assert_same_field(c * (a + b), c * a + c * b)
    assert_same_field(c * (a + b), merged([(c * wa, FIELDS[0]), (c * wb, FIELDS[1])]))


@settings(max_examples=15, deadline=None)
@given(weights)
def test_a_minus_a_has_zero_charge_and_is_refused_by_the_sampler(w):
    a = w * FIELDS[2]
    difference = a - a
    assert difference.total_charge == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="total charge"):
        difference.prior_sample(10)
    with pytest.raises(ValueError, match="total charge"):
        difference.check_samplable()


def test_negative_total_charge_is_refused():
    with pytest.raises(ValueError, match="positive total charge"):
        (-1 * FIELDS[0]).prior_sample(4)


def test_superpose_matches_operators_and_flattens():
    combined = fieldlab.superpose(FIELDS, [0.5, -0.25, 2.0])
    assert_same_field(combined, 0.5 * FIELDS[0] - 0.25 * FIELDS[1] + 2.0 * FIELDS[2])
    nested = fieldlab.superpose([combined, FIELDS[0]], [2.0, 1.0])
    assert nested.weights == [1.0, -0.5, 4.0, 1.0]
    assert all(not isinstance(f, fieldlab.Superposition) for f in nested.fields)


def test_division_and_negation_scale_the_charge():
    f = FIELDS[0]
    assert (f / 4).total_charge == pytest.approx(0.25)
    assert (-f).total_charge == pytest.approx(-1.0)
    assert_same_field(f / 4, 0.25 * f)


def test_centre_of_a_superposition_is_charge_weighted():
    a, b = FIELDS[0], FIELDS[1]
    expected = (0.7 * a.centre + 0.3 * b.centre) / 1.0
    assert torch.allclose((0.7 * a + 0.3 * b).centre, expected)


def test_velocity_of_mixture_at_large_sigma_points_away_from_centre():
    mixture = 0.7 * FIELDS[0] + 0.3 * FIELDS[1]
    far = mixture.centre + torch.tensor([[300.0, 400.0]], dtype=torch.float64)
    v = mixture.velocity(far, 50.0)[0]
    direction = (far[0] - mixture.centre) / 500.0
    assert torch.dot(v / v.norm(), direction) > 0.999
    assert math.isfinite(float(mixture.log_potential(far, 50.0)[0]))
