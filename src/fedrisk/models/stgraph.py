"""The spatio-temporal graph model for liquidity stress, and its training and scoring loops.

Architecture (about 13k parameters with the default sizes; the cap is 200k):

1. **Temporal encoder**, shared by all assets: two 1-D convolutions over the last ``W`` hours (the second
   dilated), summarised by the last step and the window mean, plus a linear skip from the current hour's
   features (so the model can always fall back to a linear score).
2. **Graph layer** over the member's cross-asset graph (positive return correlations from its own training
   period, row-normalised; see :func:`fedrisk.features.panel.asset_graph`): each asset's embedding is mixed
   with the weighted mean of its neighbours'. The graph is an input, not a parameter, so members holding
   different assets share one model.
3. **Head**: one logit per asset and hour ("illiquid stress within the next H hours").

The module knows nothing of Flower: federation code moves parameters in and out with :func:`get_weights` and
:func:`set_weights`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fedrisk.features.panel import MemberPanel, Normaliser, asset_graph

DEFAULT_WINDOW = 24
DEFAULT_HIDDEN = 32


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Shape of the graph model."""

    n_features: int
    window: int = DEFAULT_WINDOW
    hidden: int = DEFAULT_HIDDEN

    def to_dict(self) -> dict[str, int]:
        """JSON-friendly form."""
        return {"n_features": self.n_features, "window": self.window, "hidden": self.hidden}


class STGraphNet(nn.Module):
    """Temporal convolution encoder + one graph layer over assets + a logistic head."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        f, h = config.n_features, config.hidden
        self.config = config
        self.conv1 = nn.Conv1d(f, h, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(h, h, kernel_size=3, padding=2, dilation=2)
        self.summary = nn.Linear(2 * h, h)
        self.skip = nn.Linear(f, h)
        self.self_mix = nn.Linear(h, h)
        self.neighbour_mix = nn.Linear(h, h, bias=False)
        self.head = nn.Linear(h, 1)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, A]`` from windows ``x[B, A, W, F]`` and adjacency ``adj[A, A]`` (or ``[B, A, A]``)."""
        b, a, w, f = x.shape
        seq = x.reshape(b * a, w, f).transpose(1, 2)
        z = self.act(self.conv1(seq))
        z = self.act(self.conv2(z))
        pooled = torch.cat([z[:, :, -1], z.mean(dim=2)], dim=1)
        e = self.act(self.summary(pooled) + self.skip(x[:, :, -1, :].reshape(b * a, f))).reshape(b, a, -1)
        msg = torch.matmul(adj, e)
        hidden = self.act(self.self_mix(e) + self.neighbour_mix(msg))
        logits: torch.Tensor = self.head(hidden).squeeze(-1)
        return logits


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def get_weights(model: nn.Module) -> list[np.ndarray]:
    """Model parameters as numpy arrays, in state-dict order."""
    return [v.detach().cpu().numpy().copy() for v in model.state_dict().values()]


def set_weights(model: nn.Module, weights: list[np.ndarray]) -> None:
    """Load numpy arrays (state-dict order) into the model."""
    keys = list(model.state_dict().keys())
    if len(keys) != len(weights):
        raise ValueError(f"expected {len(keys)} arrays, got {len(weights)}")
    model.load_state_dict({k: torch.from_numpy(np.asarray(w)).clone() for k, w in zip(keys, weights, strict=True)})


@dataclass(slots=True)
class TorchMember:
    """A member's panel prepared for the model: normalised features, labels, masks, graph, split indices."""

    name: str
    X: torch.Tensor
    y: torch.Tensor
    label_mask: torch.Tensor
    adj: torch.Tensor
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    window: int

    @property
    def n_train(self) -> int:
        """Training samples (hours)."""
        return len(self.train_idx)

    def windows(self, idx: np.ndarray) -> torch.Tensor:
        """Windows ``[B, A, W, F]`` ending at each hour in ``idx``."""
        offsets = np.arange(-self.window + 1, 1)
        rows = torch.from_numpy(idx[:, None] + offsets)
        return self.X[rows].permute(0, 2, 1, 3)


def prepare_member(
    panel: MemberPanel,
    normaliser: Normaliser,
    *,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    test_idx: np.ndarray,
    window: int,
    graph_idx: np.ndarray | None = None,
) -> TorchMember:
    """Normalise a panel and attach its graph and split indices."""
    xn = normaliser.apply(panel.X)
    mask = np.isfinite(panel.y) & panel.observed
    adj = asset_graph(panel, train_idx if graph_idx is None else graph_idx)
    return TorchMember(
        name=panel.member,
        X=torch.from_numpy(xn),
        y=torch.from_numpy(np.nan_to_num(panel.y, nan=0.0).astype(np.float32)),
        label_mask=torch.from_numpy(mask),
        adj=torch.from_numpy(adj),
        train_idx=train_idx,
        val_idx=val_idx,
        test_idx=test_idx,
        window=window,
    )


def _batch_loss(model: STGraphNet, member: TorchMember, idx: np.ndarray) -> torch.Tensor:
    logits = model(member.windows(idx), member.adj)
    t = torch.from_numpy(idx)
    mask = member.label_mask[t]
    loss = nn.functional.binary_cross_entropy_with_logits(logits, member.y[t], reduction="none")
    return (loss * mask).sum() / mask.sum().clamp(min=1)


def train_steps(
    model: STGraphNet,
    members: list[TorchMember],
    *,
    steps: int,
    batch_size: int = 256,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    proximal_mu: float = 0.0,
    rng: np.random.Generator,
) -> float:
    """Run ``steps`` Adam steps on batches drawn from the members' training hours; return the mean loss.

    With several members (centralised training) each batch comes from one member chosen with probability
    proportional to its training size. ``proximal_mu > 0`` adds FedProx's ``mu/2 ||w - w_global||^2`` term,
    with ``w_global`` the weights at entry.
    """
    usable = [m for m in members if m.n_train > 0]
    if not usable or steps <= 0:
        return float("nan")
    sizes = np.array([m.n_train for m in usable], dtype=float)
    probs = sizes / sizes.sum()
    anchor = [p.detach().clone() for p in model.parameters()] if proximal_mu > 0 else []
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    total = 0.0
    for _ in range(steps):
        member = usable[int(rng.choice(len(usable), p=probs))]
        idx = rng.choice(member.train_idx, size=min(batch_size, member.n_train), replace=False)
        loss = _batch_loss(model, member, idx)
        if proximal_mu > 0:
            prox = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor, strict=True))
            loss = loss + 0.5 * proximal_mu * prox
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        total += float(loss.detach())
    return total / steps


@torch.no_grad()
def predict(model: STGraphNet, member: TorchMember, idx: np.ndarray, *, batch_size: int = 4096) -> np.ndarray:
    """Probabilities ``[len(idx), A]`` for the given hours."""
    model.eval()
    out = []
    for start in range(0, len(idx), batch_size):
        chunk = idx[start : start + batch_size]
        out.append(torch.sigmoid(model(member.windows(chunk), member.adj)).numpy())
    return np.concatenate(out) if out else np.zeros((0, member.X.shape[1]), dtype=np.float32)


@torch.no_grad()
def masked_log_loss(model: STGraphNet, member: TorchMember, idx: np.ndarray) -> tuple[float, int]:
    """Mean log loss over labelled (hour, asset) cells of ``idx`` and their count."""
    if len(idx) == 0:
        return float("nan"), 0
    probs = torch.from_numpy(predict(model, member, idx)).clamp(1e-6, 1 - 1e-6)
    t = torch.from_numpy(idx)
    y, mask = member.y[t], member.label_mask[t]
    ll = -(y * probs.log() + (1 - y) * (1 - probs).log())
    n = int(mask.sum())
    return (float((ll * mask).sum()) / max(n, 1)), n


@dataclass(frozen=True, slots=True)
class FitResult:
    """Outcome of :func:`fit_early_stopping`."""

    best_step: int
    best_val_loss: float
    steps_run: int


def pooled_val_loss(model: STGraphNet, members: list[TorchMember]) -> float:
    """Validation log loss pooled over members (weighted by labelled cells)."""
    total, count = 0.0, 0
    for m in members:
        loss, n = masked_log_loss(model, m, m.val_idx)
        if n:
            total += loss * n
            count += n
    return total / count if count else float("nan")


def fit_early_stopping(
    model: STGraphNet,
    members: list[TorchMember],
    *,
    max_steps: int,
    eval_every: int,
    rng: np.random.Generator,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
) -> FitResult:
    """Train in chunks of ``eval_every`` steps and keep the weights with the lowest validation loss.

    Validation is each member's own validation period (never test data). Without validation labels the last
    weights are kept.
    """
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    best_loss, best_step, done = pooled_val_loss(model, members), 0, 0
    while done < max_steps:
        chunk = min(eval_every, max_steps - done)
        train_steps(model, members, steps=chunk, batch_size=batch_size, lr=lr, weight_decay=weight_decay, rng=rng)
        done += chunk
        loss = pooled_val_loss(model, members)
        if not np.isfinite(best_loss) or (np.isfinite(loss) and loss < best_loss):
            best_loss, best_step = loss, done
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return FitResult(best_step=best_step, best_val_loss=float(best_loss), steps_run=done)
