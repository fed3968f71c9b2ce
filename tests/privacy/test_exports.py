"""Every name in the privacy packages' ``__all__`` exists (keeps the public surface honest)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module", ["fedrisk.privacy.accounting", "fedrisk.privacy.dp", "fedrisk.privacy.ledger"])
def test_all_names_resolve(module: str) -> None:
    # Arrange
    mod = importlib.import_module(module)
    # Act
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    # Assert
    assert missing == []
    assert len(set(mod.__all__)) == len(mod.__all__)
