"""Checkpoints of learned fields: safetensors weights with JSON metadata, never a pickle.

A checkpoint is one safetensors file. Its header's metadata holds, under the key "fieldlab",
a JSON object with everything needed to rebuild the field: the format and library version,
D ("inf" for math.inf), the point shape, the parameterization, the network's config, the
centre of charge mu and sigma_data. The tensors "field.*" are the field's network weights
(the EMA weights after training). A training checkpoint adds the raw weights "train.model.*",
the optimizer's moment tensors "train.optim.<k>.<name>" and a JSON "training" entry (step,
optimizer hyperparameters, the run's configuration and a digest of its data), enough to resume
exactly: the random draws of a step depend only on (seed, rank, step).

Writes are atomic: the bytes go to a temporary file in the target's folder, are flushed to disk
(fsync), then renamed over the target (os.replace), so a crash leaves either the old file or
the new one, never half of one. Loading reads and checks the header itself before handing the
file to safetensors, and refuses pickles (torch.save output), truncated files and missing or
malformed metadata with an error that says which.
"""

from __future__ import annotations

import json
import logging
import math
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from ._checks import check_D
from .networks import build
from .potential import PotentialField, check_parameterization, output_features

logger = logging.getLogger(__name__)

FORMAT = "fieldlab.potential-field"
FORMAT_VERSION = 1
METADATA_KEY = "fieldlab"
# safetensors starts with an 8-byte little-endian header length; its own reader caps the
# header at 100 MB, so a larger length means the file is something else.
HEADER_LENGTH_BYTES = 8
MAX_HEADER_BYTES = 100_000_000
# First bytes of a pickle (protocol >= 2) and of torch.save's zip container.
PICKLE_MAGIC = b"\x80"
ZIP_MAGIC = b"PK\x03\x04"


def _version() -> str:
    """fieldlab.__version__, read late so that the package may import this module."""
    from . import __version__

    return __version__


def _encode_D(D: int | float) -> int | str:
    return "inf" if D == math.inf else int(D)


def _decode_D(value: object) -> int | float:
    return math.inf if value == "inf" else check_D(value)


def field_metadata(field: PotentialField) -> dict[str, Any]:
    """The JSON description of a learned field, as stored in a checkpoint."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": _version(),
        "D": _encode_D(field.D),
        "shape": list(field.shape),
        "parameterization": field.parameterization,
        "network": field.network.config,
        "centre": field.centre.detach().cpu().flatten().tolist(),
        "sigma_data": field.sigma_data,
        "base_width": field.base_width,
    }


def _write_atomic(path: Path, payload: bytes) -> None:
    """Write payload to path so that a crash leaves the old file or the new, never a mix."""
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", delete=False)
    try:
        with handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):
        directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _state_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save(
    field: PotentialField, path: str | os.PathLike, *, training: dict[str, Any] | None = None
) -> Path:
    """Write a learned field to a safetensors checkpoint, atomically.

    Args:
        field: the field to store.
        path: the file to write; its folder is created if needed.
        training: optional training state, from `fieldlab.training` (weights, optimizer,
            step); it makes the checkpoint resumable.
    Returns:
        The path written.
    """
    if not isinstance(field, PotentialField):
        raise TypeError(f"field must be a PotentialField, got {type(field).__name__}")
    path = Path(path)
    tensors = _state_tensors("field.", field.network)
    metadata = field_metadata(field)
    if training is not None:
        tensors.update(_state_tensors("train.model.", training["model"]))
        optimizer = training["optimizer"].state_dict()
        for index, state in optimizer["state"].items():
            for name, value in state.items():
                tensors[f"train.optim.{index}.{name}"] = torch.as_tensor(value).cpu().clone()
        metadata["training"] = {
            "step": int(training["step"]),
            "param_groups": optimizer["param_groups"],
            "config": training["config"],
            "data_sha256": training["data_sha256"],
        }
    payload = save_bytes(tensors, metadata={METADATA_KEY: json.dumps(metadata)})
    _write_atomic(path, payload)
    logger.info("saved %s to %s", field, path)
    return path


def _read_checked(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes and its fieldlab metadata, after checking that it is ours and whole."""
    if not path.is_file():
        raise FileNotFoundError(f"path: no checkpoint file at {path}")
    payload = path.read_bytes()
    if payload.startswith(PICKLE_MAGIC) or payload.startswith(ZIP_MAGIC):
        raise ValueError(
            f"{path} is a pickle or a torch.save archive, not a safetensors checkpoint; "
            "fieldlab never unpickles (it could run arbitrary code)"
        )
    if len(payload) < HEADER_LENGTH_BYTES:
        raise ValueError(f"{path} is truncated: {len(payload)} bytes, no safetensors header")
    (header_length,) = struct.unpack("<Q", payload[:HEADER_LENGTH_BYTES])
    body = len(payload) - HEADER_LENGTH_BYTES
    if header_length > min(body, MAX_HEADER_BYTES):
        raise ValueError(
            f"{path} is truncated or not a safetensors file: its header claims "
            f"{header_length} bytes, the file holds {body} after the length"
        )
    try:
        header = json.loads(payload[HEADER_LENGTH_BYTES : HEADER_LENGTH_BYTES + header_length])
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a safetensors file: its header is not JSON") from err
    data_bytes = body - header_length
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    if ends and max(ends) > data_bytes:
        raise ValueError(
            f"{path} is truncated: its tensors need {max(ends)} bytes of data, "
            f"the file holds {data_bytes}"
        )
    raw = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if raw is None:
        raise ValueError(f"{path} has no fieldlab metadata: it is not a fieldlab checkpoint")
    try:
        metadata = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: its fieldlab metadata is not valid JSON") from err
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: its metadata does not describe a {FORMAT} checkpoint")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: checkpoint format version {metadata.get('format_version')!r}, "
            f"this fieldlab reads version {FORMAT_VERSION}"
        )
    missing = [
        k
        for k in (
            "D",
            "shape",
            "parameterization",
            "network",
            "centre",
            "sigma_data",
            "base_width",
        )
        if k not in metadata
    ]
    if missing:
        raise ValueError(f"{path}: its metadata lacks {', '.join(missing)}")
    return payload, metadata


def _load_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"checkpoint weights do not fit its network config: {err}") from err


def _rebuild(
    payload: bytes, metadata: dict[str, Any], path: Path, D: object, device: str | torch.device
) -> tuple[PotentialField, dict[str, torch.Tensor]]:
    stored_D = _decode_D(metadata["D"])
    if D is not None and check_D(D) != stored_D:
        raise ValueError(
            f"D = {D} was asked for, but {path} holds a field trained at D = {stored_D}"
        )
    parameterization = check_parameterization(metadata["parameterization"])
    shape = tuple(int(s) for s in metadata["shape"])
    config = metadata["network"]
    expected = output_features(parameterization, math.prod(shape))
    if not isinstance(config, dict) or config.get("out_features") != expected:
        raise ValueError(
            f"{path}: the network config does not give the {expected} outputs a "
            f"{parameterization!r} field of shape {shape} needs"
        )
    network = build(config)
    tensors = load_bytes(payload)
    _load_state(network, tensors, "field.")
    network.to(device).eval().requires_grad_(False)
    centre = torch.tensor(metadata["centre"], dtype=torch.float32).reshape(shape)
    field = PotentialField(
        network,
        D=stored_D,
        shape=shape,
        centre=centre,
        sigma_data=metadata["sigma_data"],
        parameterization=parameterization,
        base_width=metadata["base_width"],
    )
    if metadata.get("version") != _version():
        logger.warning(
            "%s was written by fieldlab %s, this is %s", path, metadata.get("version"), _version()
        )
    return field, tensors


def load(
    path: str | os.PathLike, *, D: int | float | None = None, device: str | torch.device = "cpu"
) -> PotentialField:
    """Read a learned field from a checkpoint written by `save`; never unpickles.

    Args:
        path: the checkpoint file.
        D: if given, the D the caller expects; a checkpoint of another D is refused.
        device: where to put the network.
    Returns:
        The field, its network in eval mode with gradients off for its weights.
    """
    path = Path(path)
    payload, metadata = _read_checked(path)
    field, _ = _rebuild(payload, metadata, path, D, device)
    return field


def load_training(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[PotentialField, dict[str, Any]]:
    """The field of a training checkpoint and its training state (for `fieldlab.train`).

    Returns:
        (field with the EMA weights, {"model_state", "optimizer_state", "step", "config",
        "data_sha256"}).
    """
    path = Path(path)
    payload, metadata = _read_checked(path)
    if "training" not in metadata:
        raise ValueError(f"{path} holds a field without training state: it cannot be resumed")
    field, tensors = _rebuild(payload, metadata, path, None, device)
    training = metadata["training"]
    model_state = {
        k[len("train.model.") :]: v for k, v in tensors.items() if k.startswith("train.model.")
    }
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("train.optim."):
            index, name = key[len("train.optim.") :].split(".", 1)
            state.setdefault(int(index), {})[name] = value
    return field, {
        "model_state": model_state,
        "optimizer_state": {"state": state, "param_groups": training["param_groups"]},
        "step": training["step"],
        "config": training["config"],
        "data_sha256": training["data_sha256"],
    }
