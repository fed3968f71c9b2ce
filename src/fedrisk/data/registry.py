"""Dataset registry: public origin URL and pinned SHA-256 of every file, fetched with pooch.

``registry.json`` lists, per dataset, each file's origin (a raw file at a fixed git commit) with

* ``origin_sha256`` — the pinned hash of the origin file, when it is known. Only files whose origin could be
  hashed byte for byte are pinned; for the others the hash is ``null`` and :func:`fetch_dataset` refuses to
  download them unless ``allow_unpinned=True`` (it then prints the hash it saw, to pin).
* ``trimmed_sha256`` — the hash of the known trimmed copy (rows dated 2020 or later withheld for independent
  evaluation, see the dataset's ``SOURCE.md``). A copy in a user-given data dir is accepted when it has either
  hash, and otherwise is checked by schema (column names and types) when it is loaded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from fedrisk.errors import ConfigError, DataError, DataValidationError

FileStatus = Literal["origin", "trimmed", "unknown", "missing"]


@dataclass(frozen=True, slots=True)
class RegistryFile:
    """One file of a registered dataset."""

    path: str
    url: str
    origin_sha256: str | None
    trimmed_sha256: str | None


@dataclass(frozen=True, slots=True)
class RegistryDataset:
    """A registered dataset: a name, its licence note and its files."""

    name: str
    description: str
    licence: str
    files: tuple[RegistryFile, ...]


def load_registry() -> dict[str, RegistryDataset]:
    """Read the registry shipped with the package."""
    raw = json.loads(resources.files("fedrisk.data").joinpath("registry.json").read_text())
    return {
        name: RegistryDataset(
            name=name,
            description=spec["description"],
            licence=spec["licence"],
            files=tuple(
                RegistryFile(f["path"], f["url"], f["origin_sha256"], f["trimmed_sha256"]) for f in spec["files"]
            ),
        )
        for name, spec in raw.items()
    }


def get_dataset(name: str) -> RegistryDataset:
    """Look up one dataset by name, naming the known ones when it is absent."""
    registry = load_registry()
    if name not in registry:
        raise ConfigError(f"unknown dataset '{name}'. Known datasets: {', '.join(sorted(registry))}.")
    return registry[name]


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_status(dataset_root: Path, spec: RegistryFile) -> FileStatus:
    """Whether a local copy is the pinned origin, the known trimmed copy, something else, or missing."""
    path = dataset_root / spec.path
    if not path.is_file():
        return "missing"
    digest = sha256_of(path)
    if spec.origin_sha256 is not None and digest == spec.origin_sha256:
        return "origin"
    if spec.trimmed_sha256 is not None and digest == spec.trimmed_sha256:
        return "trimmed"
    return "unknown"


def fetch_dataset(name: str, cache_dir: Path, *, allow_unpinned: bool = False) -> Path:
    """Download a dataset's files into ``cache_dir/name`` with pooch, checking pinned hashes.

    Raises
    ------
    DataValidationError
        When a file has no pinned hash and ``allow_unpinned`` is false.
    DataError
        When a download fails (no network, origin gone); the message names the file and URL.
    """
    import pooch

    dataset = get_dataset(name)
    root = cache_dir / name
    unpinned = [f.path for f in dataset.files if f.origin_sha256 is None]
    if unpinned and not allow_unpinned:
        raise DataValidationError(
            f"{len(unpinned)} file(s) of '{name}' have no pinned origin hash ({unpinned[0]}, ...): the shared "
            "copies were trimmed, so the origin bytes could not be hashed. Fix: pass allow_unpinned / "
            "--allow-unpinned to download them unverified (the hashes seen are printed so you can pin them), "
            "or point --data-dir at a directory that already holds the dataset."
        )
    for spec in dataset.files:
        target = root / spec.path
        try:
            pooch.retrieve(
                url=spec.url,
                known_hash=None if spec.origin_sha256 is None else f"sha256:{spec.origin_sha256}",
                fname=target.name,
                path=target.parent,
                progressbar=False,
            )
        except (OSError, ValueError) as err:
            raise DataError(
                f"could not fetch {spec.path} from {spec.url}: {err}. Check the network or use --data-dir."
            ) from err
    return root
