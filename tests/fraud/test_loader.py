"""The fraud-accounts loader: schema, corrupt rows, empty files, duplicates, and the missing-ERC20 leak."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedrisk.data.fraud import (
    ERC20_FEATURES,
    ETHER_FEATURES,
    MISSING_INDICATOR,
    feature_matrix,
    feature_names,
    load_fraud_accounts,
    validate_accounts,
)
from fedrisk.errors import ConfigError, DataNotFoundError, DataValidationError
from fraud.conftest import fraud_frame


def test_loads_the_dataset_format(accounts_csv: Path) -> None:
    acc = load_fraud_accounts(accounts_csv)
    raw = pd.read_csv(accounts_csv)
    assert acc.n == 300 and acc.duplicates_dropped == 0
    assert int(acc.labels.sum()) == int(raw["FLAG"].sum())
    assert list(acc.frame.columns) == ["Address", "FLAG", *ETHER_FEATURES, *ERC20_FEATURES]
    assert acc.erc20_missing.sum() == raw[" Total ERC20 tnxs"].isna().sum() > 0


def test_missing_columns_are_all_named(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    fraud_frame(20, seed=2).drop(columns=["Sent tnx", " ERC20 avg val rec"]).to_csv(path, index=False)
    with pytest.raises(
        DataValidationError, match=r"2 required column\(s\) missing: \['Sent tnx', 'ERC20 avg val rec'\]"
    ):
        load_fraud_accounts(path)


def test_corrupt_row_names_the_line(tmp_path: Path) -> None:
    frame = fraud_frame(20, seed=3).astype(str)
    frame.loc[6, "Sent tnx"] = "12,5x"
    path = tmp_path / "a.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"line 8: column 'Sent tnx' has '12,5x', not a number"):
        load_fraud_accounts(path)


def test_empty_ether_value_and_bad_label_are_refused() -> None:
    frame = fraud_frame(10, seed=4).astype(str)
    frame.loc[2, "Received Tnx"] = ""
    with pytest.raises(DataValidationError, match="line 4: column 'Received Tnx'"):
        validate_accounts(frame)
    frame = fraud_frame(10, seed=4).astype(str)
    frame.loc[3, "FLAG"] = "2"
    with pytest.raises(DataValidationError, match="line 5: FLAG must be 0 or 1"):
        validate_accounts(frame)


def test_empty_file_header_only_and_missing_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataValidationError, match="the file is empty"):
        load_fraud_accounts(empty)
    header = tmp_path / "header.csv"
    fraud_frame(5, seed=5).head(0).to_csv(header, index=False)
    with pytest.raises(DataValidationError, match="no accounts"):
        load_fraud_accounts(header)
    with pytest.raises(DataNotFoundError, match="ethereum-fraud-accounts"):
        load_fraud_accounts(tmp_path)


def test_duplicates_keep_first_and_conflicting_labels_drop_all() -> None:
    frame = fraud_frame(10, seed=6).astype(str)
    dup = frame.iloc[[1]].copy()
    clash = frame.iloc[[2]].copy()
    clash["FLAG"] = str(1 - int(clash["FLAG"].iloc[0]))
    acc = validate_accounts(pd.concat([frame, dup, clash], ignore_index=True))
    assert acc.duplicates_dropped == 1 and acc.conflicting_dropped == 2
    assert acc.n == 9
    assert frame["Address"].iloc[2] not in set(acc.frame["Address"])


def test_unlabelled_accounts_load_for_scoring() -> None:
    frame = fraud_frame(10, seed=7).drop(columns=["FLAG"]).astype(str)
    acc = validate_accounts(frame, require_label=False)
    assert acc.n == 10
    with pytest.raises(DataValidationError, match="unlabelled"):
        _ = acc.labels


def test_default_leak_handling_makes_empty_erc20_rows_look_like_zero_activity_rows() -> None:
    acc = validate_accounts(fraud_frame(400, seed=8).astype(str))
    x = feature_matrix(acc)  # default: impute, no indicator
    names = feature_names()
    assert MISSING_INDICATOR not in names and x.shape == (400, len(ETHER_FEATURES) + len(ERC20_FEATURES))
    erc = x[:, len(ETHER_FEATURES) :]
    missing = acc.erc20_missing
    genuine_zero = (erc == 0).all(axis=1) & ~missing
    assert missing.sum() > 10 and genuine_zero.sum() > 50
    # an empty row is indistinguishable from a genuine zero-activity row in every ERC20 input
    assert np.array_equal(np.unique(erc[missing], axis=0), np.unique(erc[genuine_zero], axis=0))
    assert not np.isnan(x).any()


def test_indicator_and_drop_modes() -> None:
    acc = validate_accounts(fraud_frame(200, seed=9).astype(str))
    x_ind = feature_matrix(acc, "indicator")
    assert feature_names("indicator")[-1] == MISSING_INDICATOR
    assert np.array_equal(x_ind[:, -1], acc.erc20_missing.astype(float))
    assert feature_matrix(acc, "drop_erc20").shape == (200, len(ETHER_FEATURES))
    with pytest.raises(ConfigError, match="unknown leak mode"):
        feature_names("median")  # type: ignore[arg-type]


@pytest.mark.data
def test_the_real_file_has_the_documented_traps(shared_data_dir: Path) -> None:
    acc = load_fraud_accounts(shared_data_dir)
    assert acc.n == 7872 and acc.duplicates_dropped == 18 and acc.conflicting_dropped == 0
    y, missing = acc.labels, acc.erc20_missing
    assert int(missing.sum()) == 664 and int(y[missing].sum()) == 664  # every empty ERC20 row is a fraud
    zero = (acc.frame["Total ERC20 tnxs"] == 0).to_numpy()
    assert int(zero.sum()) == 3502  # 3,509 before the duplicates are dropped
    assert int(y[zero].sum()) == 0  # genuine zero ERC20 activity: never a fraud
