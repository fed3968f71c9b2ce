"""Synthetic clients in UCI's coded format (ID, X1..X23, Y)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def credit_frame(n: int, *, seed: int) -> pd.DataFrame:
    """``n`` clients; default depends on the repayment status and the credit limit (a learnable signal)."""
    rng = np.random.default_rng(seed)
    status = rng.integers(-2, 4, size=(n, 6))
    limit = rng.integers(1, 50, size=n) * 10000
    logit = -1.6 + 0.8 * status[:, 0] + 0.3 * status[:, 1] - 0.4 * np.log(limit / 1e5)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    cols: dict[str, object] = {
        "ID": np.arange(1, n + 1),
        "X1": limit,
        "X2": rng.integers(1, 3, n),
        "X3": rng.integers(0, 7, n),
        "X4": rng.integers(0, 4, n),
        "X5": rng.integers(21, 70, n),
    }
    for i in range(6):
        cols[f"X{6 + i}"] = status[:, i]
    for i in range(6):
        cols[f"X{12 + i}"] = rng.integers(-1000, 200000, n)
    for i in range(6):
        cols[f"X{18 + i}"] = rng.integers(0, 20000, n)
    cols["Y"] = y
    return pd.DataFrame(cols)


def write_credit_dir(root: Path, n: int, *, seed: int) -> Path:
    """A data directory holding ``taiwan-credit-default/UCI_Credit_Card.csv``."""
    folder = root / "taiwan-credit-default"
    folder.mkdir(parents=True, exist_ok=True)
    credit_frame(n, seed=seed).to_csv(folder / "UCI_Credit_Card.csv", index=False)
    return root
