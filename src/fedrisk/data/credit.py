"""The Taiwan credit-card default dataset (UCI 350): loader with schema validation and the lenders' split.

``taiwan-credit-default/UCI_Credit_Card.csv`` has UCI's coded header ``ID,X1..X23,Y`` (30,000 card holders of one
bank, April–September 2005, label ``Y`` = default next month, 22.1 %). The named-column variant of the same data
(``LIMIT_BAL, SEX, ..., PAY_AMT6, default.payment.next.month``) is accepted too. All members see the same six months,
so there is no time-forward split: each lender splits its clients with a seeded stratified draw.

Members are lenders of very different sizes: a seeded permutation of the clients cut at fixed geometric shares
(default ratio 1/2, five lenders: 51.6 %, 25.8 %, 12.9 %, 6.5 %, 3.2 % of the clients). The draw is IID in the
clients, so members differ in size only and any gain of a small lender comes from the others' volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fedrisk.data.datadir import dataset_dir
from fedrisk.errors import ConfigError, DataNotFoundError, DataValidationError

DATASET = "taiwan-credit-default"
FILE = "UCI_Credit_Card.csv"

NAMES: tuple[str, ...] = (
    "LIMIT_BAL",
    "SEX",
    "EDUCATION",
    "MARRIAGE",
    "AGE",
    "PAY_0",
    "PAY_2",
    "PAY_3",
    "PAY_4",
    "PAY_5",
    "PAY_6",
    "BILL_AMT1",
    "BILL_AMT2",
    "BILL_AMT3",
    "BILL_AMT4",
    "BILL_AMT5",
    "BILL_AMT6",
    "PAY_AMT1",
    "PAY_AMT2",
    "PAY_AMT3",
    "PAY_AMT4",
    "PAY_AMT5",
    "PAY_AMT6",
)
"""UCI's X1..X23 in order."""
LABEL = "DEFAULT"
CODED = {f"X{i + 1}": name for i, name in enumerate(NAMES)} | {"Y": LABEL}
NAMED_LABELS = ("default.payment.next.month", "default payment next month", "Y", LABEL)

AMOUNTS = ("LIMIT_BAL", *(f"BILL_AMT{i}" for i in range(1, 7)), *(f"PAY_AMT{i}" for i in range(1, 7)))
STATUS = ("PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6")
FEATURES: tuple[str, ...] = (
    *AMOUNTS,
    "AGE",
    *STATUS,
    "SEX_FEMALE",
    "EDU_GRADUATE",
    "EDU_UNIVERSITY",
    "EDU_HIGH_SCHOOL",
    "EDU_OTHER",
    "MARRIED",
    "SINGLE",
)
"""Model inputs: amounts, age and repayment status as numbers; sex, education and marriage one-hot."""


@dataclass(frozen=True, slots=True)
class CreditClients:
    """Validated clients: columns :data:`NAMES` (float) and ``DEFAULT`` (int 0/1)."""

    frame: pd.DataFrame
    source: str

    @property
    def labels(self) -> np.ndarray:
        """The default label as int64."""
        return np.asarray(self.frame[LABEL].to_numpy(), dtype=np.int64)


def credit_file(data_dir: Path) -> Path:
    """The dataset file inside a data directory, with an actionable error when absent."""
    path = dataset_dir(data_dir, DATASET) / FILE
    if not path.is_file():
        raise DataNotFoundError(f"{path} not found. Fix: copy {FILE} of the '{DATASET}' dataset there.")
    return path


def _canonical(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    frame = frame.rename(columns=lambda c: str(c).strip())
    if all(c in frame.columns for c in CODED):
        return frame.rename(columns=CODED)
    label = next((c for c in NAMED_LABELS if c in frame.columns), None)
    missing = [c for c in NAMES if c not in frame.columns] + ([] if label else ["default.payment.next.month"])
    if missing:
        raise DataValidationError(
            f"{source}: required column(s) missing: {missing}. Expected UCI's header ID,X1..X23,Y or the named "
            "header LIMIT_BAL, SEX, EDUCATION, MARRIAGE, AGE, PAY_0, PAY_2..PAY_6, BILL_AMT1..6, PAY_AMT1..6, "
            "default.payment.next.month. Fix: export the clients with one of these headers."
        )
    return frame.rename(columns={label: LABEL})


def validate_clients(raw: pd.DataFrame, *, source: str = "<frame>") -> CreditClients:
    """Check schema and values; return the clients with canonical column names.

    Raises
    ------
    DataValidationError
        Missing columns, no rows, an empty or unparsable value (file line named), a label other than 0/1,
        a negative credit limit, an age outside 18..120.
    """
    frame = _canonical(raw, source)
    if frame.empty:
        raise DataValidationError(f"{source}: no clients (header only). Fix: use a file with at least one client.")
    out = pd.DataFrame(index=frame.index)
    for column in (*NAMES, LABEL):
        text = frame[column].astype(str).str.strip()
        values = pd.to_numeric(text.where(text != "", None), errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DataValidationError(
                f"{source} line {row + 2}: column '{column}' has {frame[column].iloc[row]!r}, not a number "
                f"({int(values.isna().sum())} such row(s)). Fix: repair the row or remove it."
            )
        out[column] = values.astype(float)
    _check_range(out, LABEL, 0, 1, source, allowed=(0.0, 1.0))
    _check_range(out, "LIMIT_BAL", 0, np.inf, source)
    _check_range(out, "AGE", 18, 120, source)
    out[LABEL] = out[LABEL].astype(np.int64)
    return CreditClients(out.reset_index(drop=True), source)


def _check_range(
    frame: pd.DataFrame, column: str, low: float, high: float, source: str, *, allowed: tuple[float, ...] = ()
) -> None:
    values = frame[column]
    bad = ~values.isin(allowed) if allowed else (values < low) | (values > high)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        rule = f"one of {allowed}" if allowed else f"in [{low}, {high}]"
        raise DataValidationError(f"{source} line {row + 2}: {column} must be {rule}, got {values.iloc[row]}.")


def load_credit_clients(path: Path) -> CreditClients:
    """Read and validate the dataset file (or a data directory holding it)."""
    if path.is_dir():
        path = credit_file(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path} not found. Fix: pass the path of a CSV in the UCI credit-default format.")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as err:
        raise DataValidationError(f"{path}: the file is empty. Fix: use a CSV with a header row and clients.") from err
    except pd.errors.ParserError as err:
        raise DataValidationError(f"{path}: not a readable CSV ({err}). Fix: repair or replace the file.") from err
    return validate_clients(raw, source=str(path))


def feature_matrix(clients: CreditClients) -> np.ndarray:
    """Raw model inputs in the order of :data:`FEATURES` (``float64``)."""
    f = clients.frame
    edu, mar = f["EDUCATION"], f["MARRIAGE"]
    cols = [f[c].to_numpy(dtype=float) for c in (*AMOUNTS, "AGE", *STATUS)]
    cols += [
        (f["SEX"] == 2).to_numpy(dtype=float),
        (edu == 1).to_numpy(dtype=float),
        (edu == 2).to_numpy(dtype=float),
        (edu == 3).to_numpy(dtype=float),
        (~edu.isin([1, 2, 3])).to_numpy(dtype=float),
        (mar == 1).to_numpy(dtype=float),
        (mar == 2).to_numpy(dtype=float),
    ]
    return np.column_stack(cols)


def geometric_shares(n_members: int, ratio: float = 0.5) -> np.ndarray:
    """Member shares ``ratio**i`` normalised to 1 (largest first)."""
    if n_members < 1 or not 0 < ratio <= 1:
        raise ConfigError(f"need n_members >= 1 and 0 < ratio <= 1, got {n_members}, {ratio}")
    shares = ratio ** np.arange(n_members, dtype=float)
    return np.asarray(shares / shares.sum())


def size_skewed_split(n_rows: int, shares: np.ndarray, *, rng: np.random.Generator) -> list[np.ndarray]:
    """Cut a seeded permutation of ``n_rows`` rows at ``shares``: disjoint, sorted row indices per member."""
    shares = np.asarray(shares, dtype=float)
    if shares.ndim != 1 or (shares <= 0).any() or not np.isclose(shares.sum(), 1.0):
        raise ConfigError(f"shares must be positive and sum to 1, got {shares.tolist()}")
    order = rng.permutation(n_rows)
    cuts = np.round(np.cumsum(shares)[:-1] * n_rows).astype(int)
    return [np.sort(part) for part in np.split(order, cuts)]
