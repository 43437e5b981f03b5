"""The augmented space alone: schedule, kernels, prior and perturbation."""

import math

import numpy as np
import pytest
import torch

from fieldlab import geometry


def test_edm_schedule_runs_from_sigma_max_to_sigma_min():
    sigmas = geometry.edm_sigmas(18)
    assert sigmas.shape == (19,)
    assert sigmas[0] == 80.0 and sigmas[-1] == 0.002
    assert (sigmas[1:] < sigmas[:-1]).all()
    # Karras et al.'s rho = 7 spacing: the 1/rho-th powers are evenly spaced.
    roots = sigmas ** (1 / 7)
    assert torch.allclose(roots[1:] - roots[:-1], (roots[1] - roots[0]).expand(18))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be an int >= 1"),
        ({"steps": 5, "sigma_min": 2.0, "sigma_max": 1.0}, "sigma_min must be < sigma_max"),
        ({"steps": 5, "sigma_min": 0.0}, "sigma_min must be > 0"),
    ],
)
def test_edm_schedule_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        geometry.edm_sigmas(**kwargs)


@pytest.mark.parametrize("D", [1, 3, 8, math.inf])
def test_kernel_density_integrates_to_one_in_one_dimension(D):
    x = torch.linspace(-400, 400, 400_001, dtype=torch.float64)[:, None]
    sigma = 0.9
    density = torch.exp(geometry.kernel_log_prob(x, torch.zeros_like(x), sigma, D))
    integral = torch.trapezoid(density, x[:, 0])
    # D = 1 has tails ~ 1/x^2: the mass beyond |x| = 400 is about 2 r / (pi 400).
    tail = 2 * sigma / (math.pi * 400) if D == 1 else 0.0
    assert float(integral) == pytest.approx(1.0 - tail, abs=1e-4)


def test_kernel_normalizer_approaches_the_gaussian_as_D_grows():
    sigma = torch.tensor([0.3, 2.0])
    big = geometry.log_kernel_normalizer(sigma, 5, 10**7)
    assert torch.allclose(big, geometry.log_kernel_normalizer(sigma, 5, math.inf), atol=1e-5)


@pytest.mark.parametrize(("N", "D"), [(2, 8), (5, 30), (3, math.inf)])
def test_perturbation_radius_has_the_kernel_second_moment(N, D):
    """E R^2 = r^2 E[B / (1 - B)] = sigma^2 N D / (D - 2), and sigma^2 N at D = inf."""
    rng = np.random.default_rng(0)
    sigma = 1.7
    y = torch.zeros(200_000, N, dtype=torch.float64)
    x = geometry.perturb(y, sigma, D, rng)
    expected = sigma**2 * N * (1.0 if D == math.inf else D / (D - 2))
    assert float(x.square().sum(1).mean()) == pytest.approx(expected, rel=0.01)
    # The direction is isotropic: the mean of x / |x| vanishes.
    assert (x / x.norm(dim=1, keepdim=True)).mean(0).abs().max() < 0.01


def test_gaussian_prior_has_the_right_covariance():
    rng = np.random.default_rng(1)
    mu = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    x = geometry.prior_sample(100_000, mu, math.inf, sigma_max=3.0, rng=rng)
    assert torch.allclose(x.mean(0), mu, atol=0.03)
    cov = torch.cov(x.T)
    assert torch.allclose(cov, 9.0 * torch.eye(3, dtype=torch.float64), atol=0.1)


def test_perturbation_is_reproducible_under_a_seed():
    y = torch.zeros(10, 1, 4, 4)
    a = geometry.perturb(y, 0.5, 16, np.random.default_rng(3))
    b = geometry.perturb(y, 0.5, 16, np.random.default_rng(3))
    assert torch.equal(a, b) and a.shape == y.shape


def test_r_is_undefined_at_infinite_D():
    assert geometry.sigma_to_r(2.0, 4) == 4.0
    assert geometry.r_to_sigma(4.0, 4) == 2.0
    with pytest.raises(ValueError, match="infinite"):
        geometry.sigma_to_r(2.0, math.inf)
