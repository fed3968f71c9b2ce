"""The demo's constitution and its ``governance`` section (no Flower: the section reads the stress results)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fedrisk.errors import ConfigError
from fedrisk.governance.constitution_loader import check_constitution, parse_constitution
from fedrisk.governance.demo_constitution import DEMO_CONSTITUTION_TOML
from fedrisk.governance.sql_store import SqlStore
from fedrisk.governance.store_factory import state_url
from fedrisk.governance.stress_runner import stress_task
from fedrisk.jobs.governance import demo_members, load_demo_constitution, run_governance_section
from fedrisk.jobs.stress_config import ALL_MEMBERS, QUICK_MEMBERS
from fedrisk.report.governance import governance_section
from fedrisk.report.rundir import RunData

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-constitution.toml"


def _stress(members: tuple[str, ...], statuses: tuple[str, ...]) -> dict[str, Any]:
    history = [
        {
            "round": i + 1,
            "status": s,
            "members": len(members) if s == "committed" else 0,
            "val_loss": 0.5,
            "claims": {m: {"member": m, "sha256": f"{m}{i}", "size": 10} for m in members} if s == "committed" else {},
        }
        for i, s in enumerate(statuses)
    ]
    return {
        "members": [{"member": m, "train_hours": 1000.0 * (k + 1)} for k, m in enumerate(members)],
        "federation": {"jobs": {"federated": {"cohort": list(members), "history": history}}},
    }


def test_bundled_copy_equals_the_example_and_is_valid() -> None:
    # Assert
    assert DEMO.read_text(encoding="utf-8") == DEMO_CONSTITUTION_TOML
    assert check_constitution(DEMO) == []
    rules, _ = parse_constitution(DEMO_CONSTITUTION_TOML)
    assert rules is not None
    assert rules.quorum.min_members >= 3 and rules.aggregation_mode == "plain"
    assert stress_task(rules).model == "stgraph"  # the real runner accepts it


def test_demo_members_come_from_the_constitution() -> None:
    # Arrange
    rules = load_demo_constitution(None).rules
    # Act / Assert
    assert demo_members(rules, quick=False) == ALL_MEMBERS
    assert demo_members(rules, quick=True) == QUICK_MEMBERS


def test_a_constitution_with_too_few_trainers_for_quick_is_refused(tmp_path: Path) -> None:
    # Arrange: bitfinex becomes lite, so --quick has only three full members against a quorum of 4
    head, tail = DEMO_CONSTITUTION_TOML.split('id = "bitfinex"', 1)
    tail = tail.replace('tier = "full"', 'tier = "lite"', 1)
    path = tmp_path / "c.toml"
    path.write_text(head + 'id = "bitfinex"' + tail)
    rules = load_demo_constitution(path).rules
    # Act / Assert
    assert "bitfinex" not in demo_members(rules, quick=False)
    with pytest.raises(ConfigError, match="fewer than its quorum"):
        demo_members(rules, quick=True)


def test_invalid_constitution_file_is_refused_with_every_issue(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "bad.toml"
    path.write_text(
        DEMO_CONSTITUTION_TOML.replace("min_members = 4", "min_members = 9").replace("0 2 * * wed", "0 25 * * wed")
    )
    # Act / Assert
    with pytest.raises(ConfigError) as err:
        load_demo_constitution(path)
    assert "quorum.min_members" in str(err.value) and "schedule.cron" in str(err.value)


def test_section_records_each_round_through_the_state_machine(tmp_path: Path) -> None:
    # Arrange: three Flower rounds, the second of which failed (fewer than 3 replies)
    stress = _stress(QUICK_MEMBERS, ("committed", "failed", "committed"))
    privacy = {"curve": [{"target_epsilon": 8.0, "epsilon_spent": {"kraken": 7.9, "bitfinex": 7.99}}]}
    # Act
    section = run_governance_section(
        load_demo_constitution(None), stress, tmp_path, privacy=privacy, audit_rounds={("federated", 1): 42}
    )
    # Assert
    json.dumps(section)  # JSON-able
    assert [r["state"] for r in section["rounds"]] == ["committed", "failed", "committed"]
    assert section["round_counts"] == {"committed": 2, "failed": 1}
    assert section["rounds"][0]["audit_seq"] == 42 and "fewer than 3" in section["rounds"][1]["error"]
    store = SqlStore(state_url(tmp_path / "governance"))
    try:
        rounds = store.list_rounds()
        assert [r.state for r in rounds] == ["committed", "failed", "committed"]
        scores = {e.member_id: e.score for e in store.contribution_entries() if e.round_id == 1}
        rewards = sum(e.amount for e in store.reward_entries())
    finally:
        store.close()
    assert scores["kraken"] == pytest.approx(4 / 10)  # its share of the training hours (1000 + ... + 4000)
    assert rewards == pytest.approx(2 * 1000.0)  # two committed rounds, pool 1000 each
    members = {m["id"]: m for m in section["members"]}
    assert set(members) == set(QUICK_MEMBERS) and all(m["tier"] == "full" for m in members.values())
    assert section["privacy"]["epsilon_charged_by_rounds"] == 0.0  # plain rounds claim no ε
    assert section["privacy"]["privacy_section"] == [
        {"target_epsilon": 8.0, "max_member_epsilon": 7.99, "within_budget": True}
    ]


def test_report_renders_the_section(tmp_path: Path) -> None:
    # Arrange
    section = run_governance_section(load_demo_constitution(None), _stress(QUICK_MEMBERS, ("committed",)), tmp_path)
    run = RunData(tmp_path, {"governance": section}, pd.DataFrame(), None)
    # Act
    rendered = governance_section(run)
    empty = governance_section(RunData(tmp_path, {}, None, "absent"))
    # Assert
    assert rendered.present and "fedrisk-demo-stress-federation" in rendered.body
    assert rendered.body.count("<tr>") == 2 + 4 + 1  # two header rows, four members, one round
    assert not empty.present and "no governance section" in empty.body
