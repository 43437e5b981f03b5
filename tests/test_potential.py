"""Learned fields: calibration against the monopole, curl, composition and bad input."""

import math

import pytest
import torch
from torch import nn

from fieldlab import PointCharges
from fieldlab.networks import MLP, UNet
from fieldlab.potential import PotentialField, curl_ratio, output_features

DS = [1, 3, 128, math.inf]
CENTRE = torch.tensor([0.3, -0.5])


def make_field(
    D, parameterization="potential", shape=(2,), centre=CENTRE, scramble=0.0, base_width=0.0
):
    """A field on a fresh MLP; scramble > 0 sets its output layer to random weights."""
    torch.manual_seed(0)
    network = MLP(shape, output_features(parameterization, math.prod(shape)), width=32)
    if scramble:
        nn.init.normal_(network.output.weight, std=scramble)
    return PotentialField(
        network,
        D=D,
        shape=shape,
        centre=centre,
        sigma_data=1.0,
        parameterization=parameterization,
        base_width=base_width,
    )


def log_components(value):
    """log |E_x| per point and log E_sigma, from a ScaledField (linear scale never formed)."""
    log_ex = value.log_scale + torch.log(value.ex.double().flatten(1).norm(dim=1))
    return log_ex, value.log_scale + torch.log(value.esigma.double())


@pytest.mark.parametrize("D", DS)
@pytest.mark.parametrize("sigma", [0.01, 1.0, 50.0])
def test_untrained_field_on_a_bare_base_is_the_unit_monopole_at_the_centre(D, sigma):
    torch.manual_seed(1)
    x = torch.randn(16, 2) * 2
    learned, exact = make_field(D), PointCharges(CENTRE[None].double(), D=D)
    a, b = learned.field(x, sigma), exact.field(x.double(), sigma)

    torch.testing.assert_close(a.velocity.double(), b.velocity, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        (x - CENTRE) / sigma, learned.velocity(x, sigma), rtol=1e-5, atol=1e-5
    )
    for la, lb in zip(log_components(a), log_components(b)):
        # float32 inputs: psi ~ ||x - mu||^2 / (2 sigma^2) carries their relative rounding
        torch.testing.assert_close(la, lb, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(
        learned.log_potential(x, sigma),
        exact.log_potential(x.double(), sigma),
        rtol=1e-6,
        atol=1e-5,
    )
    assert learned.total_charge == 1.0
    torch.testing.assert_close(learned.centre, CENTRE)


@pytest.mark.parametrize("sigma", [0.05, 1.0, 20.0])
def test_untrained_field_at_D_inf_is_the_field_of_a_gaussian_of_width_sigma_data(sigma):
    # sigma_data = 1: a Gaussian cloud N(mu, I) smoothed by sigma has velocity
    # sigma (x - mu) / (sigma^2 + 1)
    x = torch.randn(16, 2) * 2
    field = make_field(math.inf, base_width=None)
    expected = sigma * (x - CENTRE) / (sigma**2 + 1.0)
    torch.testing.assert_close(field.velocity(x, sigma), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("D", [3, 128, math.inf])
@pytest.mark.parametrize("scramble", [0.0, 1.0])
def test_log_potential_approaches_the_monopole_as_sigma_grows(D, scramble):
    field = make_field(D, scramble=scramble, base_width=None)
    exact = PointCharges(CENTRE[None].double(), D=D)
    x = torch.randn(64, 2)
    gaps = [
        (field.log_potential(x, s) - exact.log_potential(x.double(), s)).abs().max().item()
        for s in (0.5, 5.0, 80.0)
    ]
    assert gaps[0] > 1e-2
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.05 * gaps[0]
    assert gaps[2] < 0.05


@pytest.mark.parametrize("D", [1, 128, math.inf])
def test_potential_form_is_curl_free_and_direction_form_is_not(D):
    torch.manual_seed(2)
    x, sigma = torch.randn(32, 2), 0.7
    potential = curl_ratio(make_field(D, scramble=1.0, base_width=None), x, sigma)
    direction = curl_ratio(make_field(D, "direction", scramble=1.0, base_width=None), x, sigma)
    logmag = curl_ratio(make_field(D, "direction+logmag", scramble=1.0, base_width=None), x, sigma)
    assert potential.max() < 1e-5
    assert direction.median() > 1e-2
    assert logmag.median() > 1e-2


def test_field_is_differentiable_in_x_for_divergence():
    field = make_field(128, scramble=1.0)
    x = torch.randn(8, 2, requires_grad=True)
    v = field.velocity(x, 0.5)
    div = sum(torch.autograd.grad(v[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2))
    step = 1e-3
    fd = sum(
        (field.velocity(x + step * e, 0.5)[:, i] - field.velocity(x - step * e, 0.5)[:, i])
        / (2 * step)
        for i, e in enumerate(torch.eye(2))
    )
    torch.testing.assert_close(div.detach(), fd.detach(), rtol=2e-2, atol=2e-2)


def test_learned_fields_compose_like_their_charges():
    x = torch.randn(16, 2)
    a = make_field(128, scramble=0.5)
    b = make_field(128, centre=torch.tensor([2.0, 1.0]))
    exact_b = PointCharges(torch.tensor([[2.0, 1.0]]), D=128)
    mix, mix_exact = 0.7 * a + 0.3 * b, 0.7 * a + 0.3 * exact_b
    torch.testing.assert_close(mix.velocity(x, 1.0), mix_exact.velocity(x, 1.0))
    assert (a - exact_b).total_charge == pytest.approx(0.0)
    assert (a + b).total_charge == pytest.approx(2.0)


def test_composing_different_D_or_shape_is_refused():
    with pytest.raises(ValueError, match="different D"):
        make_field(128) + make_field(math.inf)
    with pytest.raises(ValueError, match="different shape"):
        make_field(128) + make_field(128, shape=(3,), centre=torch.zeros(3))


def test_direction_field_refuses_composition():
    direction = make_field(128, "direction")
    other = make_field(128)
    for compose in (
        lambda: direction + other,
        lambda: other + direction,
        lambda: 0.5 * direction,
        lambda: -direction,
        lambda: other - direction,
        lambda: PointCharges(torch.zeros(1, 2), D=128) + direction,
        lambda: PointCharges(torch.zeros(1, 2), D=128) - direction,
        lambda: direction / 2,
    ):
        with pytest.raises(ValueError, match="direction"):
            compose()
    with pytest.raises(ValueError, match="learns no potential"):
        direction.log_potential(torch.zeros(1, 2), 1.0)


def test_bad_input_is_refused_with_clear_errors():
    with pytest.raises(ValueError, match="N = 1 with D = 1"):
        make_field(1, shape=(1,), centre=torch.zeros(1))
    with pytest.raises(ValueError, match="parameterization"):
        make_field(128, "score")
    with pytest.raises(ValueError, match="MLP takes vectors"):
        MLP((1, 8, 8), 1)
    with pytest.raises(ValueError, match="divisible by 4"):
        UNet((1, 7, 7), 1)
    with pytest.raises(ValueError, match="x must have shape"):
        make_field(128).velocity(torch.zeros(3, 5), 1.0)
    with pytest.raises(ValueError, match="finite"):
        make_field(128).velocity(torch.full((1, 2), math.nan), 1.0)


@pytest.mark.parametrize("size", [8, 28])
def test_unet_field_on_a_bare_base_is_the_monopole_at_init_and_gives_image_velocities(size):
    torch.manual_seed(3)
    shape = (1, size, size)
    network = UNet(shape, 1, channels=(8, 16, 16), width=16)
    field = PotentialField(
        network, D=128, shape=shape, centre=torch.zeros(shape), sigma_data=0.5, base_width=0.0
    )
    x = torch.randn(2, *shape)
    torch.testing.assert_close(field.velocity(x, 2.0), x / 2.0, rtol=1e-5, atol=1e-5)
    nn.init.normal_(network.map_head.weight, std=0.1)
    assert not torch.allclose(field.velocity(x, 2.0), x / 2.0, atol=1e-4)
