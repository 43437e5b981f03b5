"""Checkpoints: round trips, atomic writes, and refusal of pickles and damaged files."""

import json
import math
import pickle
import struct

import pytest
import torch
from torch import nn

from fieldlab import checkpoint
from fieldlab.checkpoint import load, save
from fieldlab.networks import MLP, UNet
from fieldlab.potential import PotentialField, output_features


def make_field(D=128, parameterization="potential", shape=(2,)):
    torch.manual_seed(0)
    N = math.prod(shape)
    if len(shape) == 1:
        network = MLP(shape, output_features(parameterization, N), width=16, blocks=1)
        nn.init.normal_(network.output.weight)
    else:
        network = UNet(shape, output_features(parameterization, N), channels=(4, 8), width=8)
        nn.init.normal_(network.map_head.weight)
    return PotentialField(
        network,
        D=D,
        shape=shape,
        centre=torch.full(shape, 0.25),
        sigma_data=1.5,
        parameterization=parameterization,
    )


@pytest.mark.parametrize(
    "D, parameterization, shape",
    [
        (128, "potential", (2,)),
        (math.inf, "potential", (2,)),
        (1, "direction", (2,)),
        (3, "direction+logmag", (2,)),
        (64, "potential", (1, 4, 4)),
    ],
)
def test_round_trip_gives_identical_velocities(tmp_path, D, parameterization, shape):
    field = make_field(D, parameterization, shape)
    path = save(field, tmp_path / "field.safetensors")
    loaded = load(path)
    x = torch.randn(8, *shape)
    for sigma in (0.01, 1.0, 30.0):
        # NaN marks points where the scrambled field has E_r <= 0: they must match too
        torch.testing.assert_close(
            field.velocity(x, sigma), loaded.velocity(x, sigma), rtol=0, atol=0, equal_nan=True
        )
    assert (loaded.D, loaded.shape, loaded.parameterization) == (D, shape, parameterization)
    assert loaded.sigma_data == field.sigma_data
    assert torch.equal(loaded.centre, field.centre)


def test_metadata_records_the_field_and_the_library_version(tmp_path):
    import fieldlab

    path = save(make_field(), tmp_path / "f.safetensors")
    (length,) = struct.unpack("<Q", path.read_bytes()[:8])
    header = json.loads(path.read_bytes()[8 : 8 + length])
    meta = json.loads(header["__metadata__"]["fieldlab"])
    assert meta["version"] == fieldlab.__version__
    assert meta["D"] == 128 and meta["shape"] == [2]
    assert meta["network"]["kind"] == "mlp"
    assert meta["centre"] == [0.25, 0.25]


def test_loading_with_another_D_is_refused(tmp_path):
    path = save(make_field(D=128), tmp_path / "f.safetensors")
    with pytest.raises(ValueError, match="D = 64 was asked for.*D = 128"):
        load(path, D=64)
    assert load(path, D=128).D == 128


def test_pickle_checkpoint_is_refused_and_its_payload_never_runs(tmp_path):
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    pickled = tmp_path / "evil.safetensors"
    pickled.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError, match="pickle"):
        load(pickled)
    torch_saved = tmp_path / "evil.pt"
    torch.save({"x": Payload()}, torch_saved)
    marker.unlink(missing_ok=True)
    with pytest.raises(ValueError, match="pickle"):
        load(torch_saved)
    assert not marker.exists()


def test_truncated_checkpoint_is_refused(tmp_path):
    path = save(make_field(), tmp_path / "f.safetensors")
    payload = path.read_bytes()
    for cut in (4, 8 + 10, len(payload) - 16):
        damaged = tmp_path / f"cut{cut}.safetensors"
        damaged.write_bytes(payload[:cut])
        with pytest.raises(ValueError, match="truncated|not a safetensors"):
            load(damaged)


def _rewrite_metadata(path, target, change):
    from safetensors.torch import load_file, save_file

    (length,) = struct.unpack("<Q", path.read_bytes()[:8])
    meta = json.loads(json.loads(path.read_bytes()[8 : 8 + length])["__metadata__"]["fieldlab"])
    change(meta)
    save_file(load_file(path), target, metadata={"fieldlab": json.dumps(meta)})


def test_unknown_parameterization_or_missing_metadata_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = save(make_field(), tmp_path / "f.safetensors")
    unknown = tmp_path / "unknown.safetensors"
    _rewrite_metadata(path, unknown, lambda m: m.update(parameterization="score"))
    with pytest.raises(ValueError, match="parameterization must be one of"):
        load(unknown)
    lacking = tmp_path / "lacking.safetensors"
    _rewrite_metadata(path, lacking, lambda m: m.pop("centre"))
    with pytest.raises(ValueError, match="lacks centre"):
        load(lacking)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(ValueError, match="no fieldlab metadata"):
        load(foreign)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.safetensors")


def test_failed_save_leaves_the_existing_checkpoint_intact(tmp_path, monkeypatch):
    path = save(make_field(), tmp_path / "f.safetensors")
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.os, "replace", crash)
    other = make_field(D=64)
    with pytest.raises(OSError, match="disk full"):
        save(other, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["f.safetensors"]
    assert load(path).D == 128
