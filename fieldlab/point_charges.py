"""The exact field of a set of signed point charges y_i, q_i on the hyperplane r = 0.

With rho_i^2 = ||x - y_i||^2 + r^2 and d = N + D,

    phi(x, r) = sum_i q_i / ((d - 2) rho_i^(d - 2)),
    E_x       = sum_i q_i (x - y_i) / rho_i^d,
    E_sigma   = E_r / sqrt(D) = sigma * sum_i q_i / rho_i^d,

so the backward ODE's velocity is (x - y_hat) / sigma with y_hat = sum_i w_i y_i / sum_i w_i,
w_i = q_i rho_i^(-d). Each sum is a signed log-sum-exp over the charges, streamed in blocks
of charges and queries so that memory stays bounded for any number of either: per query it
keeps the running maximum M of log |w_i| and the rescaled sums S = sum_i s_i e^(log|w_i| - M)
and Y = sum_i s_i e^(log|w_i| - M) y_i. Then E_x = e^(offset + M) (x S - Y) and
E_sigma = e^(offset + M) sigma S, with the sigma-dependent offset of `geometry`.
"""

from __future__ import annotations

import math

import torch

from . import geometry
from ._checks import as_tensor, check_D
from .fields import Field, ScaledField

# At most this many query-charge pairs are held at once (4 MiB of float32 per block): in a
# side-by-side run, 2^20 was as fast as 2^22 for N = 2 and 8 % faster for N = 784, while 2^16
# was 5-10x slower (per-block overhead).
BLOCK_PAIRS = 2**20
# Up to this data dimension, distances are taken from coordinate differences; above it, from
# the Gram expansion ||x||^2 + ||y||^2 - 2 x.y, many times faster for large N. The expansion
# cancels badly near a charge (a relative error of eps * ||x||^2 / ||x - y||^2), so it runs in
# float64: in float32 it moved log-potentials by 0.1 at sigma = 0.01 for N = 64.
DIRECT_DISTANCE_MAX_N = 16


def squared_distances(x: torch.Tensor, y: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
    """||x_a - y_b||^2 for rows x (m, N) and y (n, N): shape (m, n), in x's dtype.

    inplace: accumulate into one buffer (no gradient flows through the result).
    """
    if x.shape[1] <= DIRECT_DISTANCE_MAX_N:
        sq = (x[:, :1] - y[:, 0]).square()
        for k in range(1, x.shape[1]):
            step = x[:, k : k + 1] - y[:, k]
            sq = sq.addcmul_(step, step) if inplace else sq + step.square()
        return sq
    x64, y64 = x.double(), y.double()
    sq = x64.square().sum(1, keepdim=True) + y64.square().sum(1) - 2 * x64 @ y64.T
    return sq.clamp_min(0).to(x.dtype)


class PointCharges(Field):
    """The exact field of a signed charge set in the augmented space of dimension d = N + D.

    Args:
        points: charge positions, shape (n, *shape); a point may be a vector or an image.
        charges: signed charges q_i, shape (n,); 1/n each by default (a unit-charge field).
            Zero charges are dropped.
        D: augmented dimension, an int >= 1 (1 is PFGM) or math.inf (diffusion).

    Points keep a float64 dtype if given one; everything else computes in float32.

    Limitation: in float32 the weights q_i rho_i^(-d) carry a relative error of about
    d * 1e-7 (the rounding of rho_i^2, raised to the power d/2), so at d near 10,000 fields are
    accurate to about 1e-3; pass float64 points where more is needed.
    """

    def __init__(self, points: object, charges: object = None, *, D: int | float):
        self.D = check_D(D)
        points = as_tensor(points, "points")
        if points.dim() < 2:
            raise ValueError(
                f"points must have shape (n, *shape) with one row per point, "
                f"got shape {tuple(points.shape)}"
            )
        n = points.shape[0]
        if n == 0:
            raise ValueError("points must hold at least one point, got an empty set")
        if charges is None:
            charges = torch.full((n,), 1.0 / n, dtype=torch.float64)
        charges = as_tensor(charges, "charges", dtype=torch.float64).double()
        if charges.shape != (n,):
            raise ValueError(
                f"charges must have shape ({n},), one per point, got {tuple(charges.shape)}"
            )
        nonzero = charges != 0
        if not nonzero.any():
            raise ValueError("charges must not all be zero")

        self.shape = tuple(points.shape[1:])
        self.points = points[nonzero.to(points.device)]
        self.charges = charges[nonzero].to(points.device)
        self._flat = self.points.reshape(self.points.shape[0], -1)
        self._origin = torch.zeros_like(self._flat[0])
        if self._flat.shape[1] > DIRECT_DISTANCE_MAX_N:
            self._origin = self._flat.mean(0)
        self._centred = self._flat - self._origin
        self._log_abs_q = torch.log(self.charges.abs()).to(self._flat.dtype)
        self._sign_q = torch.sign(self.charges).to(self._flat.dtype)

    @property
    def dtype(self) -> torch.dtype:
        return self._flat.dtype

    @property
    def device(self) -> torch.device:
        return self._flat.device

    @property
    def total_charge(self) -> float:
        return float(self.charges.sum())

    @property
    def centre(self) -> torch.Tensor:
        Q = self.charges.sum()
        if Q == 0:
            raise ValueError("a field of zero total charge has no centre of charge")
        moment = (self.charges[:, None] * self._flat.double()).sum(0)
        return (moment / Q).to(self.dtype).reshape(self.shape)

    def to(self, device: torch.device | str) -> PointCharges:
        """A copy of this field on another device."""
        return PointCharges(self.points.to(device), self.charges.to(device), D=self.D)

    def _reduce(
        self, x: torch.Tensor, sigma: torch.Tensor, power: float, moment: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Streamed signed sums of w_i = q_i exp(log_kernel_i) at flat points x (m, N).

        x and the charges are both taken relative to the origin `_origin`. Returns M, S and
        (if moment) Y with sum_i w_i = e^M S and sum_i w_i (y_i - origin) = e^M Y.
        """
        y, log_abs_q, sign_q = self._centred, self._log_abs_q, self._sign_q
        m, n = x.shape[0], y.shape[0]
        query_block = max(1, min(m, BLOCK_PAIRS // min(n, BLOCK_PAIRS)))
        charge_block = max(1, BLOCK_PAIRS // query_block)

        inplace = not (torch.is_grad_enabled() and (x.requires_grad or sigma.requires_grad))
        signed = bool((sign_q < 0).any())
        # Outputs are allocated once up front: small tensors kept alive between the large
        # per-block temporaries fragmented glibc's heap, and peak memory grew with m * n (4.4 GB
        # for 8,000 queries of 100,000 charges, against 0.3 GB this way).
        M_all = torch.empty(m, dtype=x.dtype, device=x.device)
        S_all = torch.empty_like(M_all)
        Y_all = torch.empty_like(x) if moment else None
        for a in range(0, m, query_block):
            xq, sq_sigma = x[a : a + query_block], sigma[a : a + query_block, None]
            M = torch.full((xq.shape[0],), -math.inf, dtype=x.dtype, device=x.device)
            S = torch.zeros_like(M)
            Y = torch.zeros_like(xq) if moment else None
            for b in range(0, n, charge_block):
                yc = y[b : b + charge_block]
                sq = squared_distances(xq, yc, inplace=inplace)
                log_w = geometry.log_kernel(sq, sq_sigma, self.D, power, inplace=inplace)
                log_w = (
                    log_w.add_(log_abs_q[b : b + charge_block])
                    if inplace
                    else (log_w + log_abs_q[b : b + charge_block])
                )
                M_new = torch.maximum(M, log_w.amax(1))
                rescale = torch.exp(M - M_new)
                if inplace:
                    weights = log_w.sub_(M_new[:, None]).exp_()
                else:
                    weights = torch.exp(log_w - M_new[:, None])
                if signed:
                    weights = weights * sign_q[b : b + charge_block]
                S = S * rescale + weights.sum(1)
                if moment:
                    Y = Y * rescale[:, None] + weights @ yc
                M = M_new
            M_all[a : a + query_block] = M
            S_all[a : a + query_block] = S
            if moment:
                Y_all[a : a + query_block] = Y
        return M_all, S_all, Y_all

    def _scaled_field(self, x: torch.Tensor, sigma: torch.Tensor) -> ScaledField:
        flat = x.reshape(x.shape[0], -1) - self._origin
        d = geometry.augmented_dim(self.N, self.D)
        M, S, Y = self._reduce(flat, sigma, d, moment=True)
        ex = flat * S[:, None] - Y
        log_scale = geometry.log_field_offset(sigma, self.N, self.D) + M.double()
        return ScaledField(log_scale, ex.reshape(x.shape), sigma * S, self.D)

    def _signed_log_potential(
        self, x: torch.Tensor, sigma: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        d = geometry.augmented_dim(self.N, self.D)
        offset = geometry.log_potential_offset(sigma, self.N, self.D)
        flat = x.reshape(x.shape[0], -1) - self._origin
        M, S, _ = self._reduce(flat, sigma, d - 2, moment=False)
        return offset + M.double() + torch.log(S.abs().double()), torch.sign(S).double()

    def __repr__(self) -> str:
        return (
            f"PointCharges(n={self.points.shape[0]}, shape={self.shape}, D={self.D}, "
            f"Q={self.total_charge:g})"
        )
