"""Red-team suite: privacy and integrity attacks, each with its own success metric (``docs/he-and-attacks.md``)."""

from __future__ import annotations

from fedrisk.privacy.attacks.result import AttackResult as AttackResult

__all__ = ["AttackResult"]
