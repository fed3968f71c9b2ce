"""Validation-only study of record-level DP-SGD settings on the quick members (not part of ``run_all``).

In-process FedAvg (weighted by training hours) of the stress model over the quick members, each member training
with plain ``train_steps`` or record-level ``private_train_steps`` (seeded noise, PLD-calibrated z per member);
scored by the median over members of AUPRC on their own *validation* period. Never test data.

Run (about 1-2 min per setting on a quiet 2-core machine)::

    FEDRISK_DATA_DIR=../shared/data .venv/bin/python -m bench.study_record_dp 5 40 \\
        plain:0:256:0 dp:1:256:8 dp:2:256:8 dp:3:256:8 dp:2:256:1

Each setting is ``kind:clip:batch:epsilon`` (kind ``plain`` or ``dp``). ``norms`` instead of settings prints the
per-hour gradient norm quantiles of the initial model on each member's training hours.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from fedrisk.evaluation.metrics import auprc
from fedrisk.features.stress import FEATURES
from fedrisk.federation.member_node import load_member
from fedrisk.federation.record_dp import per_example_grads, private_train_steps
from fedrisk.jobs.stress_config import quick_config
from fedrisk.models.stgraph import ModelConfig, STGraphNet, TorchMember, get_weights, predict, set_weights, train_steps
from fedrisk.privacy.accounting import calibrate_noise
from fedrisk.privacy.dp import NoiseSource


def _model(weights: list[np.ndarray] | None = None) -> STGraphNet:
    torch.manual_seed(7)
    model = STGraphNet(ModelConfig(n_features=len(FEATURES)))
    if weights is not None:
        set_weights(model, weights)
    return model


def _val_auprc(weights: list[np.ndarray], data: dict[str, TorchMember]) -> float:
    scores = []
    for d in data.values():
        probs = predict(_model(weights), d, d.val_idx)
        t = torch.from_numpy(d.val_idx)
        mask = d.label_mask[t].numpy()
        ap = auprc(d.y[t].numpy()[mask], probs[mask])
        if ap is not None:
            scores.append(ap)
    return float(np.median(scores))


def _run(spec: str, data: dict[str, TorchMember], rounds: int, steps: int) -> float:
    kind, clip, batch, eps = spec.split(":")
    weights = get_weights(_model())
    for r in range(rounds):
        updates, sizes = [], []
        for name, d in data.items():
            seed = [7, r, len(name)]  # the seeds the documented figures were measured with
            model = _model(weights)
            if kind == "plain":
                train_steps(model, [d], steps=steps, batch_size=int(batch), lr=1e-3, rng=np.random.default_rng(seed))
            else:
                q = min(1.0, int(batch) / d.n_train)
                z = calibrate_noise(
                    target_epsilon=float(eps), sample_rate=q, rounds=rounds * steps, delta=1e-5, rel_tolerance=1e-2
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    source = NoiseSource(secure_mode=False, rng=np.random.default_rng(seed))
                private_train_steps(
                    model,
                    d,
                    steps=steps,
                    batch_size=int(batch),
                    lr=1e-3,
                    weight_decay=1e-4,
                    clip_norm=float(clip),
                    noise_multiplier=z,
                    source=source,
                )
            updates.append(get_weights(model))
            sizes.append(d.n_train)
        w = np.array(sizes, dtype=float) / sum(sizes)
        weights = [sum(u[k] * wi for u, wi in zip(updates, w, strict=True)) for k in range(len(weights))]  # type: ignore[misc]
    return _val_auprc(weights, data)


def main(argv: list[str]) -> None:
    """Run the study named on the command line."""
    torch.set_num_threads(1)
    cfg = quick_config(7)
    data_dir = Path(os.environ.get("FEDRISK_DATA_DIR", "../shared/data"))
    data = {m: load_member(m, str(data_dir), cfg.split, 24, None) for m in cfg.members}
    rounds, steps = int(argv[0]), int(argv[1])
    if argv[2:] == ["norms"]:
        for m, d in data.items():
            idx = np.random.default_rng(0).choice(d.train_idx, 512, replace=False)
            grads, _ = per_example_grads(_model(), d, idx)
            norms = torch.sqrt(sum((g.reshape(g.shape[0], -1) ** 2).sum(1) for g in grads.values())).numpy()  # type: ignore[union-attr,arg-type]
            print(m, "per-hour gradient norm p50/p75/p90/p99:", np.round(np.quantile(norms, [0.5, 0.75, 0.9, 0.99]), 3))
        return
    for spec in argv[2:]:
        start = time.perf_counter()
        score = _run(spec, data, rounds, steps)
        print(f"{spec:<14} median validation AUPRC {score:.4f}  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
