"""Argument checks shared by every layer: each raises with the argument's name and what was
expected, before anything is computed."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch


def check_D(D: object) -> int | float:
    """Return D as an int >= 1 or math.inf, or raise."""
    if isinstance(D, bool) or not isinstance(D, numbers.Real):
        raise TypeError(f"D must be an int >= 1 or math.inf, got {D!r}")
    if D == math.inf:
        return math.inf
    if not math.isfinite(D) or D != int(D) or D < 1:
        raise ValueError(f"D must be an int >= 1 or math.inf, got {D!r}")
    return int(D)


def check_weight(weight: object, name: str = "weight") -> float:
    """Return a finite real number as float, or raise."""
    if isinstance(weight, torch.Tensor) and weight.numel() == 1:
        weight = weight.item()
    elif isinstance(weight, np.ndarray) and weight.ndim == 0:
        weight = weight.item()
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(weight).__name__}: {weight!r}")
    weight = float(weight)
    if not math.isfinite(weight):
        raise ValueError(f"{name} must be finite, got {weight}")
    return weight


def check_positive(value: object, name: str) -> float:
    """Return a finite, strictly positive number as float, or raise."""
    value = check_weight(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_int(value: object, name: str, minimum: int) -> int:
    """Return an int >= minimum, or raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


def as_tensor(value: object, name: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Convert array-like input to a floating tensor and refuse NaN or inf."""
    if isinstance(value, torch.Tensor):
        tensor = value if value.is_floating_point() else value.to(dtype)
    else:
        try:
            tensor = torch.as_tensor(np.asarray(value), dtype=dtype)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}") from err
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite: it contains NaN or inf")
    return tensor


def check_points(x: object, shape: tuple[int, ...], name: str = "x") -> torch.Tensor:
    """A batch of points of the given per-point shape: a tensor of shape (m, *shape)."""
    tensor = as_tensor(x, name)
    if tuple(tensor.shape[1:]) != tuple(shape) or tensor.dim() != len(shape) + 1:
        raise ValueError(
            f"{name} must have shape (m, {', '.join(map(str, shape))}) for this field, "
            f"got {tuple(tensor.shape)}"
        )
    return tensor


def check_sigma(sigma: object, m: int, like: torch.Tensor, name: str = "sigma") -> torch.Tensor:
    """sigma as a positive tensor of shape (m,), from a float or one value per point."""
    if isinstance(sigma, numbers.Real) and not isinstance(sigma, bool):
        sigma = torch.full((m,), float(sigma), dtype=like.dtype, device=like.device)
    tensor = as_tensor(sigma, name, dtype=like.dtype).to(like.device)
    if tensor.dim() == 0:
        tensor = tensor.expand(m)
    if tensor.shape != (m,):
        raise ValueError(f"{name} must be a float or have shape ({m},), got {tuple(tensor.shape)}")
    if not (tensor > 0).all():
        raise ValueError(f"{name} must be > 0 everywhere")
    return tensor
