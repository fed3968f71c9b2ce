"""Privacy ledger: one contract class run against every backend, plus policy and persistence."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedrisk.errors import ConfigError, PrivacyBudgetExhausted
from fedrisk.privacy.accounting import epsilon
from fedrisk.privacy.ledger import (
    BudgetPolicy,
    InMemoryPrivacyLedger,
    PrivacyBudget,
    PrivacyLedger,
    SqlPrivacyLedger,
    open_ledger,
    period_label,
)

POLICY = BudgetPolicy.from_config({"epsilon_max": 6.0, "delta": 1e-5, "members": {"bank-b": {"epsilon_max": 2.0}}})
ROUND = {"level": "member", "noise_multiplier": 1.0, "sample_rate": 0.1, "steps": 10, "period": "2026"}


class LedgerContract:
    """Behaviour every ledger backend must have."""

    __test__ = False

    @pytest.fixture
    def ledger(self) -> Iterator[PrivacyLedger]:
        raise NotImplementedError

    def test_commit_records_epsilon_after_each_round(self, ledger: PrivacyLedger) -> None:
        # Act: five rounds of 10 steps = the known 50-step configuration
        entries = [ledger.commit("bank-a", round=r, **ROUND) for r in range(1, 6)]  # type: ignore[arg-type]
        # Assert
        assert [e.round for e in ledger.entries(member="bank-a")] == [1, 2, 3, 4, 5]
        assert entries[-1].epsilon_after == pytest.approx(5.148, abs=1e-3)
        assert entries[0].epsilon_after == pytest.approx(
            epsilon(noise_multiplier=1.0, sample_rate=0.1, rounds=10, delta=1e-5)
        )
        assert [e.epsilon_after for e in entries] == sorted(e.epsilon_after for e in entries)
        assert ledger.spent("bank-a", level="member", period="2026") == pytest.approx(entries[-1].epsilon_after)
        assert entries[-1].delta == 1e-5 and entries[-1].accountant == "pld"

    def test_round_that_would_exceed_budget_is_refused_and_not_recorded(self, ledger: PrivacyLedger) -> None:
        # Arrange: 5 rounds bring bank-a to ε ≈ 5.15 of 6
        for r in range(1, 6):
            ledger.commit("bank-a", round=r, **ROUND)  # type: ignore[arg-type]
        # Act / Assert: rounds 6 and 7 (ε ≈ 5.57, 5.97) fit, the eighth (ε ≈ 6.35) does not
        assert ledger.check("bank-a", **ROUND).epsilon_after == pytest.approx(5.573, abs=1e-3)  # type: ignore[arg-type]
        ledger.commit("bank-a", round=6, **ROUND)  # type: ignore[arg-type]
        ledger.commit("bank-a", round=7, **ROUND)  # type: ignore[arg-type]
        with pytest.raises(PrivacyBudgetExhausted) as info:
            ledger.commit("bank-a", round=8, **ROUND)  # type: ignore[arg-type]
        message = str(info.value)
        spent = ledger.spent("bank-a", level="member", period="2026")
        assert "'bank-a'" in message
        assert f"spent ε={spent:.4g}" in message
        assert spent == pytest.approx(5.970, abs=1e-3)
        assert "would bring it to ε=6.346" in message
        assert "ε_max=6" in message
        assert len(ledger.entries(member="bank-a")) == 7

    def test_per_member_budget_override_refuses_only_that_member(self, ledger: PrivacyLedger) -> None:
        # Act
        ledger.commit("bank-a", round=1, **ROUND)  # type: ignore[arg-type]
        with pytest.raises(PrivacyBudgetExhausted, match=r"member 'bank-b' .* budget ε_max=2 "):
            ledger.commit("bank-b", round=1, **{**ROUND, "steps": 40})  # type: ignore[arg-type]
        # Assert
        assert ledger.members() == ["bank-a"]

    def test_periods_and_levels_are_accounted_separately(self, ledger: PrivacyLedger) -> None:
        # Act
        for r in range(1, 6):
            ledger.commit("bank-a", round=r, **ROUND)  # type: ignore[arg-type]
        ledger.commit("bank-a", round=1, **{**ROUND, "period": "2027"})  # type: ignore[arg-type]
        ledger.commit("bank-a", round=1, **{**ROUND, "level": "record"})  # type: ignore[arg-type]
        # Assert
        one = epsilon(noise_multiplier=1.0, sample_rate=0.1, rounds=10, delta=1e-5)
        assert ledger.spent("bank-a", level="member", period="2027") == pytest.approx(one)
        assert ledger.spent("bank-a", level="record", period="2026") == pytest.approx(one)
        summary = {(s.member, s.level, s.period): s for s in ledger.summary()}
        assert summary["bank-a", "member", "2026"].rounds == 5
        assert summary["bank-a", "member", "2026"].fraction_used == pytest.approx(5.148 / 6, abs=1e-3)
        assert len(ledger.summary(period="2027")) == 1

    def test_duplicate_round_and_bad_input_are_refused(self, ledger: PrivacyLedger) -> None:
        # Arrange
        ledger.commit("bank-a", round=1, **ROUND)  # type: ignore[arg-type]
        # Act / Assert
        with pytest.raises(ConfigError, match="round 1 is already recorded for member 'bank-a'"):
            ledger.commit("bank-a", round=1, **ROUND)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="mechanism level must be 'record' or 'member'"):
            ledger.check("bank-a", **{**ROUND, "level": "user"})  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="member must be a non-empty string"):
            ledger.check("", **ROUND)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="sample_rate"):
            ledger.commit("bank-a", round=2, **{**ROUND, "sample_rate": 0.0})  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="round must be an integer"):
            ledger.commit("bank-a", round=-1, **ROUND)  # type: ignore[arg-type]
        assert len(ledger.entries()) == 1

    def test_unnoised_round_is_always_refused(self, ledger: PrivacyLedger) -> None:
        # Act / Assert
        with pytest.raises(PrivacyBudgetExhausted, match="ε=inf"):
            ledger.check("bank-c", **{**ROUND, "noise_multiplier": 0.0})  # type: ignore[arg-type]


class TestInMemoryLedger(LedgerContract):
    __test__ = True

    @pytest.fixture
    def ledger(self) -> Iterator[PrivacyLedger]:
        yield InMemoryPrivacyLedger(POLICY)


class TestSqlLedger(LedgerContract):
    __test__ = True

    @pytest.fixture
    def ledger(self, tmp_path: Path) -> Iterator[PrivacyLedger]:
        book = SqlPrivacyLedger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", POLICY)
        yield book
        book.close()


def test_sql_ledger_persists_and_keeps_its_policy(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "ledger.sqlite"
    first = open_ledger(path, POLICY)
    first.commit("bank-a", round=1, **ROUND)  # type: ignore[arg-type]
    # Act
    reopened = open_ledger(path, must_exist=True)
    # Assert
    assert reopened.policy == POLICY
    assert reopened.entries() == first.entries()
    with pytest.raises(ConfigError, match="refusing to open it with"):
        open_ledger(path, BudgetPolicy(PrivacyBudget(100.0, 1e-5)))
    with pytest.raises(ConfigError, match="uses accountant 'pld', not 'rdp'"):
        open_ledger(path, accountant="rdp")
    with pytest.raises(ConfigError, match="no privacy ledger at"):
        open_ledger(tmp_path / "missing.sqlite", must_exist=True)
    with pytest.raises(ConfigError, match="needs a budget policy"):
        open_ledger(tmp_path / "new.sqlite")


def test_rdp_ledger_is_looser_than_pld() -> None:
    # Arrange
    pld, rdp = InMemoryPrivacyLedger(POLICY), InMemoryPrivacyLedger(POLICY, accountant="rdp")
    # Act
    e_pld = pld.commit("bank-a", round=1, **ROUND).epsilon_after  # type: ignore[arg-type]
    e_rdp = rdp.commit("bank-a", round=1, **ROUND).epsilon_after  # type: ignore[arg-type]
    # Assert
    assert e_pld < e_rdp


def test_budget_policy_from_config_validates_every_key() -> None:
    # Act / Assert
    assert POLICY.for_member("bank-b") == PrivacyBudget(2.0, 1e-5)
    assert POLICY.for_member("bank-z") == PrivacyBudget(6.0, 1e-5)
    assert BudgetPolicy.from_config(POLICY.to_config()) == POLICY
    with pytest.raises(ConfigError, match="unknown privacy budget keys: \\['eps'\\]"):
        BudgetPolicy.from_config({"eps": 1.0, "epsilon_max": 1.0, "delta": 1e-5})
    with pytest.raises(ConfigError, match="needs 'delta'"):
        BudgetPolicy.from_config({"epsilon_max": 1.0})
    with pytest.raises(ConfigError, match="epsilon_max must be a finite number > 0"):
        BudgetPolicy.from_config({"epsilon_max": -1.0, "delta": 1e-5})
    with pytest.raises(ConfigError, match=r"members.bank-q: delta must be in \(0, 1\)"):
        BudgetPolicy.from_config({"epsilon_max": 1.0, "delta": 1e-5, "members": {"bank-q": {"delta": 2.0}}})


def test_period_labels() -> None:
    # Arrange
    day = dt.date(2026, 11, 3)
    # Act / Assert
    assert period_label("year", when=day) == "2026"
    assert period_label("quarter", when=day) == "2026-Q4"
    assert period_label("month", when=day) == "2026-11"
    assert period_label("lifetime", when=day) == "all"
    assert period_label("round", when=day, round=4) == "round-4"
    with pytest.raises(ConfigError, match="unknown budget period 'week'"):
        period_label("week", when=day)
