"""The record every attack returns, one per (attack, mode[, defence])."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class AttackResult:
    """One row of the red-team table.

    ``success`` is ``value >= threshold`` when ``higher_is_success`` else ``value <= threshold``; thresholds are
    fixed per attack in its module (declared before any run), never fitted to the results.
    """

    attack: str
    mode: str
    metric: str
    value: float
    chance: float
    threshold: float
    higher_is_success: bool
    defence: str = ""
    utility: float | None = None
    note: str = ""

    @property
    def success(self) -> bool:
        """Did the attack reach its success threshold?"""
        if self.value != self.value:  # NaN: the attack got nothing to work on
            return False
        return self.value >= self.threshold if self.higher_is_success else self.value <= self.threshold

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form, with ``success``."""
        return asdict(self) | {"success": self.success}
