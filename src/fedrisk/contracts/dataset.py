"""The SmartBugs curated set: annotations, and the function-level learning dataset built from it.

Labels come only from ``vulnerabilities.json`` (line numbers + category). A function is positive when
an annotated line falls inside its definition (header to closing brace); every other function of the
same contracts is negative. Annotated lines outside any function (state variable initialisers,
declarations) cannot be attributed and are counted in :attr:`FunctionDataset.unattributed_lines`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fedrisk.contracts.features import FEATURE_NAMES, function_features
from fedrisk.contracts.parsing import ParsedFile, parse_file
from fedrisk.errors import DataNotFoundError, DataValidationError

__all__ = [
    "DATASET_NAME",
    "Annotation",
    "CuratedFile",
    "CuratedSet",
    "FunctionDataset",
    "build_function_dataset",
    "curated_root",
    "load_curated",
]

DATASET_NAME = "smartbugs-curated"


@dataclass(frozen=True, slots=True)
class Annotation:
    """One annotated vulnerable line."""

    path: str
    line: int
    category: str


@dataclass(frozen=True, slots=True)
class CuratedFile:
    """One contract file of the set with its annotations (``path`` relative to the set's root)."""

    path: str
    annotations: tuple[Annotation, ...]

    @property
    def categories(self) -> frozenset[str]:
        """Categories annotated in this file."""
        return frozenset(a.category for a in self.annotations)


@dataclass(frozen=True, slots=True)
class CuratedSet:
    """The curated set on disk."""

    root: Path
    files: tuple[CuratedFile, ...]

    @property
    def annotations(self) -> tuple[Annotation, ...]:
        """All unique annotated (file, line, category) triples."""
        return tuple(a for f in self.files for a in f.annotations)


def curated_root(data_dir: Path) -> Path:
    """The curated set's folder: ``data_dir`` itself or ``data_dir/smartbugs-curated``.

    Raises
    ------
    DataNotFoundError
        Neither holds ``vulnerabilities.json``.
    """
    for candidate in (data_dir / DATASET_NAME, data_dir):
        if (candidate / "vulnerabilities.json").is_file():
            return candidate
    raise DataNotFoundError(
        f"SmartBugs curated set not found under {data_dir}: expected {data_dir / DATASET_NAME}/"
        "vulnerabilities.json. Fix: pass --data-dir (or set FEDRISK_DATA_DIR) to the folder that holds "
        f"'{DATASET_NAME}' (a copy of github.com/smartbugs/smartbugs-curated, see its SOURCE.md)."
    )


def _annotations(entry: object, index: int) -> tuple[str, tuple[Annotation, ...]]:
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("path"), str)
        or not isinstance(entry.get("vulnerabilities"), list)
    ):
        raise DataValidationError(
            f"vulnerabilities.json entry {index} lacks 'path' or a 'vulnerabilities' list: the file is not "
            "the SmartBugs curated index (re-copy it from the origin repository)."
        )
    path: str = entry["path"]
    found: set[Annotation] = set()
    for vuln in entry["vulnerabilities"]:
        lines, category = vuln.get("lines"), vuln.get("category")
        if (
            not isinstance(lines, list)
            or not isinstance(category, str)
            or not all(isinstance(x, int) and x > 0 for x in lines)
        ):
            raise DataValidationError(
                f"vulnerabilities.json entry {index} ({path}) has a malformed "
                "vulnerability (needs 'lines': [int > 0] and 'category': str)."
            )
        found.update(Annotation(path, line, category) for line in lines)
    return path, tuple(sorted(found, key=lambda a: (a.line, a.category)))


def load_curated(data_dir: Path) -> CuratedSet:
    """Load the curated set's annotations, checking every listed file exists.

    Raises
    ------
    DataNotFoundError
        The set or one of its listed files is missing.
    DataValidationError
        ``vulnerabilities.json`` is not valid JSON or has the wrong shape.
    """
    root = curated_root(data_dir)
    try:
        raw = json.loads((root / "vulnerabilities.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataValidationError(f"{root / 'vulnerabilities.json'} is not valid JSON ({err}).") from err
    if not isinstance(raw, list):
        raise DataValidationError(f"{root / 'vulnerabilities.json'} must hold a list of contract entries.")
    files: list[CuratedFile] = []
    for index, entry in enumerate(raw):
        path, annotations = _annotations(entry, index)
        if not (root / path).is_file():
            raise DataNotFoundError(f"{root / path} is listed in vulnerabilities.json but missing.")
        files.append(CuratedFile(path, annotations))
    return CuratedSet(root, tuple(sorted(files, key=lambda f: f.path)))


@dataclass(frozen=True, slots=True)
class FunctionDataset:
    """Function-level design matrix with contract groups for grouped cross-validation."""

    X: npt.NDArray[np.float64]
    y: npt.NDArray[np.int64]
    groups: npt.NDArray[np.int64]
    files: tuple[str, ...]
    functions: tuple[tuple[str, str, int, int], ...]
    """(file, ``Contract.function``, start line, end line) of each row."""
    feature_names: tuple[str, ...]
    unattributed_lines: int

    @property
    def n_contracts(self) -> int:
        """Number of distinct files (contracts) represented."""
        return len(set(self.groups.tolist()))


def _file_rows(
    parsed: ParsedFile, lines: frozenset[int]
) -> tuple[list[list[float]], list[int], list[tuple[str, str, int, int]], set[int]]:
    rows: list[list[float]] = []
    labels: list[int] = []
    names: list[tuple[str, str, int, int]] = []
    covered: set[int] = set()
    features = function_features(parsed)
    for function, vector in features:
        inside = {line for line in lines if function.start_line <= line <= function.end_line}
        covered |= inside
        rows.append(vector)
        labels.append(int(bool(inside)))
        names.append((function.contract, function.name, function.start_line, function.end_line))
    return rows, labels, names, covered


def build_function_dataset(curated: CuratedSet) -> FunctionDataset:
    """Parse every file and build one row per implemented function (interfaces and stubs excluded)."""
    rows: list[list[float]] = []
    labels: list[int] = []
    groups: list[int] = []
    names: list[tuple[str, str, int, int]] = []
    unattributed = 0
    for group, curated_file in enumerate(curated.files):
        parsed = parse_file(curated.root / curated_file.path)
        lines = frozenset(a.line for a in curated_file.annotations)
        file_rows, file_labels, file_names, covered = _file_rows(parsed, lines)
        unattributed += len(lines - covered)
        rows += file_rows
        labels += file_labels
        names += [(curated_file.path, f"{c}.{n}", s, e) for c, n, s, e in file_names]
        groups += [group] * len(file_rows)
    return FunctionDataset(
        X=np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES)),
        y=np.asarray(labels, dtype=np.int64),
        groups=np.asarray(groups, dtype=np.int64),
        files=tuple(f.path for f in curated.files),
        functions=tuple(names),
        feature_names=FEATURE_NAMES,
        unattributed_lines=unattributed,
    )
