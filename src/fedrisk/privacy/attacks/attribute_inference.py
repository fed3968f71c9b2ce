"""Attribute inference / model inversion through the scoring interface (Fredrikson et al. 2014, 2015).

Data: the synthetic task with one sensitive binary attribute ``s`` (prevalence 0.4, feature column 0) that
*influences the label* (logit weight 2.0 next to the task's own features), as real sensitive attributes do.
Attacker: anyone who can query the published model's scores (black box, probabilities only) and knows all of a
target record's features but ``s``, its label, and the population prevalence of ``s``. For each candidate value
it queries the score and picks the maximum a posteriori value ``argmax_s prior(s) * P(y | x, s)``.

Metric: accuracy over the targets (members' training records; fresh non-member records in a second row).
Baseline (``chance``): guessing the majority value, the best the attacker does without the model.
Success: accuracy >= baseline + 0.05 (margin fixed before running). The note gives the AUC of the posterior
``P(s = 1 | x, y)``. SecAgg+ / HE change who sees updates, not the published model: the ``he`` row attacks the
plain-FedAvg model (the CKKS sum is exact to rounding) and says so.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from fedrisk.errors import ConfigError
from fedrisk.privacy.attacks._sim import (
    Dataset,
    FloatArray,
    Mode,
    Protection,
    accuracy,
    fedavg,
    make_task,
    probabilities,
)
from fedrisk.privacy.attacks.result import AttackResult

__all__ = ["EFFECT", "MARGIN", "PREVALENCE", "infer", "run", "sensitive_sample"]

PREVALENCE = 0.4
EFFECT = 2.0
MARGIN = 0.05


def sensitive_sample(rng: np.random.Generator, w: FloatArray, n: int, *, label_noise: float = 0.15) -> Dataset:
    """``n`` rows; column 0 is the binary sensitive attribute, which adds ``EFFECT`` to the label's logit."""
    X = rng.normal(0.0, 1.0, (n, w.size))
    X[:, 0] = (rng.random(n) < PREVALENCE).astype(np.float64)
    logits = X[:, 1:] @ w[1:] + 0.5 * np.sin(2.0 * X[:, 1]) + EFFECT * (X[:, 0] - PREVALENCE)
    y = (logits + rng.logistic(0.0, 0.3, n) > 0).astype(np.float64)
    y = np.where(rng.random(n) < label_noise, 1.0 - y, y)
    return Dataset(X=X, y=y)


def infer(model: object, data: Dataset, prior: float = PREVALENCE) -> FloatArray:
    """Posterior ``P(s = 1 | x, y)`` from two score queries per record (column 0 set to 0 and to 1)."""
    if not 0.0 < prior < 1.0:
        raise ConfigError(f"prior must be in (0, 1), got {prior}")
    like = []
    for value in (0.0, 1.0):
        X = data.X.copy()
        X[:, 0] = value
        p = np.clip(probabilities(model, X), 1e-12, 1 - 1e-12)  # type: ignore[arg-type]
        like.append(np.where(data.y == 1, p, 1 - p))
    joint1, joint0 = prior * like[1], (1 - prior) * like[0]
    return np.asarray(joint1 / (joint1 + joint0), dtype=np.float64)


def _row(mode: Mode, who: str, model: object, data: Dataset, utility: float, note: str) -> AttackResult:
    s = data.X[:, 0]
    post = infer(model, data)
    acc = float(np.mean((post > 0.5) == (s == 1)))
    baseline = float(max(np.mean(s), 1 - np.mean(s)))
    auc = float(roc_auc_score(s, post))
    return AttackResult(
        attack=f"attribute_inference_{who}",
        mode=mode,
        metric="accuracy",
        value=acc,
        chance=baseline,
        threshold=baseline + MARGIN,
        higher_is_success=True,
        utility=utility,
        note=f"posterior AUC {auc:.3f}; chance = majority guess; {note}",
    )


def run(mode: Mode, *, seed: int, quick: bool = True, protection: Protection | None = None) -> list[AttackResult]:
    """Train a 5-member federation on data with a sensitive attribute; infer it for members and non-members."""
    rng = np.random.default_rng(seed)
    w = make_task(rng)
    per_member = 40 if quick else 80
    rounds, epochs, hidden = (8, 15, 64) if quick else (15, 20, 128)
    members = [sensitive_sample(rng, w, per_member) for _ in range(5)]
    trained: Mode = "none" if mode == "he" else mode
    model, _ = fedavg(
        members, mode=trained, rounds=rounds, epochs=epochs, hidden=hidden, seed=seed, protection=protection
    )
    inside = Dataset(X=np.vstack([m.X for m in members]), y=np.concatenate([m.y for m in members]))
    outside = sensitive_sample(rng, w, len(inside))
    utility = accuracy(model, sensitive_sample(rng, w, 2000, label_noise=0.0))
    note = (
        "HE/SecAgg+ do not change the published model: plain-FedAvg model attacked"
        if mode == "he"
        else "utility = test accuracy of the released model"
    )
    return [
        _row(mode, "members", model, inside, utility, note),
        _row(mode, "nonmembers", model, outside, utility, note),
    ]
