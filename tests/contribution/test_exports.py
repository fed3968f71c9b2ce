"""The public surface of fedrisk.contribution stays in sync with __all__."""

from __future__ import annotations

from types import ModuleType

import pytest

import fedrisk.contribution as contribution
import fedrisk.contribution.analysis as analysis


@pytest.mark.parametrize("module", [contribution, analysis])
def test_all_names_exist_and_every_public_name_is_listed(module: ModuleType) -> None:
    exported = set(module.__all__)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("fedrisk.contribution")
    }
    assert all(hasattr(module, name) for name in exported)
    assert public <= exported
