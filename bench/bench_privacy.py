"""Privacy bench: DP-SGD vs plain local training (the wired stress path and an Opacus MLP), accountants, noise.

The stress figures time one member's round of local training as the federation runs it: ``train_steps``
(plain) vs ``fedrisk.federation.record_dp.private_train_steps`` (record-level DP-SGD with per-hour gradients,
Poisson sampling, clipping and secure noise), same model (STGraphNet), same steps and batch size, on a synthetic
member of 4 assets and ``STRESS_HOURS`` training hours.

Run: ``.venv/bin/python -m bench.bench_privacy`` (about 30-60 s on 2 cores). Ratios are measured
side by side in one run (plain and DP alternate; the best of ``REPEATS`` is kept for each).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fedrisk.privacy.accounting import calibrate_noise, epsilon
from fedrisk.privacy.dp import NoiseSource, make_private

ROWS, FEATURES, BATCH, EPOCHS, REPEATS = 20_000, 30, 256, 2, 2
STRESS_HOURS, STRESS_ASSETS, STRESS_STEPS = 8_000, 4, 40


def _stress_member() -> Any:
    import numpy as np

    from fedrisk.features.stress import FEATURES as STRESS_FEATURES
    from fedrisk.models.stgraph import TorchMember

    gen = np.random.default_rng(0)
    hours, f = STRESS_HOURS + 24, len(STRESS_FEATURES)
    x = gen.standard_normal((hours, STRESS_ASSETS, f)).astype(np.float32)
    y = (gen.random((hours, STRESS_ASSETS)) < 0.05).astype(np.float32)
    adj = np.full((STRESS_ASSETS, STRESS_ASSETS), 1.0 / STRESS_ASSETS, dtype=np.float32)
    idx = np.arange(24, hours)
    return TorchMember(
        name="bench",
        X=torch.from_numpy(x),
        y=torch.from_numpy(y),
        label_mask=torch.ones((hours, STRESS_ASSETS), dtype=torch.bool),
        adj=torch.from_numpy(adj),
        train_idx=idx,
        val_idx=idx[:0],
        test_idx=idx[:0],
        window=24,
    )


def _stress_round(member: Any, kind: str) -> float:
    import numpy as np

    from fedrisk.features.stress import FEATURES as STRESS_FEATURES
    from fedrisk.federation.record_dp import private_train_steps
    from fedrisk.models.stgraph import ModelConfig, STGraphNet, train_steps

    torch.manual_seed(0)
    model = STGraphNet(ModelConfig(n_features=len(STRESS_FEATURES)))
    start = time.perf_counter()
    if kind == "plain":
        train_steps(model, [member], steps=STRESS_STEPS, batch_size=BATCH, lr=1e-3, rng=np.random.default_rng(0))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source = NoiseSource() if kind == "secure" else NoiseSource(secure_mode=False, rng=0)
        private_train_steps(
            model,
            member,
            steps=STRESS_STEPS,
            batch_size=BATCH,
            lr=1e-3,
            weight_decay=1e-4,
            clip_norm=1.0,
            noise_multiplier=0.6,
            source=source,
        )
    return time.perf_counter() - start


def _data() -> TensorDataset:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(ROWS, FEATURES, generator=gen)
    w = torch.randn(FEATURES, generator=gen)
    y = ((x @ w + 0.5 * torch.randn(ROWS, generator=gen)) > 0).long()
    return TensorDataset(x, y)


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))


def _loop(model: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader[tuple[torch.Tensor, ...]]) -> None:
    for _ in range(EPOCHS):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()


def _plain(data: TensorDataset) -> float:
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(data, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(1))
    start = time.perf_counter()
    _loop(model, optimizer, loader)
    return time.perf_counter() - start


def _dp(data: TensorDataset, secure: bool) -> float:
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(data, batch_size=BATCH)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        private = make_private(
            model,
            optimizer,
            loader,
            noise_multiplier=1.0,
            max_grad_norm=1.0,
            secure_mode=secure,
            rng=None if secure else 0,
        )
        start = time.perf_counter()
        _loop(private.model, private.optimizer, private.data_loader)
    return time.perf_counter() - start


def _opacus_default(data: TensorDataset) -> float:
    """Opacus' own path (its Poisson loader, torch PRNG noise): separates wrapper cost from Opacus cost."""
    from opacus import PrivacyEngine

    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = PrivacyEngine(accountant="rdp")
        dp_model, dp_opt, dp_loader = engine.make_private(
            module=model,
            optimizer=optimizer,
            data_loader=DataLoader(data, batch_size=BATCH),
            noise_multiplier=1.0,
            max_grad_norm=1.0,
        )
        start = time.perf_counter()
        _loop(dp_model, dp_opt, dp_loader)
    return time.perf_counter() - start


def _best(fn: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> dict[str, float]:
    """Measure, print a small table, return the figures."""
    torch.set_num_threads(1)
    data = _data()
    member = _stress_member()
    st_plain, st_secure, st_seeded = [], [], []
    for _ in range(REPEATS + 1):  # interleaved; the first pass also warms torch.func up
        st_plain.append(_stress_round(member, "plain"))
        st_secure.append(_stress_round(member, "secure"))
        st_seeded.append(_stress_round(member, "seeded"))
    plain, dp_secure, dp_seeded, dp_opacus = [], [], [], []
    for _ in range(REPEATS):  # interleaved, so load changes hit all four alike
        plain.append(_plain(data))
        dp_secure.append(_dp(data, secure=True))
        dp_seeded.append(_dp(data, secure=False))
        dp_opacus.append(_opacus_default(data))
    known: dict[str, Any] = {"noise_multiplier": 1.0, "sample_rate": 0.1, "rounds": 50, "delta": 1e-5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seeded = NoiseSource(secure_mode=False, rng=0)
    source = NoiseSource()
    figures = {
        "stress_plain_round_s": min(st_plain),
        "stress_record_dp_secure_round_s": min(st_secure),
        "stress_record_dp_seeded_round_s": min(st_seeded),
        "stress_record_dp_secure_over_plain": min(st_secure) / min(st_plain),
        "stress_record_dp_seeded_over_plain": min(st_seeded) / min(st_plain),
        "plain_train_s": min(plain),
        "dpsgd_secure_train_s": min(dp_secure),
        "dpsgd_seeded_train_s": min(dp_seeded),
        "dpsgd_opacus_default_train_s": min(dp_opacus),
        "dpsgd_secure_over_plain": min(dp_secure) / min(plain),
        "dpsgd_seeded_over_plain": min(dp_seeded) / min(plain),
        "dpsgd_opacus_default_over_plain": min(dp_opacus) / min(plain),
        "epsilon_pld_s": _best(lambda: epsilon(**known, accountant="pld")),
        "epsilon_rdp_s": _best(lambda: epsilon(**known, accountant="rdp")),
        "calibrate_pld_s": _best(
            lambda: calibrate_noise(target_epsilon=3.0, sample_rate=0.1, rounds=50, delta=1e-5), repeats=1
        ),
        "secure_noise_1m_s": _best(lambda: source.normal((1_000_000,), std=1.0)),
        "seeded_noise_1m_s": _best(lambda: seeded.normal((1_000_000,), std=1.0)),
    }
    print(
        f"privacy bench: stress model, {STRESS_STEPS} steps of batch {BATCH} over {STRESS_HOURS} hours x "
        f"{STRESS_ASSETS} assets; MLP {FEATURES}-64-64-2, {ROWS} rows, {EPOCHS} epochs; 1 thread"
    )
    print(f"{'figure':<32}{'value':>12}")
    for key, value in figures.items():
        print(f"{key:<32}{value:>12.4f}")
    return figures


if __name__ == "__main__":
    main()
