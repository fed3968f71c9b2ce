"""Gradient inversion of one member's update: analytic first-layer inversion (Phong et al. 2017) and
optimisation-based "inverting gradients" (Zhu et al. 2019 DLG; Geiping et al. 2020 cosine loss; label from
the output-bias gradient as in iDLG, Zhao et al. 2020).

Attacker: the coordinator. Setting (worst case for the member): one FedSGD step on a batch of one record
(a client's transaction, a trade). The coordinator attacks what it sees: the member's update in ``none`` and
``dp`` (clipping does not change the ratio the analytic attack uses), the decrypted *aggregate* of all
members in ``he`` and ``all``. Metric: relative reconstruction error ``||x_hat - x||^2 / ||x||^2``, median
over targets (guessing zero scores 1.0). Success: error <= 0.10.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fedrisk.privacy.attacks._sim import (
    Aggregation,
    Arrays,
    FloatArray,
    Mode,
    Protection,
    gradient,
    make_model,
    make_task,
    sample,
    set_arrays,
)
from fedrisk.privacy.attacks.result import AttackResult

__all__ = ["THRESHOLD", "analytic_inversion", "optimise_inversion", "relative_error", "run", "target_view"]

THRESHOLD = 0.10
LR = 0.1


def relative_error(x_hat: FloatArray, x: FloatArray) -> float:
    """``||x_hat - x||^2 / ||x||^2``."""
    return float(np.sum((x_hat - x) ** 2) / max(float(np.sum(x**2)), 1e-12))


def analytic_inversion(update: Arrays) -> FloatArray:
    """Least-squares ``x`` from ``dW1[j] = delta_j x`` and ``db1[j] = delta_j`` (exact for one record)."""
    g_w, g_b = update[0], update[1]
    denom = float(np.sum(g_b**2))
    if denom == 0.0:
        return np.zeros(g_w.shape[1])
    return np.asarray(g_b @ g_w / denom, dtype=np.float64)


def optimise_inversion(model: nn.Sequential, weights: Arrays, update: Arrays, *, steps: int, seed: int) -> FloatArray:
    """Find ``x`` whose gradient is most cosine-similar to the observed one (``update = -lr * gradient``)."""
    set_arrays(model, weights)
    observed = [torch.from_numpy(-u) for u in update]
    label = torch.tensor([1.0 if update[3].item() > 0 else 0.0], dtype=torch.float64)  # -lr (p - y) > 0 <=> y = 1
    gen = torch.Generator().manual_seed(seed)
    x = (0.1 * torch.randn(1, weights[0].shape[1], generator=gen, dtype=torch.float64)).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    params = list(model.parameters())
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(-1), label)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        dot = torch.stack([(g * o).sum() for g, o in zip(grads, observed, strict=True)]).sum()
        norm_g = torch.sqrt(torch.stack([(g**2).sum() for g in grads]).sum())
        norm_o = torch.sqrt(torch.stack([(o**2).sum() for o in observed]).sum())
        cost = 1 - dot / (norm_g * norm_o + 1e-12)
        cost.backward()  # type: ignore[no-untyped-call]
        opt.step()
    return np.asarray(x.detach().numpy()[0], dtype=np.float64)


def target_view(view_seen: list[Arrays | None], mean: Arrays, target: int) -> tuple[Arrays, str]:
    """The coordinator's best view of the target's update: its own update if visible, else the aggregate."""
    seen = view_seen[target]
    return (seen, "individual update") if seen is not None else (mean, "aggregate only (individual sealed)")


def run(
    mode: Mode, *, seed: int, quick: bool = True, protection: Protection | None = None, optimise: bool = True
) -> list[AttackResult]:
    """Attack one member's FedSGD update (batch of 1 record), ``trials`` times under ``mode``.

    ``optimise=False`` runs only the (instant) analytic attack.
    """
    rng = np.random.default_rng(seed)
    w = make_task(rng)
    model = make_model(w.size, 32, seed)
    weights = [p.detach().numpy().copy() for p in model.parameters()]
    agg = Aggregation(mode=mode, protection=protection or Protection(clip_norm=0.1), seed=seed)
    trials, steps = (3, 300) if quick else (10, 600)
    errors: dict[str, list[float]] = {"analytic": [], "optimisation": []} if optimise else {"analytic": []}
    seen_what = ""
    for t in range(trials):
        records = [sample(rng, w, 1) for _ in range(5)]
        updates = [[-LR * g for g in gradient(model, weights, r)] for r in records]
        view = agg(updates)
        observed, seen_what = target_view(view.seen, view.mean, 0)
        x = records[0].X[0]
        errors["analytic"].append(relative_error(analytic_inversion(observed), x))
        if optimise:
            errors["optimisation"].append(
                relative_error(optimise_inversion(model, weights, observed, steps=steps, seed=t), x)
            )
    return [
        AttackResult(
            attack=f"gradient_inversion_{name}",
            mode=mode,
            metric="relative_error",
            value=float(np.median(errs)),
            chance=1.0,
            threshold=THRESHOLD,
            higher_is_success=False,
            note=f"coordinator sees: {seen_what}",
        )
        for name, errs in errors.items()
    ]
