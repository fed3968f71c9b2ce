"""Synthetic accounts in the exact format of the Ethereum fraud-accounts file (header with its leading spaces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedrisk.data.fraud import ERC20_FEATURES, ETHER_FEATURES, NOT_FEATURES

# The original header order: id, Index, Address, FLAG, Ether features, ERC20 block (with leading spaces).
_SPACED = {c: f" {c}" for c in (*ERC20_FEATURES, *NOT_FEATURES[2:])}
_SPACED["max value received"] = "max value received "
_SPACED["ERC20_most_rec_token_type"] = " ERC20_most_rec_token_type"


def fraud_frame(
    n: int, *, seed: int, fraud_rate: float = 0.25, missing_share: float = 0.4, signal: float = 1.5
) -> pd.DataFrame:
    """``n`` accounts; frauds send fewer transactions and keep a lower balance (a learnable signal); a share of the
    frauds has every ERC20 aggregate empty (the file's leak), normal accounts often have zero ERC20 activity."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < fraud_rate).astype(int)
    data: dict[str, object] = {
        "id": np.arange(n),
        "Index": np.arange(n) + 1,
        "Address": [f"0x{seed:04x}{i:036x}" for i in range(n)],
        "FLAG": y,
    }
    for j, col in enumerate(ETHER_FEATURES):
        shift = (signal if j % 3 == 0 else 0.2 * signal / 1.5) * (1 - 2 * y)
        data[col] = np.round(np.exp(rng.normal(2 + shift, 1.0)), 4)
    zero = (y == 0) & (rng.random(n) < 0.5)
    missing = (y == 1) & (rng.random(n) < missing_share)
    for col in ERC20_FEATURES:
        values = np.round(np.exp(rng.normal(1.0 + 0.3 * y, 1.0)), 4).astype(object)
        values[zero] = 0.0
        values[missing] = ""
        data[col] = values
    for col in NOT_FEATURES[2:9]:
        data[col] = np.where(missing, "", "0")
    data["ERC20 most sent token type"] = np.where(missing, "", "0")
    data["ERC20_most_rec_token_type"] = np.where(missing, "", "OmiseGO")
    frame = pd.DataFrame(data)
    return frame.rename(columns=_SPACED)


def write_fraud_dir(root: Path, n: int, *, seed: int) -> Path:
    """A data directory holding ``ethereum-fraud-accounts/transaction_dataset.csv``."""
    folder = root / "ethereum-fraud-accounts"
    folder.mkdir(parents=True, exist_ok=True)
    fraud_frame(n, seed=seed).to_csv(folder / "transaction_dataset.csv", index=False)
    return root


@pytest.fixture
def accounts_csv(tmp_path: Path) -> Path:
    """A 300-account CSV in the dataset's format."""
    path = tmp_path / "accounts.csv"
    fraud_frame(300, seed=1).to_csv(path, index=False)
    return path
