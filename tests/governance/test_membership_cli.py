"""Membership lifecycle, tier rights, rewards split and the member/round/status commands."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fedrisk.cli import member as member_cli
from fedrisk.cli import round as round_cli
from fedrisk.cli import status as status_cli
from fedrisk.errors import ConfigError, GovernanceError
from fedrisk.governance.coordinator import Coordinator, builtin_runner
from fedrisk.governance.in_memory_store import InMemoryStore
from fedrisk.governance.membership import (
    apply_due_exits,
    check_promotion,
    exit_member,
    join_member,
    promote_member,
    reinstate_member,
    seed_members,
    suspend_member,
)
from fedrisk.governance.rewards import split_fractions
from fedrisk.governance.rights import NO_RIGHTS, rights

from .helpers import FakeClock, constitution, constitution_from


def _seeded() -> tuple[InMemoryStore, Coordinator, FakeClock]:
    clock = FakeClock()
    store = InMemoryStore()
    coord = Coordinator(constitution(), store, builtin_runner, clock=clock, sleep=clock.sleep)
    coord.recover()
    return store, coord, clock


def test_rights_by_tier_and_status() -> None:
    store, _, _ = _seeded()
    c = constitution()
    lite = store.get_member("gemini")
    full = store.get_member("kraken")
    assert lite is not None and full is not None
    assert rights(lite, c.tiers) == rights(lite)  # the example's tiers equal the defaults
    assert (rights(lite).receives_model, rights(lite).receives_index) == (False, True)
    assert (rights(lite).contributes_updates, rights(lite).contributes_evaluations) == (False, True)
    assert rights(full).receives_model and rights(full).contributes_updates
    assert rights(suspend_member(store, "kraken")) == NO_RIGHTS


def test_join_defaults_to_lite_and_rejects_bad_input_without_writing() -> None:
    store, _, _ = _seeded()
    c = constitution()
    okx = join_member(
        store,
        c,
        member_id="okx",
        display_name="OKX",
        organisation="OKX",
        public_key="k",
        joined=date(2024, 5, 1),
    )
    assert okx.tier == "lite" and okx.status == "active" and len(store.list_members()) == 8
    with pytest.raises(GovernanceError) as info:
        join_member(
            store,
            c,
            member_id="Bad Id",
            display_name="",
            organisation="x",
            public_key="k",
            joined=date(2024, 5, 1),
            tier="gold",
        )
    message = str(info.value)
    assert "invalid" in message and "gold" in message and "display name is empty" in message
    with pytest.raises(GovernanceError, match="already exists"):
        join_member(store, c, member_id="okx", display_name="O", organisation="O", public_key="k", joined=date.today())
    assert len(store.list_members()) == 8


def test_promotion_rule_after_k_rounds() -> None:
    # Arrange: threshold 0.05 over 4 rounds; the built-in runner scores lite members 0.1 per round
    store, coord, clock = _seeded()
    c = constitution()
    for _ in range(3):
        coord.run_now()
        clock.sleep(60)
    # Act / Assert: 3 qualifying rounds are not enough
    early = check_promotion(store, c, "gemini")
    assert not early.eligible and early.qualifying_rounds == 3 and early.needed_rounds == 4
    with pytest.raises(GovernanceError, match="3 of the last 4"):
        promote_member(store, c, "gemini")
    assert store.get_member("gemini").tier == "lite"  # type: ignore[union-attr]
    coord.run_now()
    promoted = promote_member(store, c, "gemini")
    assert promoted.tier == "full" and rights(promoted).receives_model
    with pytest.raises(GovernanceError, match="not 'lite'"):
        promote_member(store, c, "kraken", override=True)


def test_automatic_promotion() -> None:
    clock = FakeClock()
    store = InMemoryStore()
    c = constitution_from({"automatic = false": "automatic = true", "over_rounds = 4": "over_rounds = 2"})
    coord = Coordinator(c, store, builtin_runner, clock=clock, sleep=clock.sleep)
    coord.recover()
    coord.run_now()
    assert store.get_member("bittrex").tier == "lite"  # type: ignore[union-attr]
    clock.sleep(60)
    coord.run_now()
    assert store.get_member("bittrex").tier == "full"  # type: ignore[union-attr]


def test_suspend_reinstate_and_exit_with_notice() -> None:
    store, coord, clock = _seeded()
    c = constitution()
    coord.run_now()  # round 1
    # Act: kraken gives notice (2 rounds), bitstamp is suspended
    leaving = exit_member(store, c, "kraken")
    suspend_member(store, "bitstamp")
    with pytest.raises(GovernanceError, match="already exiting"):
        exit_member(store, c, "kraken")
    with pytest.raises(GovernanceError, match="not suspended"):
        reinstate_member(store, "kraken")
    rounds = []
    for _ in range(3):
        clock.sleep(60)
        rounds.append(coord.run_now())
    # Assert
    assert leaving.status == "exiting" and leaving.exit_after_round == 3
    assert ["kraken" in r.participants for r in rounds] == [True, True, False]
    assert all("bitstamp" not in r.participants for r in rounds)
    assert store.get_member("kraken").status == "exited"  # type: ignore[union-attr]
    assert reinstate_member(store, "bitstamp").status == "active"
    assert apply_due_exits(store, 99) == []
    with pytest.raises(GovernanceError, match="not registered"):
        suspend_member(store, "nobody")


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.floats(0.0, 100.0), min_size=3, max_size=12),
    floor=st.floats(0.0, 0.08),
    cap=st.floats(0.34, 1.0),
)
def test_reward_split_respects_floor_cap_and_sums_to_one(weights: list[float], floor: float, cap: float) -> None:
    shares = split_fractions({f"m{i}": w for i, w in enumerate(weights)}, floor=floor, cap=cap)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-9)
    assert all(floor - 1e-9 <= s <= cap + 1e-9 for s in shares.values())


def test_reward_split_known_values_and_errors() -> None:
    shares = split_fractions({"a": 6.0, "b": 3.0, "c": 1.0}, floor=0.15, cap=0.5)
    assert shares["a"] == pytest.approx(0.5) and shares["c"] == pytest.approx(0.15)
    assert shares["b"] == pytest.approx(0.35)
    with pytest.raises(ConfigError):
        split_fractions({"a": -1.0}, floor=0.0, cap=1.0)
    with pytest.raises(ConfigError):
        split_fractions({"a": 1.0, "b": 1.0}, floor=0.6, cap=1.0)


def test_cli_member_round_status(tmp_path: Path, example_path: Path) -> None:
    # Arrange
    runner = CliRunner()
    common = ["--constitution", str(example_path), "--state-dir", str(tmp_path / "state")]
    # Act
    joined = runner.invoke(
        member_cli.app,
        [
            "join",
            "okx",
            *common,
            "--display-name",
            "OKX",
            "--organisation",
            "OKX Ltd",
            "--public-key",
            "k",
            "--json",
        ],
    )
    bad_join = runner.invoke(
        member_cli.app,
        ["join", "okx", *common, "--display-name", "X", "--organisation", "X", "--public-key", "k"],
    )
    suspended = runner.invoke(member_cli.app, ["suspend", "bitstamp", *common])
    refused = runner.invoke(member_cli.app, ["promote", "gemini", *common])
    rnd = runner.invoke(round_cli.app, ["now", *common, "--runner", "synthetic", "--json"])
    status = runner.invoke(status_cli.app if hasattr(status_cli, "app") else _status_app(), ["--json", *common])
    # Assert
    assert joined.exit_code == 0, joined.output
    payload = json.loads(joined.output)
    assert payload["tier"] == "lite" and payload["rights"]["receives_model"] is False
    assert isinstance(bad_join.exception, GovernanceError)
    assert suspended.exit_code == 0 and "status suspended" in suspended.output
    assert isinstance(refused.exception, GovernanceError)
    assert rnd.exit_code == 0, rnd.output
    assert json.loads(rnd.stdout)["state"] == "committed"
    snap = json.loads(status.output)
    members = {m["id"]: m for m in snap["members"]}
    assert len(members) == 8 and members["bitstamp"]["status"] == "suspended"
    assert members["kraken"]["epsilon_spent"] == pytest.approx(0.5) and members["okx"]["epsilon_spent"] == 0.0
    assert members["kraken"]["epsilon_budget"] == pytest.approx(8.0)
    assert snap["round_counts"] == {"committed": 1}
    assert snap["next_round_at"].endswith("+00:00")


def _status_app():  # type: ignore[no-untyped-def]
    import typer

    app = typer.Typer()
    app.command()(status_cli.status)
    return app


def test_cli_round_fails_without_quorum(tmp_path: Path, example_path: Path) -> None:
    runner = CliRunner()
    common = ["--constitution", str(example_path), "--state-dir", str(tmp_path / "s")]
    for m in ("binance", "bitfinex", "bitstamp"):
        assert runner.invoke(member_cli.app, ["suspend", m, *common]).exit_code == 0
    res = runner.invoke(round_cli.app, ["now", *common, "--runner", "synthetic"])
    assert res.exit_code != 0 and "QuorumError" in str(res.exception)
    assert seed_members(InMemoryStore(), constitution())  # seeding a fresh store adds all 7
