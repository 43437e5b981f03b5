"""Bad input is refused with an error naming the argument, before anything is computed."""

import math

import numpy as np
import pytest
import torch

import fieldlab

POINTS = torch.randn(5, 2)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_points_are_refused(bad):
    points = POINTS.clone()
    points[2, 1] = bad
    with pytest.raises(ValueError, match="points must be finite"):
        fieldlab.PointCharges(points, D=1)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_charges_are_refused(bad):
    with pytest.raises(ValueError, match="charges must be finite"):
        fieldlab.PointCharges(POINTS, [0.2, 0.2, bad, 0.2, 0.2], D=1)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_queries_are_refused(bad):
    field = fieldlab.PointCharges(POINTS, D=2)
    x = torch.zeros(3, 2)
    x[1, 0] = bad
    with pytest.raises(ValueError, match="x must be finite"):
        field.velocity(x, 1.0)
    with pytest.raises(ValueError, match="x must be finite"):
        field.log_potential(x, 1.0)


def test_empty_point_set_is_refused():
    with pytest.raises(ValueError, match="points must hold at least one point"):
        fieldlab.PointCharges(torch.zeros(0, 2), D=1)


def test_points_without_a_batch_dimension_are_refused():
    with pytest.raises(ValueError, match=r"points must have shape \(n, \*shape\)"):
        fieldlab.PointCharges(torch.zeros(4), D=1)


@pytest.mark.parametrize("charges", [[1.0, 2.0], np.ones(6), torch.ones(5, 1)])
def test_charges_of_the_wrong_length_are_refused(charges):
    with pytest.raises(ValueError, match=r"charges must have shape \(5,\)"):
        fieldlab.PointCharges(POINTS, charges, D=1)


def test_all_zero_charges_are_refused():
    with pytest.raises(ValueError, match="charges must not all be zero"):
        fieldlab.PointCharges(POINTS, torch.zeros(5), D=1)


@pytest.mark.parametrize("D", [0, -1, 2.5, math.nan, -math.inf])
def test_invalid_D_values_are_refused(D):
    with pytest.raises(ValueError, match="D must be an int >= 1 or math.inf"):
        fieldlab.PointCharges(POINTS, D=D)


@pytest.mark.parametrize("D", ["3", None, True])
def test_non_numeric_D_is_refused(D):
    with pytest.raises(TypeError, match="D must be an int >= 1 or math.inf"):
        fieldlab.PointCharges(POINTS, D=D)


def test_float_D_with_an_integer_value_is_accepted():
    assert fieldlab.PointCharges(POINTS, D=4.0).D == 4


@pytest.mark.parametrize("shape", [(3, 3), (3,), (3, 2, 1)])
def test_queries_of_another_shape_are_refused(shape):
    field = fieldlab.PointCharges(POINTS, D=1)
    with pytest.raises(ValueError, match=r"x must have shape \(m, 2\)"):
        field.velocity(torch.zeros(shape), 1.0)


@pytest.mark.parametrize("sigma", [0.0, -1.0, math.nan, torch.ones(4)])
def test_invalid_sigma_is_refused(sigma):
    field = fieldlab.PointCharges(POINTS, D=1)
    with pytest.raises(ValueError, match="sigma"):
        field.velocity(torch.zeros(3, 2), sigma)


def test_fields_of_different_D_cannot_be_added():
    a, b = fieldlab.PointCharges(POINTS, D=1), fieldlab.PointCharges(POINTS, D=math.inf)
    with pytest.raises(ValueError, match="different D"):
        a + b
    with pytest.raises(ValueError, match="different D"):
        a - b


def test_fields_of_different_shape_cannot_be_added():
    a = fieldlab.PointCharges(POINTS, D=1)
    b = fieldlab.PointCharges(torch.randn(5, 3), D=1)
    with pytest.raises(ValueError, match="different shape"):
        a + b


@pytest.mark.parametrize("weight", ["2", None, [1.0], object(), True])
def test_non_numeric_weights_are_refused(weight):
    field = fieldlab.PointCharges(POINTS, D=1)
    with pytest.raises(TypeError, match="weight must be a real number"):
        weight * field
    with pytest.raises(TypeError, match="weight must be a real number"):
        field * weight


@pytest.mark.parametrize("weight", [math.nan, math.inf])
def test_non_finite_weights_are_refused(weight):
    with pytest.raises(ValueError, match="weight must be finite"):
        weight * fieldlab.PointCharges(POINTS, D=1)


def test_only_fields_add_to_fields():
    field = fieldlab.PointCharges(POINTS, D=1)
    with pytest.raises(TypeError, match="can only add a Field"):
        field + 1.0
    with pytest.raises(TypeError, match="can only subtract a Field"):
        field - torch.zeros(2)
    with pytest.raises(TypeError, match="can only add a Field"):
        1.0 + field
    with pytest.raises(TypeError, match="can only subtract a Field"):
        1.0 - field


def test_numpy_and_torch_scalars_are_accepted_as_weights():
    field = fieldlab.PointCharges(POINTS, D=1)
    assert (np.float32(0.5) * field).total_charge == pytest.approx(0.5)
    assert (field * torch.tensor(2.0)).total_charge == pytest.approx(2.0)
