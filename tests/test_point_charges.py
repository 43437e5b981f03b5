"""The exact field of point charges against float64 hand computations and the laws of
electrostatics in the augmented space."""

import math

import pytest
import torch

import fieldlab
from fieldlab import point_charges

D_VALUES = [1, 2, 8, 128, math.inf]


def hand_log_weights(x, y, q, sigma, D, power):
    """log q_i rho_i^(-power) in float64, straight from the definition rho^2 = |x-y|^2 + r^2."""
    x, y = x.double().flatten(1), y.double().flatten(1)
    sq = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    if D == math.inf:
        return torch.log(q)[None] - sq / (2 * sigma**2)
    rho2 = sq + sigma**2 * D
    return torch.log(q)[None] - (power / 2) * torch.log(rho2)


def hand_velocity(x, y, q, sigma, D):
    """(x - y_hat) / sigma with y_hat the rho^(-d)-weighted mean of the charges."""
    d = x[0].numel() + D
    w = torch.softmax(hand_log_weights(x, y, q, sigma, D, d), dim=1)
    y_hat = w @ y.double().flatten(1)
    return ((x.double().flatten(1) - y_hat) / sigma).reshape(x.shape)


def hand_log_potential(x, y, q, sigma, D):
    """log sum_i q_i / ((d - 2) rho_i^(d - 2)); the finite part at D = inf."""
    d = x[0].numel() + D
    log_w = hand_log_weights(x, y, q, sigma, D, d - 2)
    if D == math.inf:
        return torch.logsumexp(log_w, 1)
    return torch.logsumexp(log_w, 1) - math.log(d - 2)


@pytest.mark.parametrize("N", [1, 2, 64, 784])
@pytest.mark.parametrize("D", D_VALUES)
def test_velocity_and_log_potential_match_float64_hand_computation(N, D):
    gen = torch.Generator().manual_seed(N * 1000 + (9 if D == math.inf else D))
    n, m = 40, 12
    y = torch.randn(n, N, generator=gen)
    q = torch.rand(n, generator=gen, dtype=torch.float64) + 0.1
    field = fieldlab.PointCharges(y, q, D=D)
    for sigma in [0.01, 0.3, 5.0, 80.0]:
        x = y[:m] + sigma * torch.randn(m, N, generator=gen)
        v = field.velocity(x, sigma).double()
        v_ref = hand_velocity(x, y, q, sigma, D)
        scale = v_ref.norm(dim=1).clamp_min(1e-3)
        err = (v - v_ref).norm(dim=1) / scale
        assert err.max() < 2e-3, (sigma, err.max())
        if N + D == 2:
            with pytest.raises(ValueError, match="logarithmic"):
                field.log_potential(x, sigma)
            continue
        psi = field.log_potential(x, sigma)
        psi_ref = hand_log_potential(x, y, q, sigma, D)
        assert torch.allclose(psi, psi_ref, rtol=1e-5, atol=2e-3), (sigma, psi - psi_ref)


def test_field_matches_hand_components_in_float64():
    gen = torch.Generator().manual_seed(3)
    y = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    q = torch.tensor([0.5, -0.2, 0.3, 0.1, 0.2, 0.1], dtype=torch.float64)
    x = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    sigma, D = 0.7, 4
    value = fieldlab.PointCharges(y, q, D=D).field(x, sigma)
    r = sigma * math.sqrt(D)
    rho2 = ((x[:, None] - y[None]) ** 2).sum(-1) + r**2
    d = 3 + D
    e_x = ((q / rho2 ** (d / 2))[:, :, None] * (x[:, None] - y[None])).sum(1)
    e_r = (q * r / rho2 ** (d / 2)).sum(1)
    scale = torch.exp(value.log_scale)
    assert torch.allclose(scale[:, None] * value.ex, e_x, rtol=1e-10)
    assert torch.allclose(scale * value.er(), e_r, rtol=1e-10)


def sphere_points(n, dim, radius, gen):
    u = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    return radius * u / u.norm(dim=1, keepdim=True)


@pytest.mark.parametrize(("N", "D"), [(2, 1), (2, 3), (1, 2), (3, 2)])
def test_gauss_law_flux_equals_enclosed_charge(N, D):
    """Flux through a sphere of radius R in R^(N+D) is Q_enclosed |S^(d-1)|; dropping the
    constant, R^(d-2) <E . n R> averaged over the sphere equals Q_enclosed."""
    gen = torch.Generator().manual_seed(N + 10 * D)
    inside = 0.6 * (torch.rand(5, N, generator=gen, dtype=torch.float64) - 0.5)
    outside = torch.full((1, N), 3.0, dtype=torch.float64)
    q = torch.tensor([0.4, 0.3, -0.25, 0.2, 0.35, 2.0], dtype=torch.float64)
    field = fieldlab.PointCharges(torch.cat([inside, outside]), q, D=D)
    radius, d = 2.0, N + D
    pts = sphere_points(400_000, d, radius, gen)
    x, z = pts[:, :N], pts[:, N:]
    r = z.norm(dim=1)
    value = field.field(x, r / math.sqrt(D))
    scale = torch.exp(value.log_scale)
    e_dot_n_r = scale * ((value.ex * x).sum(1) + value.er() * r)
    flux = radius ** (d - 2) * e_dot_n_r.mean()
    enclosed = float(q[:5].sum())
    assert abs(flux - enclosed) < 0.01 * enclosed


@pytest.mark.parametrize("D", [2, 8, 128, math.inf])
def test_field_is_negative_gradient_of_potential(D):
    gen = torch.Generator().manual_seed(7)
    y = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    q = torch.rand(8, generator=gen, dtype=torch.float64) + 0.2
    field = fieldlab.PointCharges(y, q, D=D)
    x = torch.randn(5, 3, generator=gen, dtype=torch.float64).requires_grad_()
    sigma = torch.full((5,), 0.8, dtype=torch.float64, requires_grad=True)
    psi = field.log_potential(x, sigma)
    dpsi_dx, dpsi_dsigma = torch.autograd.grad(psi.sum(), (x, sigma))

    value = field.field(x.detach(), sigma.detach())
    ratio = torch.exp(value.log_scale - psi.detach())
    # E / phi = -grad psi, with E_sigma = -(1/D) dphi/dsigma (the limit 1/sigma at D = inf).
    assert torch.allclose(ratio[:, None] * value.ex, -dpsi_dx, rtol=1e-8)
    if D == math.inf:
        assert torch.allclose(ratio * value.esigma, 1 / sigma.detach(), rtol=1e-8)
    else:
        assert torch.allclose(ratio * value.esigma, -dpsi_dsigma / D, rtol=1e-8)


def test_superposition_is_linear_in_charge():
    gen = torch.Generator().manual_seed(11)
    ya, yb = torch.randn(7, 2, generator=gen), torch.randn(5, 2, generator=gen) + 2
    a, b = fieldlab.PointCharges(ya, D=3), fieldlab.PointCharges(yb, D=3)
    combined = 2.0 * a - 0.5 * b
    merged = fieldlab.PointCharges(
        torch.cat([ya, yb]),
        torch.cat([torch.full((7,), 2.0 / 7), torch.full((5,), -0.5 / 5)]),
        D=3,
    )
    x = torch.randn(20, 2, generator=gen) * 2
    for sigma in [0.05, 1.0, 30.0]:
        lhs, rhs = combined.field(x, sigma), merged.field(x, sigma)
        ea, eb = a.field(x, sigma), b.field(x, sigma)
        linear = (
            2 * torch.exp(ea.log_scale)[:, None] * ea.ex.double()
            - 0.5 * torch.exp(eb.log_scale)[:, None] * eb.ex.double()
        )
        assert torch.allclose(
            torch.exp(lhs.log_scale)[:, None] * lhs.ex.double(), linear, rtol=1e-5
        )
        v_lhs, v_rhs = combined.velocity(x, sigma), merged.velocity(x, sigma)
        assert torch.allclose(v_lhs, v_rhs, rtol=1e-4, atol=1e-4, equal_nan=True)
        e_sigma_lhs = torch.exp(lhs.log_scale) * lhs.esigma.double()
        e_sigma_rhs = torch.exp(rhs.log_scale) * rhs.esigma.double()
        assert torch.allclose(e_sigma_lhs, e_sigma_rhs, rtol=1e-5)
    assert combined.total_charge == pytest.approx(1.5)


@pytest.mark.parametrize("N", [2, 64])
def test_large_D_velocity_approaches_the_diffusion_limit(N):
    gen = torch.Generator().manual_seed(N)
    y = torch.randn(30, N, generator=gen)
    x = y[:10] + 0.5 * torch.randn(10, N, generator=gen)
    for sigma in [0.1, 1.0, 10.0]:
        v_big = fieldlab.PointCharges(y, D=10**6).velocity(x, sigma)
        v_inf = fieldlab.PointCharges(y, D=math.inf).velocity(x, sigma)
        rel = (v_big - v_inf).norm(dim=1) / v_inf.norm(dim=1)
        assert rel.max() < 1e-3, (sigma, rel.max())


@pytest.mark.parametrize(("N", "D"), [(9999, 1), (784, 9216), (2, 9998), (2, math.inf)])
@pytest.mark.parametrize("sigma", [1e-4, 1e-2, 1.0, 1e2, 1e4])
def test_float32_stays_finite_for_extreme_d_and_sigma_and_on_a_charge(N, D, sigma):
    gen = torch.Generator().manual_seed(5)
    y = torch.randn(6, N, generator=gen)
    field = fieldlab.PointCharges(y, D=D)
    x = torch.cat([y[:2], y[2:4] + 3.0, 1e3 * torch.ones(1, N)])
    value = field.field(x, sigma)
    v = value.velocity
    assert torch.isfinite(value.log_scale).all()
    assert torch.isfinite(v).all() and (value.esigma > 0).all()
    assert torch.isfinite(field.log_potential(x, sigma)).all()
    # Float32 agrees with float64 where both are finite, on a charge and far from all.
    reference = fieldlab.PointCharges(y.double(), D=D).velocity(x.double(), sigma)
    err = (v.double() - reference).norm(dim=1) / reference.norm(dim=1).clamp_min(1.0)
    assert err.max() < 1e-2
    far = x[-1] - field.centre
    assert torch.dot(v[-1], far) > 0


def test_streamed_sums_do_not_depend_on_block_size(monkeypatch):
    gen = torch.Generator().manual_seed(2)
    y = torch.randn(300, 20, generator=gen)
    q = torch.randn(300, generator=gen, dtype=torch.float64).abs() + 0.01
    x = torch.randn(50, 20, generator=gen)
    field = fieldlab.PointCharges(y, q, D=4)
    v_ref, psi_ref = field.velocity(x, 0.7), field.log_potential(x, 0.7)
    monkeypatch.setattr(point_charges, "BLOCK_PAIRS", 37)
    assert torch.allclose(field.velocity(x, 0.7), v_ref, atol=1e-5)
    assert torch.allclose(field.log_potential(x, 0.7), psi_ref, atol=1e-5)


def test_images_keep_their_shape():
    y = torch.rand(10, 1, 8, 8) * 2 - 1
    field = fieldlab.PointCharges(y, D=16)
    assert field.shape == (1, 8, 8) and field.N == 64
    x = torch.rand(3, 1, 8, 8)
    assert field.velocity(x, 1.0).shape == (3, 1, 8, 8)
    assert field.centre.shape == (1, 8, 8)


def test_sigma_may_differ_per_point():
    y = torch.randn(20, 2)
    field = fieldlab.PointCharges(y, D=2)
    x = torch.randn(4, 2)
    sigma = torch.tensor([0.1, 0.5, 2.0, 10.0])
    per_point = field.velocity(x, sigma)
    for k in range(4):
        assert torch.allclose(per_point[k], field.velocity(x[k : k + 1], float(sigma[k]))[0])


def test_centre_and_total_charge_of_a_signed_set():
    y = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])
    field = fieldlab.PointCharges(y, [1.0, 1.0, -0.5], D=2)
    assert field.total_charge == pytest.approx(1.5)
    assert torch.allclose(field.centre, torch.tensor([2.0 / 1.5, -2.0 / 1.5]))
