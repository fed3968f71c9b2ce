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
