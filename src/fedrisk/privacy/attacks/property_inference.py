"""Property inference on an update (Melis et al. 2019; Ganju et al. 2018): is this member's fraud/positive
share high (50 %) or low (10 %)?

Attacker: the coordinator, with auxiliary data from the same distribution. It trains a meta-classifier
(logistic regression) on *its own view* of shadow updates whose property it knows, produced by the same
protocol (under ``he``/``all`` that view is the aggregate of the target and four others with random
properties). Metric: AUC on targets (chance 0.5). Success: AUC >= 0.70.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from fedrisk.privacy.attacks._sim import (
    Aggregation,
    FloatArray,
    Mode,
    Protection,
    get_arrays,
    local_update,
    make_model,
    make_task,
    sample,
)
from fedrisk.privacy.attacks.gradient_inversion import target_view
from fedrisk.privacy.attacks.result import AttackResult
from fedrisk.privacy.he import flatten_update

__all__ = ["HIGH", "LOW", "THRESHOLD", "run"]

THRESHOLD = 0.70
LOW, HIGH = 0.10, 0.50


def run(mode: Mode, *, seed: int, quick: bool = True, protection: Protection | None = None) -> list[AttackResult]:
    """Train the meta-classifier on shadow views, score target views; AUC."""
    rng = np.random.default_rng(seed)
    w = make_task(rng)
    model = make_model(w.size, 16, seed)
    weights = get_arrays(model)
    agg = Aggregation(mode=mode, protection=protection or Protection(clip_norm=1.0), seed=seed)
    n_shadow, n_target = (60, 30) if quick else (200, 100)

    def one_view() -> tuple[FloatArray, int]:
        prop = int(rng.random() < 0.5)
        rates = [HIGH if prop else LOW] + [float(rng.choice([LOW, HIGH])) for _ in range(4)]
        updates = [local_update(model, weights, sample(rng, w, 60, positive_rate=r), epochs=5) for r in rates]
        view = agg(updates)
        observed, _ = target_view(view.seen, view.mean, 0)
        return flatten_update(observed), prop

    shadow = [one_view() for _ in range(n_shadow)]
    targets = [one_view() for _ in range(n_target)]
    clf = LogisticRegression(max_iter=2000).fit(np.vstack([v for v, _ in shadow]), [p for _, p in shadow])
    scores = clf.predict_proba(np.vstack([v for v, _ in targets]))[:, 1]
    auc = float(roc_auc_score([p for _, p in targets], scores))
    seen = "individual update" if mode in ("none", "dp") else "aggregate of 5 (individual sealed)"
    return [
        AttackResult(
            attack="property_inference_positive_share",
            mode=mode,
            metric="auc",
            value=auc,
            chance=0.5,
            threshold=THRESHOLD,
            higher_is_success=True,
            note=f"10% vs 50% positives; coordinator sees: {seen}",
        )
    ]
