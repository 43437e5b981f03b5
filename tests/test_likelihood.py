"""Log-likelihoods by the instantaneous change of variables, and bits per dimension."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from fieldlab import Field, PointCharges, ScaledField, geometry
from fieldlab.likelihood import LikelihoodInfo, bits_per_dim, log_likelihood

SIGMA_MIN, SIGMA_MAX = geometry.SIGMA_MIN, geometry.SIGMA_MAX


class GaussianData(Field):
    """The exact flow of data Normal(0, diag(s^2)) at D = inf: v = x sigma / (s^2 + sigma^2)."""

    D = math.inf
    total_charge = 1.0

    def __init__(self, s):
        self.s = torch.as_tensor(s, dtype=torch.float32)
        self.shape = tuple(self.s.shape)

    @property
    def centre(self):
        return torch.zeros(self.shape)

    def _scaled_field(self, x, sigma):
        # ex / esigma = x sigma / (s^2 + sigma^2) per coordinate, with esigma = 1.
        log_scale = torch.zeros(len(x), dtype=torch.float64)
        ex = x * sigma[:, None] / (self.s**2 + sigma[:, None] ** 2)
        return ScaledField(log_scale, ex, torch.ones_like(sigma), self.D)

    def _signed_log_potential(self, x, sigma):
        raise NotImplementedError

    def model_log_prob(self, x):
        """The exact log-density of this flow's samples at sigma_min (prior N(0, sigma_max^2)).

        The flow is linear, x(sigma_max) = a x with a = sqrt((s^2 + sigma_max^2) /
        (s^2 + sigma_min^2)) per coordinate, so log p(x) = log N(a x; 0, sigma_max^2) + sum log a.
        """
        s2 = self.s.double() ** 2
        a = torch.sqrt((s2 + SIGMA_MAX**2) / (s2 + SIGMA_MIN**2))
        prior = torch.distributions.Normal(0.0, SIGMA_MAX).log_prob(a * x.double()).sum(1)
        return prior + torch.log(a).sum()


@pytest.mark.parametrize("D", [1, 3, 8, math.inf])
def test_single_charge_likelihood_is_the_kernel_at_sigma_min(D):
    # One charge at y: the flow is x(sigma) = y + (x - y) sigma / sigma_min, which carries the
    # prior (the kernel at sigma_max) onto the kernel at sigma_min.
    y = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    offsets = torch.tensor([[0.003, 0.001], [0.0, -0.004], [0.0005, 0.0]], dtype=torch.float64)
    x = y + offsets
    log_p, info = log_likelihood(PointCharges(y, D=D), x, return_info=True)
    expected = geometry.kernel_log_prob(x, y.expand_as(x), SIGMA_MIN, D)
    assert log_p.dtype == torch.float64 and log_p.shape == (3,)
    assert torch.allclose(log_p, expected, atol=2e-3)
    assert isinstance(info, LikelihoodInfo) and info.n_failed == 0
    assert torch.allclose(info.log_prior + info.divergence_integral, log_p)


def test_gaussian_data_likelihood_matches_the_closed_form():
    field = GaussianData([1.5, 0.7, 3.0])
    x = torch.tensor([[0.0, 0.0, 0.0], [1.0, -0.5, 2.0], [-3.0, 1.0, 6.0]])
    log_p = log_likelihood(field, x, divergence="exact")
    assert torch.allclose(log_p, field.model_log_prob(x), atol=2e-4)
    # The data's own density Normal(0, s^2 + sigma_min^2) differs only because the prior is
    # Normal(0, sigma_max^2) rather than the data's Normal(0, s^2 + sigma_max^2): by about
    # (1/2) sum_j s_j^2 / sigma_max^2 (1 + x_j^2 / s_j^2), under 1e-2 here.
    s2 = field.s.double() ** 2 + SIGMA_MIN**2
    data = torch.distributions.Normal(0.0, s2.sqrt()).log_prob(x.double()).sum(1)
    assert (log_p - data).abs().max() < 1e-2


def test_hutchinson_estimate_is_unbiased():
    field = GaussianData([1.5, 0.2, 3.0, 0.5])
    x = torch.tensor([[0.3, -0.1, 1.0, 0.2], [1.0, 0.1, -2.0, -0.4]])
    exact = log_likelihood(field, x, divergence="exact")
    # The Jacobian is diagonal, so one Rademacher probe (eps_j^2 = 1) is already exact;
    # Gaussian probes average to it.
    rademacher = log_likelihood(field, x, divergence="hutchinson", seed=0)
    assert torch.allclose(rademacher, exact, atol=1e-4)
    probes = 400
    gaussian = log_likelihood(
        field, x, divergence="hutchinson", probe="gaussian", probes=probes, seed=0
    )
    # One probe kept along the trajectory estimates sum_j eps_j^2 I_j, with I_j the integral
    # of dv_j/dx_j = sigma / (s_j^2 + sigma^2), (1/2) log((s_j^2 + sigma_max^2) /
    # (s_j^2 + sigma_min^2)); its variance is 2 sum_j I_j^2 per probe.
    s2 = field.s.double() ** 2
    integrals = 0.5 * torch.log((s2 + SIGMA_MAX**2) / (s2 + SIGMA_MIN**2))
    standard_error = math.sqrt(2 * float(integrals.square().sum()) / probes)
    assert torch.allclose(gaussian, exact, atol=4 * standard_error)
    assert not torch.allclose(gaussian, exact, atol=1e-3)


def test_hutchinson_on_an_exact_field_averages_to_the_exact_divergence():
    points = torch.tensor([[0.0, 0.0], [1.0, 0.5], [-0.5, 1.5]], dtype=torch.float64)
    field = PointCharges(points, D=4)
    x = points + 0.004
    exact = log_likelihood(field, x, divergence="exact")
    single = torch.stack(
        [log_likelihood(field, x, divergence="hutchinson", seed=k) for k in range(8)]
    )
    assert torch.allclose(single.mean(0), exact, atol=0.1)


def test_same_seed_gives_the_same_estimate():
    field = GaussianData([1.5, 0.2, 3.0])
    x = torch.tensor([[0.3, -0.1, 1.0]])
    a, b, c = (
        log_likelihood(field, x, divergence="hutchinson", probe="gaussian", seed=seed)
        for seed in (4, 4, 5)
    )
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_probabilities_of_all_pixel_levels_sum_to_the_mass_inside_the_range():
    # One-pixel images, x_k = k / 127.5 - 1: 2^(-N bpd) is the probability of level k,
    # so the sum over the 256 levels is the model's mass on [-1 - Delta/2, 1 + Delta/2].
    s = 0.3
    field = GaussianData([s])
    levels = torch.arange(256, dtype=torch.float64)[:, None] / 127.5 - 1
    bpd = bits_per_dim(field, levels, dequantize=False)
    total = torch.exp2(-bpd).sum()
    half_width = 1 + 1 / 255
    spread = math.sqrt(s**2 + SIGMA_MIN**2) * math.sqrt(SIGMA_MAX**2 / (s**2 + SIGMA_MAX**2))
    mass = math.erf(half_width / (spread * math.sqrt(2)))
    assert abs(float(total) - mass) < 1e-3


def test_bits_per_dim_converts_the_likelihood_with_the_bin_width():
    field = GaussianData([0.5, 0.5, 0.5, 0.5])
    images = torch.tensor([[-1.0, 1.0, 3 / 255, -7 / 255]])
    log_p = log_likelihood(field, images)
    bpd = bits_per_dim(field, images, dequantize=False)
    assert torch.allclose(bpd, -log_p / (4 * math.log(2)) - math.log2(2 / 255))
    # Dequantisation noise stays inside the bins and is seeded.
    noisy = bits_per_dim(field, images, seed=0)
    assert torch.equal(noisy, bits_per_dim(field, images, seed=0))
    assert (noisy - bpd).abs().max() < 0.05


def test_points_off_every_field_line_from_infinity_have_zero_density(caplog):
    # Just beside a negative charge E_r < 0 at sigma_min: no trajectory from the prior ends
    # there, so log p = -inf, reported and never NaN.
    field = PointCharges([[0.0]], D=1) - 0.2 * PointCharges([[1.0]], D=1)
    x = torch.tensor([[1.0005], [-0.0002]])
    with caplog.at_level(logging.WARNING, logger="fieldlab.likelihood"):
        log_p, info = log_likelihood(field, x, return_info=True)
    assert log_p[0] == -math.inf and torch.isfinite(log_p[1])
    assert info.completed.tolist() == [False, True]
    assert "1 of 2 forward trajectories" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"divergence": "jacobian"}, ValueError, "divergence must be one of"),
        ({"probe": "uniform"}, ValueError, "probe must be one of"),
        ({"probes": 0}, ValueError, "probes must be an int >= 1"),
        ({"solver": "rk45"}, ValueError, "known solvers"),
        ({"sigma_min": 100.0}, ValueError, "sigma_min must be < sigma_max"),
        ({"x": torch.zeros(2, 3)}, ValueError, r"x must have shape \(m, 2\)"),
    ],
)
def test_bad_likelihood_arguments_are_refused(kwargs, error, message):
    field = PointCharges([[0.0, 0.0], [1.0, 1.0]], D=2)
    arguments = {"x": torch.zeros(2, 2), **kwargs}
    with pytest.raises(error, match=message):
        log_likelihood(field, **arguments)


def test_fields_without_positive_charge_have_no_likelihood():
    field = PointCharges([[0.0, 0.0]], D=2)
    with pytest.raises(ValueError, match="positive total charge"):
        log_likelihood(-field, torch.zeros(1, 2))
    with pytest.raises(ValueError, match="bin_width must be > 0"):
        bits_per_dim(field, torch.zeros(1, 2), bin_width=0.0)
