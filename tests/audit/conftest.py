"""Fixtures for the audit tests: keys, member outbound logs and a realistic small trail."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_fixtures import MEMBERS, Member, Trail, write_trail

from fedrisk.audit import FileSigner, OutboundLog


@pytest.fixture
def coordinator(tmp_path: Path) -> FileSigner:
    return FileSigner.load_or_create(tmp_path / "secrets" / "coordinator.key")


@pytest.fixture
def members(tmp_path: Path) -> dict[str, Member]:
    return {
        m: Member(
            m,
            FileSigner.load_or_create(tmp_path / "member-secrets" / f"{m}.key"),
            OutboundLog(tmp_path / "members" / m / "outbound.jsonl"),
        )
        for m in MEMBERS
    }


@pytest.fixture
def trail(tmp_path: Path, coordinator: FileSigner, members: dict[str, Member]) -> Trail:
    return write_trail(tmp_path / "run", coordinator, members)
