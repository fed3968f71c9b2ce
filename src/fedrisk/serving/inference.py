"""Precomputed, vectorised inference for the saved stress model.

The scoring math is the one of :func:`fedrisk.jobs.scoring.score_frame`: a venue's panel ``X[T, A, F]`` is
normalised with the venue's saved normaliser (the pooled one for venues that were not members), every hour
``t >= W - 1`` is scored with the window ``X[t-W+1 .. t]`` and the venue's graph, and a score is reported where
the asset is observed at ``t``; an alarm is ``score > threshold`` (the member's own threshold, else the
federation's). What differs is only *how* the same numbers are computed:

* everything that does not depend on the request is computed once at start-up (weights as matrices, each
  venue's normaliser as float32 arrays, each graph as a tensor);
* consecutive windows of one venue overlap in ``W - 1`` hours, and both convolutions of the model are linear
  maps of neighbouring hours. So the convolutions are computed **once per hour** of the panel, not once per
  hour and window position; only the six window positions that touch a window's zero padding
  (``0, 1, 2, W-3, W-2, W-1``) are computed per window, and the window mean of the second convolution's
  interior positions is a difference of cumulative sums. A batch of ``N`` hours costs ``O(N)`` small matrix
  products instead of ``O(N W)``.

The result equals :func:`fedrisk.models.stgraph.predict` up to float32 rounding (the sums are associated
differently); ``tests/serving/test_inference.py`` checks the two agree to 1e-5 on random weights and data,
and, with the shared data, that the service's scores equal ``score_frame``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import erf
from torch.nn import functional as fn

from fedrisk.models.saved import SavedMember, SavedModel

_MIN_FAST_WINDOW = 8
"""Below this window length the padding positions overlap and the plain forward pass is used."""
SMALL_BATCH = 3
"""Up to this many windows a NumPy forward pass is used: per-operation overhead dominates there, and NumPy's
is a few microseconds where torch's is tens."""
_SQRT_HALF = np.float32(1.0 / np.sqrt(2.0))


def _gelu_np(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as ``torch.nn.GELU()``."""
    out: np.ndarray = 0.5 * x * (1.0 + erf(x * _SQRT_HALF))
    return out


@dataclass(frozen=True, slots=True)
class VenueInputs:
    """A venue's precomputed scoring inputs: normaliser (float32), graph tensor, alarm threshold."""

    name: str
    is_member: bool
    mean: np.ndarray
    std: np.ndarray
    adj: torch.Tensor
    threshold: float


class StressScorer:
    """Scores panels with a loaded :class:`SavedModel`; built once when the service starts."""

    def __init__(self, saved: SavedModel) -> None:
        self.saved = saved
        model = saved.model
        model.eval()
        self.window = saved.config.window
        self.n_features = saved.config.n_features
        self.features = tuple(saved.features)
        with torch.no_grad():
            w1 = model.conv1.weight.detach().to(torch.float32)  # [h, F, 3]
            w2 = model.conv2.weight.detach().to(torch.float32)  # [h, h, 3]
            # Per tap k: a matrix applied on the right of [..., F] rows.
            self._w1 = [w1[:, :, k].T.contiguous() for k in range(3)]
            self._w2 = [w2[:, :, k].T.contiguous() for k in range(3)]
            assert model.conv1.bias is not None and model.conv2.bias is not None
            self._b1 = model.conv1.bias.detach().clone()
            self._b2 = model.conv2.bias.detach().clone()
        self._model = model
        state = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
        h, f, _ = state["conv1.weight"].shape
        # im2col forms of the convolutions for the NumPy path: rows are [x[j-1] | x[j] | x[j+1]].
        self._np = {
            "w1": np.ascontiguousarray(state["conv1.weight"].transpose(2, 1, 0).reshape(3 * f, h)),
            "b1": state["conv1.bias"],
            "w2": np.ascontiguousarray(state["conv2.weight"].transpose(2, 1, 0).reshape(3 * h, h)),
            "b2": state["conv2.bias"],
            "summary_w": np.ascontiguousarray(state["summary.weight"].T),
            "summary_b": state["summary.bias"],
            "skip_w": np.ascontiguousarray(state["skip.weight"].T),
            "skip_b": state["skip.bias"],
            "self_w": np.ascontiguousarray(state["self_mix.weight"].T),
            "self_b": state["self_mix.bias"],
            "neigh_w": np.ascontiguousarray(state["neighbour_mix.weight"].T),
            "head_w": np.ascontiguousarray(state["head.weight"].T),
            "head_b": state["head.bias"],
        }
        self._hidden = h
        self._venues: dict[str, VenueInputs] = {}
        for name, member in saved.members.items():
            self._venues[name] = self._inputs(name, member, is_member=True)
        self._pooled = self._inputs("(pooled)", saved.member("\x00not-a-member"), is_member=False)

    def _inputs(self, name: str, member: SavedMember, *, is_member: bool) -> VenueInputs:
        thr = member.alarm_threshold if member.alarm_threshold is not None else self.saved.alarm_threshold
        return VenueInputs(
            name=name,
            is_member=is_member,
            mean=np.asarray(member.normaliser.mean, dtype=np.float64),
            std=np.asarray(member.normaliser.std, dtype=np.float64),
            adj=torch.from_numpy(np.ascontiguousarray(member.graph, dtype=np.float32)),
            threshold=float(thr),
        )

    def venue(self, name: str) -> VenueInputs:
        """The inputs of a venue: its own if it was a member, else the federation's pooled ones."""
        return self._venues.get(name, self._pooled)

    @property
    def member_names(self) -> tuple[str, ...]:
        """Venues with their own saved normalisation and graph."""
        return tuple(self._venues)

    def normalise(self, venue: VenueInputs, x: np.ndarray) -> np.ndarray:
        """The saved normaliser's math (:meth:`fedrisk.features.panel.Normaliser.apply`)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (x - venue.mean) / venue.std
        out: np.ndarray = np.clip(np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0), -8.0, 8.0).astype(np.float32)
        return out

    def probabilities(self, venue: VenueInputs, x_raw: np.ndarray, *, path: str = "auto") -> np.ndarray:
        """Probabilities ``[T - W + 1, A]`` for every hour with a full window of a raw panel ``x_raw[T, A, F]``.

        ``path`` picks the implementation (``auto``, ``numpy``, ``sliding`` or ``torch``, the model's own forward
        pass); all give the same numbers up to float32 rounding.
        """
        xn_np = self.normalise(venue, x_raw)
        n_t = xn_np.shape[0]
        if n_t < self.window:
            return np.zeros((0, xn_np.shape[1]), dtype=np.float32)
        n_w = n_t - self.window + 1
        if path == "auto":
            path = "numpy" if n_w <= SMALL_BATCH else ("sliding" if self.window >= _MIN_FAST_WINDOW else "torch")
        if path == "numpy":
            return self._numpy(xn_np, venue.adj.numpy())
        xn = torch.from_numpy(xn_np)
        with torch.no_grad():
            if path == "sliding" and self.window >= _MIN_FAST_WINDOW:
                return self._sliding(xn, venue.adj)
            return self._plain(xn, venue.adj)

    def _numpy(self, xn: np.ndarray, adj: np.ndarray) -> np.ndarray:
        """The model's forward pass in NumPy (im2col convolutions), for a few windows."""
        w, p, h = self.window, self._np, self._hidden
        n_t, n_a, n_f = xn.shape
        n_w = n_t - w + 1
        idx = np.arange(n_w)[:, None] + np.arange(w)[None, :]  # [n_w, W]
        win = xn[idx].transpose(0, 2, 1, 3).reshape(n_w * n_a, w, n_f)  # [N, W, F]
        xp = np.zeros((n_w * n_a, w + 2, n_f), dtype=np.float32)
        xp[:, 1 : w + 1] = win
        cols = np.concatenate([xp[:, 0:w], xp[:, 1 : w + 1], xp[:, 2 : w + 2]], axis=2)
        z1 = _gelu_np(cols @ p["w1"] + p["b1"])
        zp = np.zeros((n_w * n_a, w + 4, h), dtype=np.float32)
        zp[:, 2 : w + 2] = z1
        cols2 = np.concatenate([zp[:, 0:w], zp[:, 2 : w + 2], zp[:, 4 : w + 4]], axis=2)
        z2 = _gelu_np(cols2 @ p["w2"] + p["b2"])
        pooled = np.concatenate([z2[:, -1], z2.mean(axis=1)], axis=1)
        e = _gelu_np(pooled @ p["summary_w"] + p["summary_b"] + win[:, -1] @ p["skip_w"] + p["skip_b"])
        e = e.reshape(n_w, n_a, h)
        msg = adj @ e
        hidden = _gelu_np(e @ p["self_w"] + p["self_b"] + msg @ p["neigh_w"])
        logits = (hidden @ p["head_w"] + p["head_b"])[..., 0]
        probs: np.ndarray = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        return probs

    def _plain(self, xn: torch.Tensor, adj: torch.Tensor) -> np.ndarray:
        """The model's own forward pass over every window (reference path)."""
        w = self.window
        idx = np.arange(w - 1, xn.shape[0])
        rows = torch.from_numpy(idx[:, None] + np.arange(-w + 1, 1))
        windows = xn[rows].permute(0, 2, 1, 3)
        probs: np.ndarray = torch.sigmoid(self._model(windows, adj)).numpy()
        return probs

    def _sliding(self, xn: torch.Tensor, adj: torch.Tensor) -> np.ndarray:
        """Shared-convolution forward pass over all windows of one panel (see the module docstring)."""
        w = self.window
        n_t, n_a, _ = xn.shape
        n_w = n_t - w + 1
        m = self._model
        w1, w2 = self._w1, self._w2
        # conv1 taps per hour: P_k[s] = W1_k x[s]
        p = [torch.matmul(xn, w1[k]) for k in range(3)]  # each [T, A, h]
        zero = torch.zeros_like(p[0][:1])
        p0_prev = torch.cat([zero, p[0][:-1]])  # P0[s-1]
        p2_next = torch.cat([p[2][1:], zero])  # P2[s+1]
        z1_full = fn.gelu(self._b1 + p0_prev + p[1] + p2_next)  # valid for 1 <= s <= T-2
        z1_left = fn.gelu(self._b1 + p[1] + p2_next)  # the window's first hour (no left neighbour)
        z1_right = fn.gelu(self._b1 + p0_prev + p[1])  # the window's last hour (no right neighbour)
        # conv2 taps on each variant: Q_k(v)[s] = W2_k v[s]
        q_full = [torch.matmul(z1_full, w2[k]) for k in range(3)]
        q_left = [torch.matmul(z1_left, w2[k]) for k in range(3)]
        q_right = [torch.matmul(z1_right, w2[k]) for k in range(3)]

        starts = torch.arange(n_w)  # s0 of each window; its last hour is s0 + W - 1

        def tap(k: int, i: int) -> torch.Tensor:
            """Q_k applied to the window's z1 at position i, for every window: [n_w, A, h]."""
            if i == 0:
                return q_left[k][starts]
            if i == w - 1:
                return q_right[k][starts + w - 1]
            return q_full[k][starts + i]

        def position(j: int) -> torch.Tensor:
            """Pre-activation of conv2 at window position j, for every window."""
            acc = self._b2.expand(n_w, n_a, -1)
            for k in range(3):
                i = j + 2 * (k - 1)
                if 0 <= i <= w - 1:
                    acc = acc + tap(k, i)
            return acc

        edges = (0, 1, 2, w - 3, w - 2, w - 1)
        edge_z2 = {j: fn.gelu(position(j)) for j in edges}
        # Interior positions 3..W-4 reference only interior z1 hours: z2 there is a function of the hour alone.
        zero3 = torch.zeros_like(q_full[0][:2])
        q0_back = torch.cat([zero3, q_full[0][:-2]])  # Q0(z1)[s-2]
        q2_fwd = torch.cat([q_full[2][2:], zero3])  # Q2(z1)[s+2]
        g2_full = fn.gelu(self._b2 + q0_back + q_full[1] + q2_fwd).to(torch.float64)
        csum = torch.cat([torch.zeros_like(g2_full[:1]), torch.cumsum(g2_full, dim=0)])
        interior = csum[starts + w - 3] - csum[starts + 3]  # sum over s0+3 .. s0+W-4
        total = interior.to(torch.float32)
        for z in edge_z2.values():
            total = total + z
        mean = total / w
        last = edge_z2[w - 1]
        pooled = torch.cat([last, mean], dim=-1)  # [n_w, A, 2h]
        x_last = xn[starts + w - 1]  # [n_w, A, F]
        e = fn.gelu(m.summary(pooled) + m.skip(x_last))
        msg = torch.matmul(adj, e)
        hidden = fn.gelu(m.self_mix(e) + m.neighbour_mix(msg))
        probs: np.ndarray = torch.sigmoid(m.head(hidden).squeeze(-1)).numpy()
        return probs
