"""Training: a short run learns the exact field, resumes exactly, and refuses bad input."""

import inspect
import math

import numpy as np
import pytest
import torch

from fieldlab import PointCharges, geometry
from fieldlab.checkpoint import load
from fieldlab.datasets import toy
from fieldlab.training import (
    LOG_UNIFORM_SHARE,
    LR_FLOOR,
    P_MEAN,
    P_STD,
    PRESETS,
    WARMUP_STEPS,
    draw_sigma,
    learning_rate,
    train,
)

SMALL = {"batch_size": 128, "reference_size": 512, "progress": False}
TINY_NETWORK = {"kind": "mlp", "width": 64, "blocks": 2}
SIGMAS = (0.5, 1.0, 2.0, 5.0)
QUALITY_STEPS = 400


def mean_cosine(field, data, D, sigmas=SIGMAS, seed=1):
    """Mean cosine of the learned velocity against the exact field of data, at perturbed data."""
    exact = PointCharges(data, D=D)
    rng = np.random.default_rng(seed)
    cosines = []
    for sigma in sigmas:
        x = geometry.perturb(data[:400], sigma, D, rng)
        a, b = field.velocity(x, sigma), exact.velocity(x, sigma)
        cosines.append(torch.nn.functional.cosine_similarity(a, b, dim=1).mean().item())
    return float(np.mean(cosines))


@pytest.fixture(scope="module")
def moons():
    """A tiny field trained briefly on moons at D = 128, shared by the quality tests."""
    data = toy("moons", 2000, seed=0)
    field = train(data, D=128, steps=QUALITY_STEPS, network=TINY_NETWORK, **SMALL)
    return data, field


def test_short_training_aligns_velocity_with_the_exact_field(moons):
    # measured: 0.74 untrained, 0.875 after 400 steps of the tiny network (0.76 after 150)
    data, trained = moons
    untrained = train(data, D=128, steps=1, network=TINY_NETWORK, **SMALL)
    before, after = mean_cosine(untrained, data, 128), mean_cosine(trained, data, 128)
    assert before < 0.8
    assert after > 0.85
    assert trained.total_charge == 1.0
    torch.testing.assert_close(trained.centre, data.mean(0))


def test_training_defaults_are_the_toy_preset():
    defaults = inspect.signature(train).parameters
    for key, value in PRESETS["toy-cpu"].items():
        if key != "D":
            assert defaults[key].default == value, key


def test_learning_rate_warms_up_then_decays_along_a_cosine():
    lr, steps = 1e-3, 1000
    assert learning_rate(lr, 0, steps) == pytest.approx(lr / WARMUP_STEPS, rel=1e-3)
    assert learning_rate(lr, WARMUP_STEPS - 1, steps) == pytest.approx(
        lr * (LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * 0.099)))
    )
    assert learning_rate(lr, steps // 2, steps) == pytest.approx(lr * (1 + LR_FLOOR) / 2)
    assert learning_rate(lr, steps, steps) == pytest.approx(lr * LR_FLOOR)


def test_training_noise_levels_are_lognormal_with_a_log_uniform_share():
    sigma = draw_sigma(np.random.default_rng(0), 200_000)
    log_lo, log_hi = math.log(geometry.SIGMA_MIN), math.log(geometry.SIGMA_MAX)
    assert sigma.min() >= geometry.SIGMA_MIN and sigma.max() <= geometry.SIGMA_MAX
    # above sigma = 10 the log-normal holds 0.2% of its mass, the log-uniform part 23%
    above = math.log(10.0)
    lognormal_tail = 0.5 * math.erfc((above - P_MEAN) / (P_STD * math.sqrt(2)))
    uniform_tail = (log_hi - above) / (log_hi - log_lo)
    expected = (1 - LOG_UNIFORM_SHARE) * lognormal_tail + LOG_UNIFORM_SHARE * uniform_tail
    assert (sigma > 10.0).mean() == pytest.approx(expected, abs=3e-3)
    assert np.median(np.log(sigma)) == pytest.approx(P_MEAN, abs=0.15)


def test_training_is_deterministic_given_the_seed():
    data = toy("8gaussians", 500, seed=0)
    options = dict(D=16, steps=4, network=TINY_NETWORK, **SMALL)
    a = train(data, seed=3, **options)
    b = train(data, seed=3, **options)
    c = train(data, seed=4, **options)
    x = torch.randn(32, 2)
    assert torch.equal(a.velocity(x, 0.7), b.velocity(x, 0.7))
    assert not torch.equal(a.velocity(x, 0.7), c.velocity(x, 0.7))


@pytest.mark.parametrize("parameterization", ["potential", "direction+logmag"])
def test_resumed_training_equals_an_uninterrupted_run(tmp_path, parameterization):
    data = toy("rings", 500, seed=0)
    options = dict(
        D=32,
        seed=5,
        parameterization=parameterization,
        ema=0.9,
        decay_steps=8,
        network=TINY_NETWORK,
        **SMALL,
    )
    straight = train(data, steps=8, **options)
    path = tmp_path / "run.safetensors"
    train(data, steps=3, checkpoint=path, **options)
    half = load(path)
    resumed = train(data, steps=8, checkpoint=path, resume=True, **options)

    x = torch.randn(64, 2)
    torch.testing.assert_close(
        resumed.velocity(x, 0.3), straight.velocity(x, 0.3), rtol=1e-6, atol=1e-6
    )
    for (name, p), q in zip(
        straight.network.state_dict().items(), resumed.network.state_dict().values()
    ):
        assert torch.equal(p, q), name
    assert not torch.equal(half.velocity(x, 0.3), straight.velocity(x, 0.3))
    assert load(path).D == 32


def test_resume_refuses_other_data_or_settings(tmp_path):
    data = toy("moons", 300, seed=0)
    path = tmp_path / "run.safetensors"
    train(data, D=8, steps=3, checkpoint=path, **SMALL)
    with pytest.raises(ValueError, match="other data"):
        train(data + 1, D=8, steps=6, checkpoint=path, resume=True, **SMALL)
    with pytest.raises(ValueError, match="other settings"):
        train(data, D=9, steps=6, checkpoint=path, resume=True, **SMALL)


def test_bad_training_input_is_refused():
    good = toy("moons", 50, seed=0)
    with pytest.raises(ValueError, match="finite"):
        train(torch.full((10, 2), math.nan), D=8, steps=1, **SMALL)
    with pytest.raises(ValueError, match="at least two points"):
        train(good[:1], D=8, steps=1, **SMALL)
    with pytest.raises(ValueError, match="MLP takes vectors"):
        train(torch.zeros(10, 1, 4, 4), D=8, steps=1, network="mlp", **SMALL)
    with pytest.raises(ValueError, match="divisible by 4"):
        train(torch.randn(10, 1, 7, 7), D=8, steps=1, **SMALL)
    with pytest.raises(ValueError, match="parameterization"):
        train(good, D=8, steps=1, parameterization="score", **SMALL)
    with pytest.raises(ValueError, match="D must be"):
        train(good, D=0, steps=1, **SMALL)
    with pytest.raises(ValueError, match="logarithmic"):
        train(good[:, :1], D=1, steps=1, **SMALL)
    with pytest.raises(ValueError, match="resume=True needs a checkpoint"):
        train(good, D=8, steps=1, resume=True, **SMALL)
    with pytest.raises(ValueError, match="unknown toy"):
        train("no-such-toy", D=8, steps=1, **SMALL)
