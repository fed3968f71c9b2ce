"""The credit loader (coded and named headers, bad files) and the size-skewed lenders' split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from credit.conftest import credit_frame
from fedrisk.data.credit import (
    CODED,
    FEATURES,
    feature_matrix,
    geometric_shares,
    load_credit_clients,
    size_skewed_split,
    validate_clients,
)
from fedrisk.errors import ConfigError, DataNotFoundError, DataValidationError
from fedrisk.jobs.credit import CreditConfig, split_lenders


def test_coded_and_named_headers_give_the_same_clients(tmp_path: Path) -> None:
    frame = credit_frame(100, seed=1)
    coded = tmp_path / "coded.csv"
    frame.to_csv(coded, index=False)
    named = frame.rename(columns=CODED).rename(columns={"DEFAULT": "default.payment.next.month"})
    a, b = load_credit_clients(coded), validate_clients(named.astype(str))
    assert a.frame.equals(b.frame)
    assert int(a.labels.sum()) == int(frame["Y"].sum()) and len(a.frame) == 100


def test_missing_column_corrupt_value_and_bad_label(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"missing: \['PAY_AMT6'\]"):
        validate_clients(credit_frame(10, seed=2).rename(columns=CODED).drop(columns=["PAY_AMT6"]))
    frame = credit_frame(10, seed=2).astype(str)
    frame.loc[4, "X5"] = "forty"
    with pytest.raises(DataValidationError, match="line 6: column 'AGE' has 'forty'"):
        validate_clients(frame)
    frame = credit_frame(10, seed=2).astype(str)
    frame.loc[1, "Y"] = "3"
    with pytest.raises(DataValidationError, match=r"line 3: DEFAULT must be one of \(0.0, 1.0\)"):
        validate_clients(frame)
    frame = credit_frame(10, seed=2)
    frame.loc[0, "X5"] = 7
    with pytest.raises(DataValidationError, match="AGE must be in"):
        validate_clients(frame)


def test_empty_and_absent_files(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataValidationError, match="empty"):
        load_credit_clients(tmp_path / "e.csv")
    credit_frame(3, seed=3).head(0).to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(DataValidationError, match="no clients"):
        load_credit_clients(tmp_path / "h.csv")
    with pytest.raises(DataNotFoundError, match="taiwan-credit-default"):
        load_credit_clients(tmp_path)


def test_feature_matrix_one_hot_codes() -> None:
    clients = validate_clients(credit_frame(200, seed=4))
    x = feature_matrix(clients)
    assert x.shape == (200, len(FEATURES))
    edu = x[:, FEATURES.index("EDU_GRADUATE") : FEATURES.index("EDU_OTHER") + 1]
    assert np.array_equal(edu.sum(axis=1), np.ones(200))  # exactly one education group per client


def test_size_skewed_split_is_disjoint_seeded_and_skewed() -> None:
    shares = geometric_shares(5)
    np.testing.assert_allclose(shares, [16 / 31, 8 / 31, 4 / 31, 2 / 31, 1 / 31])
    parts = size_skewed_split(3100, shares, rng=np.random.default_rng(0))
    assert [len(p) for p in parts] == [1600, 800, 400, 200, 100]
    assert len(np.unique(np.concatenate(parts))) == 3100
    again = size_skewed_split(3100, shares, rng=np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    with pytest.raises(ConfigError, match="sum to 1"):
        size_skewed_split(10, np.array([0.5, 0.2]), rng=np.random.default_rng(0))


def test_lenders_are_largest_first_with_stratified_parts() -> None:
    y = np.r_[np.zeros(7800, dtype=int), np.ones(2200, dtype=int)]
    lenders = split_lenders(y, CreditConfig())
    sizes = [len(s.train) + len(s.val) + len(s.test) for s in lenders]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > 15 * sizes[-1]
    assert all(abs(y[s.test].mean() - 0.22) < 0.03 for s in lenders)
    with pytest.raises(ConfigError):
        CreditConfig(members=2)


@pytest.mark.data
def test_the_real_file(shared_data_dir: Path) -> None:
    clients = load_credit_clients(shared_data_dir)
    assert len(clients.frame) == 30000 and int(clients.labels.sum()) == 6636
