"""Coordinator: rounds on the schedule, quorum, budgets, rewards, failures, recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fedrisk.governance.coordinator import (
    INTERRUPTED,
    Coordinator,
    RoundContext,
    RoundOutcome,
    builtin_runner,
    make_builtin_runner,
)
from fedrisk.governance.in_memory_store import InMemoryStore
from fedrisk.governance.membership import suspend_member
from fedrisk.governance.store import RoundCommit

from .helpers import FakeClock, constitution, constitution_from

FULL = ["binance", "bitfinex", "bitstamp", "coinbase", "kraken"]
LITE = ["bittrex", "gemini"]


def _coordinator(clock: FakeClock, **kw: object) -> tuple[Coordinator, InMemoryStore]:
    store = InMemoryStore()
    kw.setdefault("runner", builtin_runner)
    coord = Coordinator(constitution(), store, clock=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]
    coord.recover()
    return coord, store


def test_manual_round_commits_with_ledgers_and_rewards() -> None:
    # Arrange
    coord, store = _coordinator(FakeClock())
    # Act
    rnd = coord.run_now()
    # Assert
    assert rnd.state == "committed" and rnd.trigger == "manual" and rnd.round_id == 1
    assert sorted(rnd.participants) == sorted(FULL + LITE)
    privacy = store.privacy_entries()
    assert sorted(e.member_id for e in privacy) == FULL  # lite members evaluate only: no ε spent
    assert all(e.epsilon == 0.5 and e.period == "2024" for e in privacy)
    contrib = {e.member_id: e.score for e in store.contribution_entries()}
    assert sum(contrib[m] for m in FULL) == pytest.approx(1.0)
    assert contrib["gemini"] == pytest.approx(0.1)
    rewards = {e.member_id: e.amount for e in store.reward_entries()}
    assert sum(rewards.values()) == pytest.approx(10_000.0)
    assert all(500.0 - 1e-6 <= a <= 3_000.0 + 1e-6 for a in rewards.values())  # floor 5 %, cap 30 %


def test_builtin_runner_is_deterministic() -> None:
    c1, s1 = _coordinator(FakeClock())
    c2, s2 = _coordinator(FakeClock())
    assert c1.run_now().result_digest == c2.run_now().result_digest
    assert s1.contribution_entries() == s2.contribution_entries()


def test_quorum_failure_releases_nothing() -> None:
    # Arrange: only 2 full members left contribute updates (< minimum cohort 3)
    coord, store = _coordinator(FakeClock())
    for m in ("binance", "bitfinex", "bitstamp"):
        suspend_member(store, m)
    # Act
    rnd = coord.run_now()
    # Assert
    assert rnd.state == "failed" and rnd.error is not None and "QuorumError" in rnd.error
    assert store.privacy_entries() == [] and store.reward_entries() == []


def test_privacy_budget_enforced_across_rounds() -> None:
    # Arrange: budget 1.0, 0.5 per round → each full member can join two rounds a year
    clock = FakeClock()
    store = InMemoryStore()
    c = constitution_from({"epsilon_budget = 8.0": "epsilon_budget = 1.0"})
    coord = Coordinator(c, store, builtin_runner, clock=clock, sleep=clock.sleep)
    coord.recover()
    # Act
    states = []
    for _ in range(3):
        states.append(coord.run_now().state)
        clock.sleep(60)
    # Assert
    assert states == ["committed", "committed", "failed"]
    assert store.privacy_spent("kraken", "2024") == pytest.approx(1.0)
    third = store.list_rounds()[2]
    assert third.participants == ("bittrex", "gemini") and "QuorumError" in (third.error or "")
    # A new budget year restores participation.
    clock.now = datetime(2025, 1, 8, 12, tzinfo=UTC)
    assert coord.run_now().state == "committed"


def test_runner_error_fails_round_and_next_round_runs() -> None:
    # Arrange
    calls = {"n": 0}

    def flaky(ctx: RoundContext) -> RoundOutcome:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("member kraken timed out")
        return builtin_runner(ctx)

    clock = FakeClock()
    coord, store = _coordinator(clock, runner=flaky)
    # Act
    first = coord.run_now()
    clock.sleep(1)
    second = coord.run_now()
    # Assert
    assert first.state == "failed" and "kraken timed out" in (first.error or "")
    assert second.state == "committed"
    assert {e.round_id for e in store.privacy_entries()} == {second.round_id}


def test_runner_reporting_strangers_fails_round() -> None:
    def liar(ctx: RoundContext) -> RoundOutcome:
        return RoundOutcome("d", {"mallory": 1.0})

    coord, store = _coordinator(FakeClock(), runner=liar)
    rnd = coord.run_now()
    assert rnd.state == "failed" and "mallory" in (rnd.error or "")
    assert store.contribution_entries() == []


def test_serve_once_runs_wednesday_0200_london_gmt_and_bst() -> None:
    # Arrange: Tuesday 5 March 2024 12:00 UTC (GMT), then Tuesday 2 April (BST)
    clock = FakeClock()
    coord, store = _coordinator(clock)
    # Act
    assert coord.serve(once=True, poll_s=1e9) == 1
    clock2 = FakeClock(datetime(2024, 4, 2, 12, tzinfo=UTC))
    coord2, store2 = _coordinator(clock2)
    coord2.serve(once=True, poll_s=1e9)
    # Assert
    (first,) = store.list_rounds()
    (second,) = store2.list_rounds()
    assert first.scheduled_for == datetime(2024, 3, 6, 2, 0, tzinfo=UTC)
    assert second.scheduled_for == datetime(2024, 4, 3, 1, 0, tzinfo=UTC)  # 02:00 BST
    assert first.trigger == "schedule" and first.state == "committed"
    assert clock2.now < datetime(2024, 4, 3, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("policy", "expected"), [("skip", 0), ("run-once", 1)])
def test_missed_round_policy(policy: str, expected: int) -> None:
    # Arrange: the last round ran on 6 March; the coordinator was down until 28 March
    clock = FakeClock()
    c = constitution_from({'missed_round_policy = "run-once"': f'missed_round_policy = "{policy}"'})
    store = InMemoryStore()
    coord = Coordinator(c, store, builtin_runner, clock=clock, sleep=clock.sleep)
    coord.recover()
    coord.serve(once=True, poll_s=1e9)
    clock.now = datetime(2024, 3, 28, 9, tzinfo=UTC)
    # Act
    ran = coord.run_due()
    # Assert
    assert (ran is not None) == bool(expected)
    if ran is not None:
        assert ran.trigger == "catch-up" and ran.scheduled_for == datetime(2024, 3, 27, 2, tzinfo=UTC)
    assert coord.run_due() is None  # missed slots are never replayed twice
    assert len(store.list_rounds()) == 1 + expected


def test_recover_fails_unfinished_and_is_never_committed_twice() -> None:
    # Arrange: a round stuck in aggregating (the process died there)
    clock = FakeClock()
    coord, store = _coordinator(clock)
    stuck = store.open_round(
        slot="schedule:x", trigger="schedule", scheduled_for=clock.now, participants=(), now=clock.now
    )
    store.transition_round(stuck.round_id, "running", now=clock.now)
    store.transition_round(stuck.round_id, "aggregating", now=clock.now)
    # Act
    report = Coordinator(constitution(), store, builtin_runner, clock=clock, sleep=clock.sleep).recover()
    # Assert
    assert report.failed_round_ids == (stuck.round_id,) and report.seconds < 1.0
    rnd = store.get_round(stuck.round_id)
    assert rnd is not None and rnd.state == "failed" and rnd.error == INTERRUPTED
    with pytest.raises(Exception, match="failed → committed"):
        store.commit_round(stuck.round_id, RoundCommit("late"), now=clock.now)
    assert coord.run_now().state == "committed"


def test_delayed_runner_sleeps_first() -> None:
    slept: list[float] = []
    clock = FakeClock()
    coord, _ = _coordinator(clock, runner=make_builtin_runner(delay_s=2.5, sleep=slept.append))
    assert coord.run_now().state == "committed" and slept == [2.5]


def test_seconds_until_next() -> None:
    clock = FakeClock(datetime(2024, 3, 6, 1, 59, tzinfo=UTC))
    coord, _ = _coordinator(clock)
    assert coord.seconds_until_next() == pytest.approx(60.0)
    clock.now += timedelta(seconds=30)
    assert coord.seconds_until_next() == pytest.approx(30.0)
