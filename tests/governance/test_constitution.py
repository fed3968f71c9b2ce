"""Constitution parsing and validation: every issue at once, each naming key and fix."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedrisk.cli.constitution import app
from fedrisk.errors import ConfigError
from fedrisk.governance.constitution_loader import (
    check_constitution_text,
    load_constitution,
    parse_constitution,
)


def _keys(text: str) -> list[str]:
    return [issue.key for issue in check_constitution_text(text)]


def test_example_is_valid_and_typed(example_path: Path) -> None:
    # Act
    c = load_constitution(example_path)
    # Assert
    assert [m.id for m in c.members] == [
        "binance",
        "bitfinex",
        "bitstamp",
        "bittrex",
        "coinbase",
        "gemini",
        "kraken",
    ]
    assert c.member("gemini").tier == "lite"
    assert c.member("kraken").joined == date(2024, 1, 3)
    assert c.schedule.cron == "0 2 * * wed"
    assert c.schedule.timezone == "Europe/London"
    assert c.aggregation_mode == "secagg+"
    assert c.quorum.min_members == 5 and c.quorum.min_cohort == 3
    assert c.privacy.delta == pytest.approx(1e-5)
    assert c.tiers["lite"].receives_model is False and c.tiers["lite"].receives_index is True
    assert c.promotion.over_rounds == 4
    assert c.rewards.premium == {"full": 1.0, "lite": 0.5}


def test_many_errors_reported_at_once(example_text: str) -> None:
    # Arrange: eight independent mistakes in one file
    bad = (
        example_text.replace('cron = "0 2 * * wed"', 'cron = "0 25 * * wed"')
        .replace("Europe/London", "Europe/Londn")
        .replace("min_members = 5", "min_members = 9")
        .replace("min_cohort = 3", "min_cohort = 2")
        .replace("epsilon_budget = 8.0", "epsilon_budget = 0")
        .replace("delta = 1e-5", "delta = 1.5")
        .replace('id = "kraken"', 'id = "binance"')
        .replace("floor = 0.05", "floor = 0.4")
        .replace("[exit]\n", "[exit]\nnotice_round = 3\n")
    )
    # Act
    issues = check_constitution_text(bad)
    keys = [i.key for i in issues]
    # Assert
    for key in (
        "schedule.cron",
        "schedule.timezone",
        "quorum.min_members",
        "quorum.min_cohort",
        "privacy.epsilon_budget",
        "privacy.delta",
        "members[6].id",
        "rewards.floor",
        "exit.notice_round",
    ):
        assert key in keys, key
    assert all(i.fix for i in issues)
    typo = next(i for i in issues if i.key == "exit.notice_round")
    assert "notice_rounds" in typo.fix


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            'tier = "full"\njoined = 2024-01-03\n\n[[members]]\nid = "bitfinex"',
            'tier = "gold"\njoined = 2024-01-03\n\n[[members]]\nid = "bitfinex"',
            "members[0].tier",
        ),
        ("cap = 0.30", "cap = 0.01", "rewards.floor"),
        ('from_tier = "lite"', 'from_tier = "full"', "promotion.to_tier"),
        ("supermajority = 0.67", "supermajority = 0.4", "amendments.supermajority"),
        ("epsilon_per_round = 0.5", "epsilon_per_round = 9.0", "privacy.epsilon_per_round"),
        ('mode = "secagg+"', 'mode = "secagg"', "aggregation.mode"),
        ("over_rounds = 4", "over_rounds = 0", "promotion.over_rounds"),
        ("notice_rounds = 2", 'notice_rounds = "two"', "exit.notice_rounds"),
        ("joined = 2024-02-07", 'joined = "2024-13-07"', "members[3].joined"),
        ('id = "bittrex"', 'id = "Bit Trex!"', "members[3].id"),
        ("[tiers.lite]", "[tiers.Lite]", "tiers.Lite"),
        ("[amendments]", "[amendment]", "amendment"),
    ],
)
def test_single_mistake_names_key(example_text: str, old: str, new: str, key: str) -> None:
    # Arrange
    assert old in example_text
    # Act
    keys = _keys(example_text.replace(old, new, 1))
    # Assert
    assert key in keys


def test_missing_sections_and_bad_toml() -> None:
    # Act
    keys = _keys('[federation]\nname = "x"\n')
    toml_issue = check_constitution_text("[federation\nname=")
    # Assert
    assert {"members", "schedule", "privacy", "quorum", "tiers", "exit", "amendments"} <= set(keys)
    assert toml_issue[0].key == "<file>"


def test_suggests_close_key(example_text: str) -> None:
    issues = check_constitution_text(example_text.replace("timezone =", "time_zone ="))
    typo = next(i for i in issues if i.key == "schedule.time_zone")
    assert "did you mean 'timezone'" in typo.fix


def test_load_raises_config_error_listing_all(tmp_path: Path, example_text: str) -> None:
    # Arrange
    path = tmp_path / "c.toml"
    path.write_text(example_text.replace("min_members = 5", "min_members = 70").replace("delta = 1e-5", "delta = 0"))
    # Act / Assert
    with pytest.raises(ConfigError, match=r"2 issue\(s\)") as info:
        load_constitution(path)
    assert "quorum.min_members" in str(info.value) and "privacy.delta" in str(info.value)
    with pytest.raises(ConfigError, match="not found"):
        load_constitution(tmp_path / "absent.toml")


def test_six_field_cron_with_seconds_is_accepted(example_text: str) -> None:
    c, issues = parse_constitution(example_text.replace('"0 2 * * wed"', '"* * * * * */2"'))
    assert issues == [] and c is not None


def test_cli_check_valid_and_invalid(tmp_path: Path, example_path: Path, example_text: str) -> None:
    # Arrange
    bad = tmp_path / "bad.toml"
    bad.write_text(example_text.replace("min_members = 5", "min_members = 8").replace("0 2 * * wed", "0 2 * * wedn"))
    runner = CliRunner()
    # Act
    ok = runner.invoke(app, ["check", str(example_path)])
    res = runner.invoke(app, ["check", str(bad)])
    res_json = runner.invoke(app, ["check", str(bad), "--json"])
    # Assert
    assert ok.exit_code == 0 and "valid" in ok.output
    assert res.exit_code == ConfigError.exit_code
    assert "quorum.min_members" in res.output and "fix:" in res.output and "schedule.cron" in res.output
    payload = json.loads(res_json.output)
    assert payload["valid"] is False
    assert {i["key"] for i in payload["issues"]} == {"quorum.min_members", "schedule.cron"}


def test_cli_show(example_path: Path) -> None:
    res = CliRunner().invoke(app, ["show", str(example_path), "--json"])
    assert res.exit_code == 0
    data = json.loads(res.output)
    assert data["schedule"]["timezone"] == "Europe/London" and len(data["members"]) == 7
