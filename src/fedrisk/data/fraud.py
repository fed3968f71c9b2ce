"""The Ethereum fraud-accounts dataset: loader with schema validation, leak handling and the exchanges' split.

The file (``ethereum-fraud-accounts/transaction_dataset.csv``, Kaggle "Ethereum Fraud Detection Dataset") has one row
per account: ``Address``, the label ``FLAG`` (1 = Etherscan phish/hack tag) and aggregates of the account's Ether and
ERC20 history. Known traps, each handled here:

- ``id`` and ``Index`` are row numbers (``Index`` restarts per class, so it encodes the label): never features.
- 18 addresses appear twice: the first row is kept, conflicting labels would drop every copy (none in the file).
- The 16 ERC20 aggregates are empty for 664 accounts, **all of them frauds** (the crawler failed on them), while the
  3,509 accounts with a genuine zero ERC20 history are all normal. A missingness indicator (or any imputation that
  gives the empty rows a value of their own) hands the model the label. Default (``leak="impute"``): empty ERC20
  values are read as 0 ("no ERC20 activity recorded") and no indicator is added, so an empty row is identical to a
  genuine zero-activity row. ``leak="indicator"`` adds ``erc20_missing`` (only to measure how much the leak inflates
  the metrics); ``leak="drop_erc20"`` removes the ERC20 features altogether (a strictly leak-free reference).
- Seven ERC20 columns are zero in every row and the two token-type columns are free text: not features.
- The Forta malicious-address lists (``forta-malicious-address-labels``) encode the label: never read here.

There are no per-account timestamps, so no time-forward split exists; members split their accounts with a seeded
stratified draw (train / validation for thresholds / test).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from fedrisk.data.datadir import dataset_dir
from fedrisk.errors import ConfigError, DataNotFoundError, DataValidationError

DATASET = "ethereum-fraud-accounts"
FILE = "transaction_dataset.csv"
ADDRESS = "Address"
LABEL = "FLAG"

ETHER_FEATURES: tuple[str, ...] = (
    "Avg min between sent tnx",
    "Avg min between received tnx",
    "Time Diff between first and last (Mins)",
    "Sent tnx",
    "Received Tnx",
    "Number of Created Contracts",
    "Unique Received From Addresses",
    "Unique Sent To Addresses",
    "min value received",
    "max value received",
    "avg val received",
    "min val sent",
    "max val sent",
    "avg val sent",
    "min value sent to contract",
    "max val sent to contract",
    "avg value sent to contract",
    "total transactions (including tnx to create contract",
    "total Ether sent",
    "total ether received",
    "total ether sent contracts",
    "total ether balance",
)
"""Aggregates of the account's Ether transactions (never empty in the file)."""

ERC20_FEATURES: tuple[str, ...] = (
    "Total ERC20 tnxs",
    "ERC20 total Ether received",
    "ERC20 total ether sent",
    "ERC20 total Ether sent contract",
    "ERC20 uniq sent addr",
    "ERC20 uniq rec addr",
    "ERC20 uniq sent addr.1",
    "ERC20 uniq rec contract addr",
    "ERC20 min val rec",
    "ERC20 max val rec",
    "ERC20 avg val rec",
    "ERC20 min val sent",
    "ERC20 max val sent",
    "ERC20 avg val sent",
    "ERC20 uniq sent token name",
    "ERC20 uniq rec token name",
)
"""Non-constant ERC20 aggregates (empty for 664 fraud rows: the leak)."""

MISSING_INDICATOR = "erc20_missing"
NOT_FEATURES: tuple[str, ...] = (
    "id",
    "Index",
    "ERC20 avg time between sent tnx",
    "ERC20 avg time between rec tnx",
    "ERC20 avg time between rec 2 tnx",
    "ERC20 avg time between contract tnx",
    "ERC20 min val sent contract",
    "ERC20 max val sent contract",
    "ERC20 avg val sent contract",
    "ERC20 most sent token type",
    "ERC20_most_rec_token_type",
)
"""Columns read but never used: row numbers (``Index`` encodes the label), constant zeros, free-text token names."""

LeakMode = Literal["impute", "indicator", "drop_erc20"]
LEAK_MODES: tuple[LeakMode, ...] = ("impute", "indicator", "drop_erc20")


def feature_names(leak: LeakMode = "impute") -> tuple[str, ...]:
    """The model's input columns for a leak-handling mode."""
    if leak == "impute":
        return ETHER_FEATURES + ERC20_FEATURES
    if leak == "indicator":
        return (*ETHER_FEATURES, *ERC20_FEATURES, MISSING_INDICATOR)
    if leak == "drop_erc20":
        return ETHER_FEATURES
    raise ConfigError(f"unknown leak mode {leak!r}; use one of {', '.join(LEAK_MODES)}")


@dataclass(frozen=True, slots=True)
class FraudAccounts:
    """Validated accounts: one row per unique address, raw feature values (ERC20 may be NaN), the label.

    Attributes
    ----------
    frame
        Columns ``Address``, ``FLAG`` (int 0/1, absent when unlabelled), every feature of
        :data:`ETHER_FEATURES` + :data:`ERC20_FEATURES` (float, ERC20 may be NaN).
    duplicates_dropped
        Rows dropped because their address appeared earlier.
    conflicting_dropped
        Rows dropped because the same address carried both labels.
    source
        The file read (or ``"<frame>"``).
    """

    frame: pd.DataFrame
    duplicates_dropped: int
    conflicting_dropped: int
    source: str

    @property
    def n(self) -> int:
        """Number of accounts."""
        return len(self.frame)

    @property
    def erc20_missing(self) -> np.ndarray:
        """True where every ERC20 aggregate is empty."""
        return np.asarray(self.frame[list(ERC20_FEATURES)].isna().all(axis=1).to_numpy(), dtype=bool)

    @property
    def labels(self) -> np.ndarray:
        """The label as int64 (raises when the file was unlabelled)."""
        if LABEL not in self.frame:
            raise DataValidationError(f"{self.source}: no {LABEL} column; the accounts are unlabelled.")
        return np.asarray(self.frame[LABEL].to_numpy(), dtype=np.int64)


def fraud_file(data_dir: Path) -> Path:
    """The dataset file inside a data directory, with an actionable error when absent."""
    path = dataset_dir(data_dir, DATASET) / FILE
    if not path.is_file():
        raise DataNotFoundError(f"{path} not found. Fix: copy {FILE} of the '{DATASET}' dataset there.")
    return path


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=False)
    except pd.errors.EmptyDataError as err:
        raise DataValidationError(f"{path}: the file is empty. Fix: use a CSV with a header row and accounts.") from err
    except pd.errors.ParserError as err:
        raise DataValidationError(f"{path}: not a readable CSV ({err}). Fix: repair or replace the file.") from err
    return frame


def _numeric(frame: pd.DataFrame, column: str, source: str, *, allow_empty: bool) -> pd.Series:
    raw = frame[column].astype(str).str.strip()
    empty = raw.isin(["", "nan", "NaN", "None", "<NA>"])
    values = pd.to_numeric(raw.where(~empty, None), errors="coerce")
    bad = values.isna() & ~empty
    if not allow_empty:
        bad |= empty
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(
            f"{source} line {row + 2}: column '{column}' has {frame[column].iloc[row]!r}, not a number "
            f"({int(bad.sum())} such row(s)). Fix: repair the row or remove it."
        )
    finite = values.dropna()
    if not np.isfinite(finite.to_numpy(dtype=float)).all():
        raise DataValidationError(f"{source}: column '{column}' has infinite values. Fix: repair the rows.")
    return values.astype(float)


def validate_accounts(raw: pd.DataFrame, *, source: str = "<frame>", require_label: bool = True) -> FraudAccounts:
    """Check the schema and values of an account table and return the clean accounts.

    Parameters
    ----------
    raw
        A table in the dataset's format (column names may carry the file's leading/trailing spaces; extra columns
        are ignored).
    source
        Where the table came from, for error messages.
    require_label
        Whether ``FLAG`` must be present (training) or may be absent (scoring).

    Raises
    ------
    DataValidationError
        Missing columns (all named), no rows, an unparsable number (file line named), a label other than 0/1, an
        empty address, an empty Ether aggregate.
    """
    frame = raw.rename(columns=lambda c: str(c).strip())
    needed = [ADDRESS, *ETHER_FEATURES, *ERC20_FEATURES] + ([LABEL] if require_label else [])
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{source}: {len(missing)} required column(s) missing: {missing}. Expected the Ethereum fraud-accounts "
            f"format ({ADDRESS}, {LABEL} for training, and the {len(ETHER_FEATURES) + len(ERC20_FEATURES)} feature "
            "columns listed in fedrisk.data.fraud). Fix: export the accounts with the dataset's header."
        )
    if frame.empty:
        raise DataValidationError(f"{source}: no accounts (header only). Fix: use a file with at least one account.")
    out = pd.DataFrame({ADDRESS: frame[ADDRESS].astype(str).str.strip().str.lower()})
    if (out[ADDRESS] == "").any():
        row = int(np.flatnonzero((out[ADDRESS] == "").to_numpy())[0])
        raise DataValidationError(f"{source} line {row + 2}: empty {ADDRESS}. Fix: repair or remove the row.")
    if LABEL in frame.columns:
        label = _numeric(frame, LABEL, source, allow_empty=False)
        if not label.isin([0.0, 1.0]).all():
            row = int(np.flatnonzero((~label.isin([0.0, 1.0])).to_numpy())[0])
            raise DataValidationError(f"{source} line {row + 2}: {LABEL} must be 0 or 1, got {label.iloc[row]}.")
        out[LABEL] = label.astype(np.int64)
    for column in ETHER_FEATURES:
        out[column] = _numeric(frame, column, source, allow_empty=False)
    for column in ERC20_FEATURES:
        out[column] = _numeric(frame, column, source, allow_empty=True)
    return _deduplicate(out, source)


def _deduplicate(frame: pd.DataFrame, source: str) -> FraudAccounts:
    conflicting = 0
    if LABEL in frame:
        n_labels = frame.groupby(ADDRESS)[LABEL].transform("nunique")
        conflicting = int((n_labels > 1).sum())
        frame = frame[n_labels <= 1]
    first = ~frame[ADDRESS].duplicated(keep="first")
    clean = frame[first].reset_index(drop=True)
    return FraudAccounts(clean, int((~first).sum()), conflicting, source)


def load_fraud_accounts(path: Path, *, require_label: bool = True) -> FraudAccounts:
    """Read and validate the dataset file (or a data directory holding it)."""
    if path.is_dir():
        path = fraud_file(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path} not found. Fix: pass the path of a CSV in the fraud-accounts format.")
    return validate_accounts(_read_csv(path), source=str(path), require_label=require_label)


def feature_matrix(accounts: FraudAccounts, leak: LeakMode = "impute") -> np.ndarray:
    """Raw model inputs (before any transform) for a leak mode; empty ERC20 values become 0.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of shape ``(n_accounts, len(feature_names(leak)))``.
    """
    names = feature_names(leak)
    frame = accounts.frame
    cols = [c for c in names if c != MISSING_INDICATOR]
    x = frame[cols].to_numpy(dtype=np.float64, na_value=np.nan)
    x = np.where(np.isnan(x), 0.0, x)
    if leak == "indicator":
        x = np.column_stack([x, accounts.erc20_missing.astype(np.float64)])
    return x


def dirichlet_label_split(
    labels: np.ndarray,
    n_members: int,
    *,
    alpha: float,
    rng: np.random.Generator,
    min_per_class: int = 20,
    max_tries: int = 200,
) -> list[np.ndarray]:
    """Label-skewed, non-IID assignment of rows to members (Hsu et al. 2019, "Measuring the effects of non-identical
    data distribution").

    For each class, member shares are drawn from Dirichlet(alpha · 1_K) and the class's rows (in a random order) are
    cut at those shares. Draws in which a member gets fewer than ``min_per_class`` rows of some class are redrawn (a
    member with a handful of frauds cannot choose a threshold or be evaluated).

    Returns
    -------
    list of numpy.ndarray
        Sorted, disjoint row indices per member, together covering every row.
    """
    if n_members < 1:
        raise ConfigError(f"n_members must be >= 1, got {n_members}")
    if alpha <= 0:
        raise ConfigError(f"alpha must be > 0, got {alpha}")
    classes = np.unique(labels)
    for _ in range(max_tries):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_members)]
        for c in classes:
            rows = rng.permutation(np.flatnonzero(labels == c))
            shares = rng.dirichlet(np.full(n_members, alpha))
            cuts = np.round(np.cumsum(shares)[:-1] * len(rows)).astype(int)
            for m, chunk in enumerate(np.split(rows, cuts)):
                parts[m].append(chunk)
        sizes = [[len(chunk) for chunk in p] for p in parts]
        if min(min(s) for s in sizes) >= min_per_class:
            return [np.sort(np.concatenate(p)) for p in parts]
    raise ConfigError(
        f"no Dirichlet(alpha={alpha}) split of {len(labels)} rows into {n_members} members gives every member "
        f">= {min_per_class} rows of each class after {max_tries} draws. Fix: raise alpha or lower n_members."
    )


def stratified_split(
    labels: np.ndarray, *, val: float, test: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded stratified train / validation / test positions (within one member's rows)."""
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise ConfigError(f"val and test shares must be in (0, 1) with val + test < 1, got {val}, {test}")
    train_p, val_p, test_p = [], [], []
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        n_test, n_val = round(len(rows) * test), round(len(rows) * val)
        test_p.append(rows[:n_test])
        val_p.append(rows[n_test : n_test + n_val])
        train_p.append(rows[n_test + n_val :])
    return np.sort(np.concatenate(train_p)), np.sort(np.concatenate(val_p)), np.sort(np.concatenate(test_p))
