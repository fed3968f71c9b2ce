"""Free-riding: a member sends zero or stale (replayed) updates to harvest the model (Lin et al. 2019;
Fraboni et al. 2021), and the coordinator's detector.

Detector (needs to see individual updates): flag a member whose update norm is below 10 % of the round's
median norm, or whose update has cosine similarity > 0.99 with its own previous update. Metric: the share of
the free-rider's rounds that went *undetected* (success >= 0.5); the note gives the false-positive rate on
honest members. Under ``he``/``all`` the coordinator sees no individual update, so it cannot run the detector.
"""

from __future__ import annotations

import numpy as np

from fedrisk.privacy.attacks._sim import Arrays, Mode, Protection, accuracy, fedavg, make_task, sample
from fedrisk.privacy.attacks.result import AttackResult
from fedrisk.privacy.he import flatten_update

__all__ = ["THRESHOLD", "detect", "run"]

THRESHOLD = 0.5


def detect(seen: list[Arrays | None], previous: list[Arrays | None]) -> list[bool]:
    """Flags per member for one round (``False`` where the update is not visible)."""
    flats = [None if s is None else flatten_update(s) for s in seen]
    norms = [float(np.linalg.norm(f)) for f in flats if f is not None]
    if not norms:
        return [False] * len(seen)
    median = float(np.median(norms))
    flags = []
    for f, p in zip(flats, previous, strict=True):
        if f is None:
            flags.append(False)
            continue
        low = float(np.linalg.norm(f)) < 0.1 * median
        stale = False
        if p is not None:
            q = flatten_update(p)
            denom = float(np.linalg.norm(f) * np.linalg.norm(q))
            stale = denom > 0 and float(f @ q) / denom > 0.99
        flags.append(low or stale)
    return flags


def run(mode: Mode, *, seed: int, quick: bool = True, protection: Protection | None = None) -> list[AttackResult]:
    """A zero-update free-rider and a stale (replaying) free-rider, each as member 0 of 5."""
    rng = np.random.default_rng(seed)
    w = make_task(rng)
    members = [sample(rng, w, 80) for _ in range(5)]
    test = sample(rng, w, 2000, label_noise=0.0)
    rounds = 6 if quick else 12
    results = []
    for kind in ("zero", "stale"):
        first: list[Arrays] = []

        def tamper(
            weights: Arrays, updates: list[Arrays], kind: str = kind, first: list[Arrays] = first
        ) -> list[Arrays]:
            if kind == "zero":
                fake = [np.zeros_like(a) for a in updates[0]]
            else:
                if not first:
                    first.append(updates[0])
                fake = [a.copy() for a in first[0]]
            return [fake, *updates[1:]]

        model, views = fedavg(
            members, mode=mode, rounds=rounds, epochs=5, hidden=16, seed=seed,
            protection=protection or Protection(clip_norm=1.0), tamper=tamper,
        )  # fmt: skip
        flagged, honest_flags = [], []
        previous: list[Arrays | None] = [None] * len(members)
        for i, view in enumerate(views):
            flags = detect(view.seen, previous)
            previous = list(view.seen)
            if kind == "stale" and i == 0:
                continue  # the first replayed update is genuine
            flagged.append(flags[0])
            honest_flags += flags[1:]
        visible = view.seen[0] is not None
        results.append(
            AttackResult(
                attack=f"free_riding_{kind}",
                mode=mode,
                metric="undetected_share",
                value=1.0 - float(np.mean(flagged)),
                chance=1.0,
                threshold=THRESHOLD,
                higher_is_success=True,
                defence="norm + staleness detector" if visible else "detector impossible (updates sealed)",
                utility=accuracy(model, test),
                note=f"utility = accuracy of the harvested model; honest falsely flagged: {np.mean(honest_flags):.2f}",
            )
        )
    return results
