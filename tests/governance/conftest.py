"""Shared fixtures for the governance tests."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "constitution.toml"


@pytest.fixture()
def example_text() -> str:
    """The documented example constitution, as text."""
    return EXAMPLE.read_text(encoding="utf-8")


@pytest.fixture()
def example_path() -> Path:
    """Path of the documented example constitution."""
    return EXAMPLE
