"""Test helpers: a fake clock and constitution builders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fedrisk.governance.constitution import Constitution
from fedrisk.governance.constitution_loader import parse_constitution

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "constitution.toml"


@dataclass
class FakeClock:
    """A clock whose ``sleep`` advances time instantly."""

    now: datetime = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)  # a Tuesday

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def constitution(**replacements: str) -> Constitution:
    """The example constitution with textual replacements ``old=new`` given as ``{"old": "new"}``."""
    return constitution_from(dict(replacements))


def constitution_from(replacements: dict[str, str]) -> Constitution:
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    parsed, issues = parse_constitution(text)
    assert parsed is not None, issues
    return parsed


STRESS_VENUES: dict[str, tuple[str, ...]] = {
    "alpha": ("BTC", "ETH"),
    "beta": ("BTC", "ETH"),
    "gamma": ("BTC",),
    "delta": ("BTC", "ETH"),
}
"""A small synthetic federation: alpha, beta, gamma full; delta lite (see :func:`stress_constitution_text`)."""


def stress_constitution_text(
    tiers: dict[str, str], *, cron: str = "0 2 * * wed", min_members: int = 4, policy: str = "run-once"
) -> str:
    """A constitution the real stress runner accepts (plain aggregation, no DP) over members ``id -> tier``."""
    members = "".join(
        f'[[members]]\nid = "{m}"\ndisplay_name = "{m.title()}"\norganisation = "{m.title()} Ltd"\n'
        f'public_key = "ed25519:{m}"\ntier = "{tier}"\njoined = 2024-01-03\n\n'
        for m, tier in tiers.items()
    )
    text = EXAMPLE.read_text(encoding="utf-8")
    head, rest = text.split("[[members]]", 1)
    rest = rest[rest.index("# --- Schedule") :]
    text = head + members + rest
    for old, new in {
        'cron = "0 2 * * wed"': f'cron = "{cron}"',
        'missed_round_policy = "run-once"': f'missed_round_policy = "{policy}"',
        "learning_rate = 0.01 ": "learning_rate = 0.001",
        'mode = "central-dp"': 'mode = "none"',
        'mode = "secagg+"': 'mode = "plain"',
        "min_members = 5": f"min_members = {min_members}",
    }.items():
        assert old in text, old
        text = text.replace(old, new)
    return text
