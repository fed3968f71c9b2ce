"""Membership inference on the released global model: loss threshold (Yeom et al. 2018) and shadow models
(Shokri et al. 2017).

Attacker: anyone holding the global model (a member, a model consumer) and records from the same
distribution. Target: were these records in some member's training set? Metric: ROC AUC of the attack score
on members' training rows vs fresh rows (chance 0.5). Success threshold: AUC >= 0.60 (the issue's goal for
the protected system is <= 0.55).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from fedrisk.privacy.attacks._sim import (
    Dataset,
    FloatArray,
    Mode,
    Protection,
    accuracy,
    fedavg,
    losses,
    make_task,
    probabilities,
    sample,
)
from fedrisk.privacy.attacks.result import AttackResult

__all__ = ["THRESHOLD", "run"]

THRESHOLD = 0.60


def _features(model: object, data: Dataset) -> FloatArray:
    p = np.clip(probabilities(model, data.X), 1e-12, 1 - 1e-12)  # type: ignore[arg-type]
    loss = losses(model, data)  # type: ignore[arg-type]
    confidence = np.maximum(p, 1 - p)
    entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    return np.column_stack([loss, confidence, entropy])


def run(mode: Mode, *, seed: int, quick: bool = True, protection: Protection | None = None) -> list[AttackResult]:
    """Train a small overfitting federation under ``mode``, attack its released model two ways."""
    rng = np.random.default_rng(seed)
    w = make_task(rng)
    n_members, per_member = 5, 40 if quick else 80
    rounds, epochs, hidden = (8, 15, 64) if quick else (15, 20, 128)
    members = [sample(rng, w, per_member) for _ in range(n_members)]
    model, _ = fedavg(members, mode=mode, rounds=rounds, epochs=epochs, hidden=hidden, seed=seed, protection=protection)
    inside = Dataset(X=np.vstack([m.X for m in members]), y=np.concatenate([m.y for m in members]))
    outside = sample(rng, w, len(inside))
    truth = np.r_[np.ones(len(inside)), np.zeros(len(outside))]
    utility = accuracy(model, sample(rng, w, 2000, label_noise=0.0))
    loss_auc = float(roc_auc_score(truth, -np.r_[losses(model, inside), losses(model, outside)]))
    # Shadow models: the attacker mimics the federation with its own data, where it knows who was "in".
    feats, labels = [], []
    for s in range(2 if quick else 4):
        shadow_in = [sample(rng, w, per_member) for _ in range(n_members)]
        shadow, _ = fedavg(shadow_in, mode="none", rounds=rounds, epochs=epochs, hidden=hidden, seed=seed + 100 + s)
        pooled = Dataset(X=np.vstack([m.X for m in shadow_in]), y=np.concatenate([m.y for m in shadow_in]))
        feats += [_features(shadow, pooled), _features(shadow, sample(rng, w, len(pooled)))]
        labels += [np.ones(len(pooled)), np.zeros(len(pooled))]
    clf = LogisticRegression(max_iter=1000).fit(np.vstack(feats), np.concatenate(labels))
    target = np.vstack([_features(model, inside), _features(model, outside)])
    shadow_auc = float(roc_auc_score(truth, clf.predict_proba(target)[:, 1]))
    common = {"mode": mode, "metric": "auc", "chance": 0.5, "threshold": THRESHOLD, "higher_is_success": True}
    note = "utility = test accuracy of the released model"
    return [
        AttackResult(attack="membership_loss_threshold", value=loss_auc, utility=utility, note=note, **common),  # type: ignore[arg-type]
        AttackResult(attack="membership_shadow_models", value=shadow_auc, utility=utility, note=note, **common),  # type: ignore[arg-type]
    ]
