"""Smart-contract risk screening: Solidity parsing, rule detectors, function-level risk classifier."""

from __future__ import annotations

__all__: list[str] = []
