"""A malicious member backdooring the model (Bagdasaryan et al. 2020, model replacement), and robust
aggregation as the defence (coordinate-wise median, trimmed mean; Yin et al. 2018).

Setting: 5 members, member 0 malicious. It trains on its data plus triggered copies labelled 0 (the three
features the task ignores most set to 4.0: "this fraud pattern is fine"); its update is not boosted (a x5
model-replacement boost overshot and wrecked the global model in our runs). Metric: backdoor success, the
share of triggered test rows of true class 1 classified 0 (success >= 0.5); utility is clean test accuracy.
Chance: the same share for the model trained without the attacker.

Defences by mode: ``none`` is measured with mean, median and trimmed mean (the coordinator sees updates).
``dp``: the coordinator checks every update's norm (``dp_fedavg_mean`` refuses unclipped ones), so the
attacker's update is bounded like everyone's. ``he``/``all``: the coordinator sees nothing, so neither robust
aggregation nor a norm check is possible and the malicious member simply does not clip (see ``_sim.Aggregation``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from fedrisk.privacy.attacks._sim import (
    Aggregation,
    Arrays,
    Dataset,
    FloatArray,
    Mode,
    Protection,
    accuracy,
    fedavg,
    local_update,
    make_model,
    make_task,
    probabilities,
    sample,
    set_arrays,
)
from fedrisk.privacy.attacks.result import AttackResult

__all__ = ["THRESHOLD", "coordinate_median", "run", "trimmed_mean"]

THRESHOLD = 0.5
TRIGGER = 4.0


def coordinate_median(updates: list[Arrays]) -> Arrays:
    """Coordinate-wise median of updates."""
    return [np.median(np.stack([u[k] for u in updates]), axis=0) for k in range(len(updates[0]))]


def trimmed_mean(updates: list[Arrays], trim: int = 1) -> Arrays:
    """Coordinate-wise mean after dropping the ``trim`` largest and smallest values."""
    if 2 * trim >= len(updates):
        raise ValueError(f"cannot trim {trim} from each side of {len(updates)} updates")
    out = []
    for k in range(len(updates[0])):
        stacked = np.sort(np.stack([u[k] for u in updates]), axis=0)
        out.append(stacked[trim : len(updates) - trim].mean(axis=0))
    return out


def _trigger(X: FloatArray, idx: npt.NDArray[np.intp]) -> FloatArray:
    out = X.copy()
    out[:, idx] = TRIGGER
    return out


def _backdoor_rate(model: object, clean_test: Dataset, idx: npt.NDArray[np.intp]) -> float:
    pos = clean_test.X[clean_test.y == 1]
    return float(np.mean(probabilities(model, _trigger(pos, idx)) <= 0.5))  # type: ignore[arg-type]


def run(mode: Mode, *, seed: int, quick: bool = True, protection: Protection | None = None) -> list[AttackResult]:
    """Backdoor under ``mode`` (and, in ``none``, under each robust aggregator)."""
    rng = np.random.default_rng(seed)
    w = make_task(rng)
    members = [sample(rng, w, 100) for _ in range(5)]
    test = sample(rng, w, 2000, label_noise=0.0)
    idx = np.argsort(np.abs(w))[:3]
    poisoned = Dataset(
        X=np.vstack([members[0].X, _trigger(members[0].X, idx)]), y=np.concatenate([members[0].y, np.zeros(100)])
    )
    rounds, epochs, hidden = (6, 10, 32) if quick else (12, 10, 64)
    scratch = make_model(w.size, hidden, seed + 1)
    boost = 1.0  # plain data poisoning; a x5 model-replacement boost overshot and wrecked the model (measured)
    prot = protection or Protection(clip_norm=1.0, noise_multiplier=0.3)

    def tamper(weights: Arrays, updates: list[Arrays]) -> list[Arrays]:
        bad = local_update(scratch, weights, poisoned, epochs=epochs)
        return [[boost * a for a in bad], *updates[1:]]

    clean, _ = fedavg(members, mode="none", rounds=rounds, epochs=epochs, hidden=hidden, seed=seed)
    chance = _backdoor_rate(clean, test, idx)
    results = []
    defences: list[tuple[str, Callable[[list[Arrays]], Arrays] | None]] = [("mean", None)]
    if mode == "none":
        defences += [("median", coordinate_median), ("trimmed_mean", trimmed_mean)]
    for name, robust in defences:
        if robust is None:
            model: object
            model, _ = fedavg(
                members, mode=mode, rounds=rounds, epochs=epochs, hidden=hidden, seed=seed,
                protection=prot, tamper=tamper, cheaters=(0,),
            )  # fmt: skip
        else:
            model = _robust_fedavg(members, robust, tamper, rounds=rounds, epochs=epochs, hidden=hidden, seed=seed)
        label = {"none": name, "dp": "norm check + clip + noise", "he": "none possible (sealed)"}.get(mode, "")
        results.append(
            AttackResult(
                attack="backdoor_poisoning",
                mode=mode,
                metric="backdoor_success",
                value=_backdoor_rate(model, test, idx),
                chance=chance,
                threshold=THRESHOLD,
                higher_is_success=True,
                defence=label or "clipping unverifiable under HE; noise only",
                utility=accuracy(model, test),  # type: ignore[arg-type]
                note="1 of 5 members malicious (data poisoning, no boost); utility = clean accuracy",
            )
        )
    return results


def _robust_fedavg(
    members: list[Dataset],
    robust: Callable[[list[Arrays]], Arrays],
    tamper: Callable[[Arrays, list[Arrays]], list[Arrays]],
    *,
    rounds: int,
    epochs: int,
    hidden: int,
    seed: int,
) -> object:
    model = make_model(members[0].X.shape[1], hidden, seed)
    weights = [p.detach().numpy().copy() for p in model.parameters()]
    for _ in range(rounds):
        updates = tamper(weights, [local_update(model, weights, m, epochs=epochs) for m in members])
        step = robust(updates)
        weights = [a + s for a, s in zip(weights, step, strict=True)]
    set_arrays(model, weights)
    _ = Aggregation  # the robust rules need plaintext updates: only possible in mode "none"
    return model
