"""The red team against the real stress model of a run (``fedrisk redteam --run RUN_DIR``).

Inputs: the run's saved global model (``model/``), its settings (``results.json`` → ``config.stress``) and the
members' own data (the data dir). The federation is re-enacted in process (the real ``train_steps`` of the
member node, the real clipping / noise / CKKS code of :mod:`._sim`) so that each protection layer can be
switched on and off; nothing is written to the run except ``redteam.json`` / the demo section.

Modes: ``none`` (plain FedAvg), ``dp`` (members clip, noise at the coordinator), ``secagg`` (the coordinator
sees only the sum: the view SecAgg+ gives it — the Flower protocol itself is not run here), ``he`` (CKKS, the
real encryption path), ``all`` (clip + distributed noise + CKKS + min cohort 3).

Attacks (success thresholds fixed here, before any run):

* ``membership_loss_threshold`` — loss-threshold membership inference on the released model: members' training
  hours vs their validation hours (non-members, the next half-year), AUC averaged over members. ``none`` and
  ``he``/``secagg`` release the same model (tests/he shows HE = plain within 1e-5), so those rows use the
  run's SAVED global model; a member's *local* model (trained alone with the run's local budget) is reported
  beside it; ``dp``/``all`` retrain the federation in process under the layer. Success: AUC >= 0.55.
  Caveat: train and validation hours are different periods, so a drift of the loss over time also moves it.
* ``label_inversion_single_record`` — gradient inversion (iDLG, Zhao et al. 2020) on one member's update: a
  malicious coordinator asks for one local step on a batch of one window (the job config is its to send); the
  sign of the head-bias update gives the window's stress label (Adam's first step is ``-lr * sign(g)``).
  Accuracy over balanced targets; success >= 0.9. Feature reconstruction is NOT attempted here.
* ``property_inference_stress_share`` — from one member's update, tell a high-stress training period from a
  calm one (meta-classifier on shadow updates from auxiliary members' data). AUC; success >= 0.7.
* ``isolation_small_cohort`` — every route that would release one or two members' contribution through the
  real code (job cohort, CKKS aggregator, decryptor, secure index). Share released; success > 0.
* ``poisoning_model_replacement`` — one member boosts an update that replaces the global model by one whose head
  is negated (predictions inverted; Bagdasaryan et al. 2020), against mean / median / trimmed mean / clipping.
  Metric: how far the released model moved to the attacker's (1 = replaced); success >= 0.5. The validation
  AUPRC after the round is the utility column.
* ``free_riding_zero`` / ``free_riding_stale`` — a member sends a zero / last round's update; the norm and
  staleness detector of :mod:`.free_riding`. Success (for the free-rider): undetected share >= 0.5.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from fedrisk.errors import ConfigError, FedriskError, QuorumError
from fedrisk.evaluation.metrics import auprc
from fedrisk.features.panel import Split
from fedrisk.features.pipeline import member_panel
from fedrisk.models.saved import load_model
from fedrisk.models.stgraph import (
    STGraphNet,
    TorchMember,
    get_weights,
    predict,
    prepare_member,
    set_weights,
    train_steps,
)
from fedrisk.privacy.attacks._sim import Aggregation, Protection, RoundView, single_thread
from fedrisk.privacy.attacks.free_riding import detect
from fedrisk.privacy.attacks.poisoning import coordinate_median, trimmed_mean
from fedrisk.privacy.attacks.result import AttackResult
from fedrisk.privacy.dp import clip_update
from fedrisk.privacy.he import flatten_update

__all__ = ["STRESS_MODES", "StressSetting", "load_setting", "run_stress_config", "run_stress_redteam"]

StressMode = Literal["none", "dp", "secagg", "he", "all"]
STRESS_MODES: tuple[StressMode, ...] = ("none", "dp", "secagg", "he", "all")
Arrays = list[npt.NDArray[np.float64]]
SUM_ONLY = ("secagg", "he", "all")


@dataclass(slots=True)
class StressSetting:
    """A run's released model, its members' prepared data and the run's local-training settings."""

    model: STGraphNet
    weights: list[np.ndarray]
    members: dict[str, TorchMember]
    local_steps: int
    batch_size: int
    lr: float
    rounds: int
    seed: int


def run_stress_config(run_dir: Path) -> dict[str, Any]:
    """``config.stress`` of a finished run (its ``results.json``)."""
    results = Path(run_dir) / "results.json"
    if not results.is_file():
        raise ConfigError(f"{results} not found: pass the directory of a `fedrisk demo` run")
    try:
        config: dict[str, Any] = json.loads(results.read_text())["config"]["stress"]
    except (json.JSONDecodeError, KeyError) as err:
        raise ConfigError(f"{results} has no config.stress section: {err!r}") from err
    return config


def load_setting(
    run_dir: Path, data_dir: Path, *, config: dict[str, Any] | None = None, max_members: int | None = None
) -> StressSetting:
    """Load the run's saved model and settings, and prepare each member's data with the run's normalisation.

    ``config`` is the run's ``config.stress`` (read from ``results.json`` when omitted).
    """
    config = config if config is not None else run_stress_config(run_dir)
    saved = load_model(Path(run_dir))
    s = config["split"]
    split = Split(
        train_start=pd.Timestamp(s["train_start"]),
        val_start=pd.Timestamp(s["val_start"]),
        test_start=pd.Timestamp(s["test_start"]),
        test_end=pd.Timestamp(s["test_end"]),
        horizon=int(s["horizon_hours"]),
    )
    fed = config["federated"]
    window = int(saved.config.window)
    names = [m for m in config["members"] if m in saved.members][: max_members or None]
    members = {}
    for name in names:
        panel = member_panel(Path(data_dir), name, horizon=split.horizon)
        members[name] = prepare_member(
            panel,
            saved.members[name].normaliser,
            train_idx=panel.train_index(split, window=window),
            val_idx=panel.val_index(split, window=window),
            test_idx=panel.test_index(split, window=window),
            window=window,
        )
    if len(members) < 3:
        raise ConfigError(f"the red team needs >= 3 members with data, found {sorted(members)}")
    return StressSetting(
        model=saved.model,
        weights=get_weights(saved.model),
        members=members,
        local_steps=int(fed["local_steps"]),
        batch_size=int(fed["batch_size"]),
        lr=float(fed["lr"]),
        rounds=int(fed["rounds"]),
        seed=int(config.get("seed", 7)),
    )


# ---- in-process federation on the stress model --------------------------------------------------------------------


def _clone(setting: StressSetting, weights: Sequence[np.ndarray]) -> STGraphNet:
    model = STGraphNet(setting.model.config)
    set_weights(model, [np.asarray(w, np.float32) for w in weights])
    return model


def local_update(
    setting: StressSetting, weights: Sequence[np.ndarray], member: TorchMember, *, steps: int, seed: int
) -> Arrays:
    """The member node's local training (``train_steps``) from ``weights``; returns new − old (float64)."""
    model = _clone(setting, weights)
    rng = np.random.default_rng([seed, sum(map(ord, member.name))])
    train_steps(model, [member], steps=steps, batch_size=setting.batch_size, lr=setting.lr, rng=rng)
    return [
        np.asarray(n, np.float64) - np.asarray(o, np.float64) for n, o in zip(get_weights(model), weights, strict=True)
    ]


def _aggregate(mode: StressMode, agg: Aggregation | None, updates: list[Arrays], cheaters: Sequence[int]) -> RoundView:
    if mode == "secagg":  # the coordinator's SecAgg+ view: the sum only
        mean = [np.mean([u[k] for u in updates], axis=0) for k in range(len(updates[0]))]
        return RoundView(mean=mean, seen=[None] * len(updates))
    assert agg is not None
    return agg(updates, cheaters=cheaters)


def federate(
    setting: StressSetting,
    mode: StressMode,
    *,
    rounds: int,
    seed: int,
    protection: Protection,
    tamper: Callable[[int, Arrays, list[Arrays], list[Arrays]], list[Arrays]] | None = None,
    combine: Callable[[list[Arrays]], Arrays] | None = None,
    cheaters: Sequence[int] = (),
) -> tuple[list[np.ndarray], list[RoundView], list[list[Arrays]]]:
    """FedAvg rounds from the saved model under ``mode``; returns weights, views and the raw updates per round."""
    agg = None if mode == "secagg" else Aggregation(mode=mode, protection=protection, seed=seed)
    weights = [np.asarray(w, np.float64) for w in setting.weights]
    views, raw = [], []
    history: list[Arrays] = []
    for rnd in range(rounds):
        updates = [
            local_update(setting, weights, m, steps=setting.local_steps, seed=seed + rnd)
            for m in setting.members.values()
        ]
        if tamper is not None:
            updates = tamper(rnd, weights, updates, history)
        history = updates
        if combine is not None and mode == "none":
            view = RoundView(mean=combine(updates), seen=[list(u) for u in updates])
        else:
            view = _aggregate(mode, agg, updates, cheaters)
        weights = [w + u for w, u in zip(weights, view.mean, strict=True)]
        views.append(view)
        raw.append(updates)
    return weights, views, raw


def federated_auprc(setting: StressSetting, weights: Sequence[np.ndarray]) -> float:
    """Mean validation AUPRC over members with events (the utility every row reports)."""
    model = _clone(setting, weights)
    values = []
    for m in setting.members.values():
        probs = predict(model, m, m.val_idx)
        t = torch.from_numpy(m.val_idx)
        mask = m.label_mask[t].numpy()
        ap = auprc(m.y[t].numpy()[mask], probs[mask])
        if ap is not None:
            values.append(ap)
    return float(np.mean(values)) if values else float("nan")


# ---- attacks -------------------------------------------------------------------------------------------------------


def _cell_losses(model: STGraphNet, member: TorchMember, idx: np.ndarray) -> np.ndarray:
    probs = np.clip(predict(model, member, idx), 1e-6, 1 - 1e-6)
    t = torch.from_numpy(idx)
    y, mask = member.y[t].numpy(), member.label_mask[t].numpy()
    loss = -(y * np.log(probs) + (1 - y) * np.log(1 - probs))
    return np.asarray(loss[mask], np.float64)


def membership_auc(model: STGraphNet, members: Sequence[TorchMember], *, n: int, seed: int) -> float:
    """Loss-threshold MI: AUC of −loss separating training cells (members) from validation cells."""
    rng = np.random.default_rng(seed)
    aucs = []
    for m in members:
        tr = rng.choice(m.train_idx, size=min(n, len(m.train_idx)), replace=False)
        va = rng.choice(m.val_idx, size=min(n, len(m.val_idx)), replace=False)
        inside, outside = _cell_losses(model, m, tr), _cell_losses(model, m, va)
        y = np.r_[np.ones(inside.size), np.zeros(outside.size)]
        aucs.append(float(roc_auc_score(y, -np.r_[inside, outside])))
    return float(np.mean(aucs))


def membership_rows(
    setting: StressSetting,
    views: dict[StressMode, list[np.ndarray]],
    *,
    n: int,
    seed: int,
    local_members: int | None = None,
) -> list[AttackResult]:
    """MI against each mode's released model, plus one local-only model per member for reference."""
    rows = []
    members = list(setting.members.values())
    utility: dict[int, float] = {}
    for mode, weights in views.items():
        if id(weights) not in utility:
            utility[id(weights)] = federated_auprc(setting, weights)
        note = (
            "run's saved global model" if mode in ("none", "secagg", "he") else "federation retrained under the layer"
        )
        rows.append(
            AttackResult(
                "membership_loss_threshold",
                mode,
                "auc",
                membership_auc(_clone(setting, weights), members, n=n, seed=seed),
                0.5,
                0.55,
                True,
                utility=utility[id(weights)],
                note=note,
            )
        )
    local_aucs = []
    for m in members[:local_members]:
        model = _clone(setting, setting.weights)
        torch.manual_seed(seed)
        for layer in model.modules():
            reset = getattr(layer, "reset_parameters", None)
            if layer is not model and callable(reset):
                reset()
        steps = setting.local_steps * setting.rounds * 4
        train_steps(
            model, [m], steps=steps, batch_size=setting.batch_size, lr=setting.lr, rng=np.random.default_rng(seed)
        )
        local_aucs.append(membership_auc(model, [m], n=n, seed=seed))
    rows.append(
        AttackResult(
            "membership_loss_threshold_local_model",
            "none",
            "auc",
            float(np.mean(local_aucs)),
            0.5,
            0.55,
            True,
            defence="no federation (each member alone)",
            note=f"{len(local_aucs)} local model(s), {setting.local_steps * setting.rounds * 4} steps each",
        )
    )
    return rows


def _targets(member: TorchMember, k: int, seed: int) -> list[tuple[np.ndarray, int]]:
    """Up to ``k`` training windows per label whose labelled assets agree (all calm or all stressed)."""
    rng = np.random.default_rng(seed)
    t = torch.from_numpy(member.train_idx)
    y, mask = member.y[t].numpy(), member.label_mask[t].numpy()
    labelled = mask.sum(axis=1) > 0
    calm = member.train_idx[labelled & ((y * mask).sum(axis=1) == 0)]
    stressed = member.train_idx[labelled & ((y * mask).sum(axis=1) == mask.sum(axis=1))]
    out = []
    for pool, label in ((calm, 0), (stressed, 1)):
        for h in rng.choice(pool, size=min(k, len(pool)), replace=False):
            out.append((np.array([h]), label))
    return out


def _single_window_update(setting: StressSetting, member: TorchMember, hour: np.ndarray) -> Arrays:
    model = _clone(setting, setting.weights)
    opt = torch.optim.Adam(model.parameters(), lr=setting.lr)
    logits = model(member.windows(hour), member.adj)
    t = torch.from_numpy(hour)
    mask = member.label_mask[t]
    loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, member.y[t], reduction="none") * mask).sum()
    opt.zero_grad()
    (loss / mask.sum().clamp(min=1)).backward()  # type: ignore[no-untyped-call]
    opt.step()
    return [
        np.asarray(n, np.float64) - np.asarray(o, np.float64)
        for n, o in zip(get_weights(model), setting.weights, strict=True)
    ]


def label_inversion_rows(setting: StressSetting, *, k: int, seed: int, protection: Protection) -> list[AttackResult]:
    """iDLG label inference from a crafted one-window round, per mode (what the coordinator sees)."""
    members = list(setting.members.values())
    target = max(members, key=lambda m: float(m.y[torch.from_numpy(m.train_idx)].sum()))
    others = [m for m in members if m is not target]
    cases = _targets(target, k, seed)
    rng = np.random.default_rng(seed)
    rounds = [
        [_single_window_update(setting, target, hour)]
        + [_single_window_update(setting, o, rng.choice(o.train_idx, size=1)) for o in others]
        for hour, _ in cases
    ]
    rows = []
    for mode in STRESS_MODES:
        agg = None if mode == "secagg" else Aggregation(mode=mode, protection=protection, seed=seed)
        hits = []
        for (_, label), updates in zip(cases, rounds, strict=True):
            view = _aggregate(mode, agg, updates, ())
            seen = view.seen[0] if view.seen[0] is not None else [len(updates) * a for a in view.mean]
            bias = float(np.asarray(seen[-1]).ravel()[0])  # head.bias is the last array
            hits.append(int(bias > 0) == label)  # Adam: d_bias = -lr sign(p - y) > 0  <=>  y = 1
        rows.append(
            AttackResult(
                "label_inversion_single_record",
                mode,
                "accuracy",
                float(np.mean(hits)),
                0.5,
                0.9,
                True,
                note=f"target {target.name}, {len(cases)} windows (half stressed); "
                + (
                    "coordinator sees the target's update"
                    if view.seen[0] is not None
                    else "coordinator sees the sum only"
                ),
            )
        )
    return rows


def _subset_member(member: TorchMember, idx: np.ndarray) -> TorchMember:
    return TorchMember(
        member.name,
        member.X,
        member.y,
        member.label_mask,
        member.adj,
        idx,
        member.val_idx,
        member.test_idx,
        member.window,
    )


def _stress_split(member: TorchMember) -> tuple[np.ndarray, np.ndarray]:
    t = torch.from_numpy(member.train_idx)
    share = (member.y[t] * member.label_mask[t]).sum(dim=1).numpy() > 0
    return member.train_idx[share], member.train_idx[~share]


def _property_update(
    setting: StressSetting, member: TorchMember, high: bool, rng: np.random.Generator, seed: int
) -> Arrays:
    stressed, calm = _stress_split(member)
    n = min(1024, len(calm))
    n_hot = min(len(stressed), n // 2 if high else n // 20)
    idx = np.r_[rng.choice(stressed, size=n_hot, replace=False), rng.choice(calm, size=n - n_hot, replace=False)]
    return local_update(
        setting, setting.weights, _subset_member(member, np.sort(idx)), steps=setting.local_steps, seed=seed
    )


def property_rows(
    setting: StressSetting, *, shadows: int, trials: int, seed: int, protection: Protection
) -> list[AttackResult]:
    """Meta-classifier on (flattened, normalised) updates: high-stress vs calm training period."""
    members = list(setting.members.values())
    target, aux = members[0], members[1:]
    rng = np.random.default_rng(seed)
    X, y = [], []
    for s in range(shadows):
        m = aux[s % len(aux)]
        for high in (True, False):
            u = flatten_update(_property_update(setting, m, high, rng, seed + s))
            X.append(u / (np.linalg.norm(u) + 1e-12))
            y.append(int(high))
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(np.array(X), np.array(y))
    rows = []
    cases = []
    for k in range(trials):
        for high in (True, False):
            own = _property_update(setting, target, high, rng, seed + 100 + k)
            rest = [
                local_update(setting, setting.weights, o, steps=setting.local_steps, seed=seed + 200 + k) for o in aux
            ]
            cases.append((own, rest, int(high)))
    for mode in STRESS_MODES:
        agg = None if mode == "secagg" else Aggregation(mode=mode, protection=protection, seed=seed)
        scores, labels = [], []
        for own, rest, label in cases:
            view = _aggregate(mode, agg, [own, *rest], ())
            seen = view.seen[0] if view.seen[0] is not None else view.mean
            u = flatten_update(seen)
            scores.append(float(clf.decision_function((u / (np.linalg.norm(u) + 1e-12))[None, :])[0]))
            labels.append(label)
        rows.append(
            AttackResult(
                "property_inference_stress_share",
                mode,
                "auc",
                float(roc_auc_score(labels, scores)),
                0.5,
                0.7,
                True,
                note=f"target {target.name}; {shadows} shadow pairs from other members' data",
            )
        )
    return rows


def isolation_rows() -> list[AttackResult]:
    """Try every small-cohort route through the real code; count the ones that release something."""
    from fedrisk.federation.he_aggregation import decrypt_sum
    from fedrisk.federation.plan import Job
    from fedrisk.privacy.he import CkksAggregator, CkksMember, ckks_keygen, secure_index_sum

    keys = ckks_keygen()
    member, coordinator = CkksMember(keys.secret), CkksAggregator(keys.public)
    one = member.encrypt_vector([1.0, 2.0])
    routes: dict[str, Callable[[], object]] = {
        "job cohort of 2": lambda: Job("isolate", ("target", "sybil")),
        "CKKS sum of 2": lambda: coordinator.aggregate([one, one]),
        "decrypt a single update": lambda: decrypt_sum(member, one),
        "secure index over 2": lambda: secure_index_sum({"a": [0.1], "b": [0.2]}, bits=512),
    }
    released = 0
    for route in routes.values():
        try:
            route()
            released += 1
        except (QuorumError, ConfigError, FedriskError):
            pass
    return [
        AttackResult(
            "isolation_small_cohort",
            mode,
            "released_share",
            released / len(routes),
            0.0,
            1e-9,
            True,
            defence="min cohort 3",
            note="; ".join(routes) + " — all refused" if not released else "",
        )
        for mode in STRESS_MODES
    ]


def _adversarial(weights: Sequence[np.ndarray]) -> Arrays:
    """The attacker's target: the global model with its logistic head negated (every ranking inverted)."""
    adversarial = [np.asarray(w, np.float64) for w in weights]
    adversarial[-2], adversarial[-1] = -adversarial[-2], -adversarial[-1]
    return adversarial


def replacement_share(
    released: Sequence[np.ndarray], start: Sequence[np.ndarray], target: Sequence[np.ndarray]
) -> float:
    """``1 - |released - target| / |start - target|``: 1 = the attacker's model was released, 0 = untouched."""
    gap = float(
        np.linalg.norm(flatten_update([np.asarray(s, np.float64) - t for s, t in zip(start, target, strict=True)]))
    )
    left = float(
        np.linalg.norm(flatten_update([np.asarray(r, np.float64) - t for r, t in zip(released, target, strict=True)]))
    )
    return 1.0 - left / gap if gap > 0 else float("nan")


def poisoning_rows(setting: StressSetting, *, seed: int, protection: Protection, clean: float) -> list[AttackResult]:
    """One round of model replacement by member 0 against mean / median / trimmed mean / clipping.

    The attacker boosts ``n x (target - global)`` (Bagdasaryan et al. 2020) so the mean lands on its target;
    under ``all`` it skips clipping and noise (nobody can check under encryption).
    """

    def tamper(rnd: int, weights: Arrays, updates: list[Arrays], history: list[Arrays]) -> list[Arrays]:
        boost = float(len(updates))
        return [[boost * (a - w) for a, w in zip(_adversarial(weights), weights, strict=True)], *updates[1:]]

    target = _adversarial(setting.weights)
    rows = []
    defences: list[tuple[StressMode, str, Callable[[list[Arrays]], Arrays] | None]] = [
        ("none", "mean", None),
        ("none", "median", coordinate_median),
        ("none", "trimmed_mean", lambda u: trimmed_mean(u, trim=1)),
        ("dp", "norm check + clip + noise", None),
        ("secagg", "none possible (sum only)", None),
        ("he", "none possible (sealed)", None),
        ("all", "clipping unverifiable under HE; noise", None),
    ]
    previous: tuple[float, float] = (float("nan"), float("nan"))
    for mode, name, combine in defences:
        if mode in ("secagg", "he"):  # the same mean as plain FedAvg (HE = plain within 1e-5, tests/he)
            share, value = previous
        else:
            weights, _, _ = federate(
                setting,
                mode,
                rounds=1,
                seed=seed,
                protection=protection,
                tamper=tamper,
                combine=combine,
                cheaters=(0,) if mode == "all" else (),
            )
            share, value = replacement_share(weights, setting.weights, target), federated_auprc(setting, weights)
            if mode == "none" and combine is None:
                previous = (share, value)
        rows.append(
            AttackResult(
                "poisoning_model_replacement",
                mode,
                "replacement_share",
                share,
                0.0,
                0.5,
                True,
                defence=name,
                utility=value,
                note=f"val AUPRC after the round {value:.3f} (clean {clean:.3f})",
            )
        )
    return rows


def _clipped(update: Arrays, clip_norm: float) -> Arrays:
    return [np.asarray(a, np.float64) for a in clip_update(list(update), clip_norm)[0]]


def free_riding_rows(setting: StressSetting, *, rounds: int, seed: int, protection: Protection) -> list[AttackResult]:
    """A zero or stale update from member 0; the detector sees what the mode shows it.

    Under ``secagg``/``he``/``all`` the coordinator receives no individual update, so the detector has nothing to
    flag: the free-rider is undetected by construction (no federation is run for those rows).
    """
    rows = []
    for kind in ("zero", "stale"):

        def tamper(
            rnd: int, weights: Arrays, updates: list[Arrays], history: list[Arrays], kind: str = kind
        ) -> list[Arrays]:
            if kind == "zero":
                return [[np.zeros_like(a) for a in updates[0]], *updates[1:]]
            return [history[0] if history else updates[0], *updates[1:]]

        _, _, raw = federate(setting, "none", rounds=rounds, seed=seed, protection=protection, tamper=tamper)
        for mode in STRESS_MODES:
            if mode in SUM_ONLY:
                rows.append(
                    AttackResult(
                        f"free_riding_{kind}",
                        mode,
                        "undetected_share",
                        1.0,
                        1.0,
                        0.5,
                        True,
                        defence="detector impossible (sum only)",
                        note="no individual update reaches the detector",
                    )
                )
                continue
            undetected: list[bool] = []
            previous: list[Arrays | None] = [None] * len(setting.members)
            for rnd, updates in enumerate(raw):  # dp: the coordinator sees the same updates, clipped
                seen: list[Arrays | None] = [
                    u if mode == "none" else _clipped(u, protection.clip_norm) for u in updates
                ]
                flags = detect(seen, previous)
                if kind == "zero" or rnd > 0:  # a stale update exists from round 2 on
                    undetected.append(not flags[0])
                previous = seen
            rows.append(
                AttackResult(
                    f"free_riding_{kind}",
                    mode,
                    "undetected_share",
                    float(np.mean(undetected)),
                    1.0,
                    0.5,
                    True,
                    defence="norm + staleness detector",
                    note=f"{len(undetected)} round(s) checked",
                )
            )
    return rows


def run_stress_redteam(
    run_dir: Path,
    data_dir: Path,
    *,
    quick: bool = True,
    seed: int = 0,
    protection: Protection | None = None,
    config: dict[str, Any] | None = None,
) -> dict[str, object]:
    """Every attack against the run's stress model under every mode; returns ``{rows, settings, wall_time_s}``."""
    start = time.perf_counter()
    p = protection or Protection(clip_norm=1.0, noise_multiplier=1.0)
    with single_thread():
        setting = load_setting(run_dir, data_dir, config=config, max_members=4 if quick else None)
        loaded = time.perf_counter() - start
        rounds = 2 if quick else setting.rounds
        released: dict[StressMode, list[np.ndarray]] = {m: setting.weights for m in ("none", "secagg", "he")}
        for mode in ("dp", "all"):
            released[mode] = federate(setting, mode, rounds=rounds, seed=seed, protection=p)[0]  # type: ignore[arg-type]
        clean = federated_auprc(setting, federate(setting, "none", rounds=rounds, seed=seed, protection=p)[0])
        rows = membership_rows(
            setting, released, n=1000 if quick else 4000, seed=seed, local_members=2 if quick else None
        )
        rows += label_inversion_rows(setting, k=6 if quick else 20, seed=seed, protection=p)
        rows += property_rows(setting, shadows=4 if quick else 20, trials=2 if quick else 10, seed=seed, protection=p)
        rows += isolation_rows()
        rows += poisoning_rows(setting, seed=seed, protection=p, clean=clean)
        rows += free_riding_rows(setting, rounds=2, seed=seed, protection=p)
    return {
        "status": "ok",
        "run_dir": str(run_dir),
        "members": list(setting.members),
        "rounds": rounds,
        "protection": {"clip_norm": p.clip_norm, "noise_multiplier": p.noise_multiplier},
        "clean_federated_val_auprc": clean,
        "load_s": round(loaded, 2),
        "wall_time_s": round(time.perf_counter() - start, 2),
        "rows": [r.to_dict() for r in rows],
    }
