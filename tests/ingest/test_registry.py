"""Dataset registry: pinned hashes, honest handling of unpinned (trimmed) files."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedrisk.data.registry import fetch_dataset, file_status, get_dataset, load_registry
from fedrisk.errors import ConfigError, DataValidationError


def test_registry_lists_every_hourly_file_with_an_origin() -> None:
    ds = get_dataset("crypto-hourly-multivenue")
    assert len(ds.files) == 20
    assert all(f.url.startswith("https://raw.githubusercontent.com/") for f in ds.files)
    pinned = [f for f in ds.files if f.origin_sha256]
    assert {Path(f.path).parent.name for f in pinned} == {"kraken"}  # the only byte-exact copies
    assert all(f.trimmed_sha256 for f in ds.files if not f.origin_sha256)


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="crypto-hourly-multivenue"):
        get_dataset("nope")
    assert "crypto-hourly-multivenue" in load_registry()


def test_fetch_refuses_unpinned_files_without_consent(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="--allow-unpinned"):
        fetch_dataset("crypto-hourly-multivenue", tmp_path)


def test_status_of_a_changed_copy_is_unknown(tmp_path: Path) -> None:
    spec = get_dataset("crypto-hourly-multivenue").files[0]
    assert file_status(tmp_path, spec) == "missing"
    target = tmp_path / spec.path
    target.parent.mkdir(parents=True)
    target.write_text("not the file")
    assert file_status(tmp_path, spec) == "unknown"


@pytest.mark.data
def test_shared_copies_are_recognised(shared_data_dir: Path) -> None:
    ds = get_dataset("crypto-hourly-multivenue")
    statuses = {file_status(shared_data_dir / ds.name, f) for f in ds.files}
    assert statuses <= {"origin", "trimmed"}
