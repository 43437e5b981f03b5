"""Networks behind learned fields: an MLP for vectors and a small U-Net for images.

Both map preconditioned inputs to a few numbers per point,

    network(x_in, c_noise) -> (m, out_features),

where x_in = c_in (x - mu) has shape (m, *shape) and c_noise = log(sigma) / 4 has shape (m,)
(EDM's preconditioning, Karras et al. 2022, table 1). The noise level enters through Fourier
features of c_noise. The output layer starts at zero, so an untrained network outputs 0 and the
field built on it starts as the monopole of its centre of charge (see `potential`).

Activations are SiLU: the field is a gradient of the network's output and training
differentiates that gradient again, so the network must be smooth (ReLU's second derivative
vanishes almost everywhere).

Every network keeps the keyword arguments that built it in `config`, so `build(config)`
rebuilds it for a checkpoint without pickling anything.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ._checks import check_int

# Fourier features of c_noise: frequencies pi * 2^k, k = 0 .. FOURIER_FEATURES - 1. c_noise
# spans about [-1.6, 1.1] over sigma in [0.002, 80], so 2^5 pi resolves steps in log sigma
# of about 0.1 and the slowest frequency is still monotone over the whole range.
FOURIER_FEATURES = 6
# Channels per group of GroupNorm in the U-Net (at most; fewer channels use one group each).
GROUPS = 8


def _fourier(c_noise: torch.Tensor) -> torch.Tensor:
    """(m,) -> (m, 2 FOURIER_FEATURES + 1): c_noise, cos and sin of pi 2^k c_noise."""
    k = torch.arange(FOURIER_FEATURES, dtype=c_noise.dtype, device=c_noise.device)
    angle = c_noise[:, None] * (math.pi * 2.0**k)
    return torch.cat([c_noise[:, None], torch.cos(angle), torch.sin(angle)], dim=1)


EMBEDDING_INPUTS = 2 * FOURIER_FEATURES + 1


class NoiseEmbedding(nn.Module):
    """Fourier features of c_noise followed by a two-layer MLP."""

    def __init__(self, width: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(EMBEDDING_INPUTS, width), nn.SiLU(), nn.Linear(width, width)
        )

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        return self.layers(_fourier(c_noise))


class MLP(nn.Module):
    """Residual MLP on flattened points, with the noise embedding added in every block.

    Args:
        shape: one point's shape; a vector (N,) is the intended use. Images are refused: their
            pixels have structure an MLP ignores, use `UNet`.
        out_features: numbers per point.
        width: hidden width.
        blocks: number of residual blocks.
    """

    def __init__(
        self, shape: tuple[int, ...], out_features: int, *, width: int = 128, blocks: int = 3
    ):
        super().__init__()
        shape = tuple(int(s) for s in shape)
        if len(shape) != 1:
            raise ValueError(
                f"shape: the MLP takes vectors of shape (N,), got {shape}; use network='unet' "
                "for images (C, H, W), or flatten them first"
            )
        check_int(out_features, "out_features", 1)
        check_int(width, "width", 1)
        check_int(blocks, "blocks", 1)
        self.config: dict[str, Any] = {
            "kind": "mlp",
            "shape": list(shape),
            "out_features": out_features,
            "width": width,
            "blocks": blocks,
        }
        self.embedding = NoiseEmbedding(width)
        self.input = nn.Linear(shape[0], width)
        self.inner = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.outer = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.noise = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.output = nn.Linear(width, out_features)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, x_in: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        e = self.embedding(c_noise)
        h = self.input(x_in) + e
        act = nn.functional.silu
        for inner, outer, noise in zip(self.inner, self.outer, self.noise):
            h = h + outer(act(inner(act(h)) + noise(e)))
        return self.output(act(h))


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(max(1, channels // GROUPS), channels)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the noise embedding added in between, with a skip."""

    def __init__(self, c_in: int, c_out: int, width: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.noise = nn.Linear(width, c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        act = nn.functional.silu
        out = self.conv1(act(self.norm1(h))) + self.noise(e)[:, :, None, None]
        out = self.conv2(act(self.norm2(out)))
        return self.skip(h) + out


class UNet(nn.Module):
    """A small convolutional U-Net on images (C, H, W) with scalar and per-pixel heads.

    The decoder's top feature map feeds two heads: a 1x1 convolution to C channels (the
    per-pixel map m(x)) and a global average pool followed by a linear layer (scalars s(x)).
    With out_features = 1 the output is one number, <m(x), x_in> / sqrt(N) + s(x): the energy
    form that lets the per-pixel head act like a denoiser's output. With out_features = N + k
    the output is the flattened map followed by k scalars.

    Args:
        shape: (C, H, W); H and W must be divisible by 2^(levels - 1).
        out_features: 1, or N + k for k >= 0 extra scalars.
        channels: channels per resolution level, e.g. (32, 64, 64): three levels.
        width: noise-embedding width.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        out_features: int,
        *,
        channels: tuple[int, ...] | list[int] = (32, 64, 64),
        width: int = 128,
    ):
        super().__init__()
        shape = tuple(int(s) for s in shape)
        if len(shape) != 3:
            raise ValueError(f"shape: the U-Net takes images (C, H, W), got {shape}")
        channels = [check_int(c, "channels", 1) for c in channels]
        if not channels:
            raise ValueError("channels must name at least one level")
        C, H, W = shape
        factor = 2 ** (len(channels) - 1)
        if H % factor or W % factor:
            raise ValueError(
                f"shape: a U-Net with {len(channels)} levels halves H and W "
                f"{len(channels) - 1} times, so they must be divisible by {factor}; "
                f"got {H}x{W}"
            )
        N = C * H * W
        out_features = check_int(out_features, "out_features", 1)
        if out_features != 1 and out_features < N:
            raise ValueError(f"out_features must be 1 or at least N = {N}, got {out_features}")
        self.config: dict[str, Any] = {
            "kind": "unet",
            "shape": list(shape),
            "out_features": out_features,
            "channels": list(channels),
            "width": width,
        }
        self.N = N
        self.out_features = out_features
        self.embedding = NoiseEmbedding(width)
        self.input = nn.Conv2d(C, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        for level, c in enumerate(channels):
            previous = channels[max(level - 1, 0)]
            self.down.append(ResBlock(previous, c, width))
            if level < len(channels) - 1:
                self.pool.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.middle = ResBlock(channels[-1], channels[-1], width)
        self.up = nn.ModuleList()
        for level in reversed(range(len(channels))):
            below = channels[min(level + 1, len(channels) - 1)]
            self.up.append(ResBlock(below + channels[level], channels[level], width))
        self.out_norm = _norm(channels[0])
        self.map_head = nn.Conv2d(channels[0], C, 1)
        scalars = 1 if out_features == 1 else out_features - N
        self.scalar_head = nn.Linear(channels[0], scalars) if scalars else None
        for layer in (self.map_head, self.scalar_head):
            if layer is not None:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, x_in: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        e = self.embedding(c_noise)
        h = self.input(x_in)
        skips = []
        for level, block in enumerate(self.down):
            h = block(h, e)
            skips.append(h)
            if level < len(self.pool):
                h = self.pool[level](h)
        h = self.middle(h, e)
        for block in self.up:
            skip = skips.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = nn.functional.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), e)
        h = nn.functional.silu(self.out_norm(h))

        pixel_map = self.map_head(h).flatten(1)
        scalars = self.scalar_head(h.mean((2, 3))) if self.scalar_head is not None else None
        if self.out_features == 1:
            energy = (pixel_map * x_in.flatten(1)).sum(1, keepdim=True) / math.sqrt(self.N)
            return energy + scalars
        return pixel_map if scalars is None else torch.cat([pixel_map, scalars], dim=1)


NETWORKS = {"mlp": MLP, "unet": UNet}


def build(config: dict[str, Any]) -> nn.Module:
    """Rebuild a network from its `config` (as stored in a checkpoint)."""
    if not isinstance(config, dict) or config.get("kind") not in NETWORKS:
        kind = config.get("kind") if isinstance(config, dict) else config
        raise ValueError(
            f"network config: unknown network kind {kind!r}; expected one of {sorted(NETWORKS)}"
        )
    options = {k: v for k, v in config.items() if k not in ("kind", "shape", "out_features")}
    try:
        return NETWORKS[config["kind"]](tuple(config["shape"]), config["out_features"], **options)
    except (KeyError, TypeError) as err:
        raise ValueError(f"network config {config!r} is not valid: {err}") from err


def default_network(shape: tuple[int, ...], out_features: int, kind: str = "auto") -> nn.Module:
    """The default network for points of this shape: an MLP for vectors, a U-Net for images."""
    if kind == "auto":
        kind = "mlp" if len(shape) == 1 else "unet"
    if kind not in NETWORKS:
        raise ValueError(f"network must be 'auto', 'mlp' or 'unet', got {kind!r}")
    return NETWORKS[kind](tuple(shape), out_features)
