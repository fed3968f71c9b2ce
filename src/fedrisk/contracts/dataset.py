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
from fedrisk.contracts.parsing import ParsedFile, iter_nodes, node_text, parse_file
from fedrisk.errors import DataNotFoundError, DataValidationError

__all__ = [
    "DATASET_NAME",
    "Annotation",
    "CuratedFile",
    "CuratedSet",
    "FunctionDataset",
    "build_function_dataset",
    "clone_clusters",
    "curated_root",
    "load_curated",
]

DATASET_NAME = "smartbugs-curated"
_MIN_TOKENS = 12


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
    clusters: npt.NDArray[np.int64] | None = None
    """Clone cluster of each row's file (see :func:`clone_clusters`); folds keep a cluster together."""

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


def _function_signatures(parsed: ParsedFile) -> set[str]:
    """Token text of each function (comments and layout dropped): equal text means cloned code."""
    signatures = set()
    for function in parsed.functions:
        tokens = [node_text(n) for n in iter_nodes(function.node) if n.child_count == 0]
        if len(tokens) >= _MIN_TOKENS:  # `function() payable {}` and getters are shared by everyone
            signatures.add(" ".join(tokens))
    return signatures


def clone_clusters(signatures: list[set[str]], *, overlap: float = 0.5) -> list[int]:
    """Cluster files sharing verbatim at least ``overlap`` of the larger file's functions (union-find).

    The curated set holds many clones (honeypots redeployed under new addresses, copied token code):
    without this, a test contract's twin would sit in the training folds.

    >>> clone_clusters([{"a", "b"}, {"a", "b", "c"}, {"x"}, {"a", "x", "y", "z", "w"}])
    [0, 0, 2, 3]
    """
    parent = list(range(len(signatures)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(signatures):
        for j in range(i + 1, len(signatures)):
            b = signatures[j]
            shared = len(a & b)
            if a and b and shared >= overlap * max(len(a), len(b)):
                parent[find(j)] = find(i)
    return [find(i) for i in range(len(signatures))]


def build_function_dataset(curated: CuratedSet) -> FunctionDataset:
    """Parse every file and build one row per implemented function (interfaces and stubs excluded)."""
    rows: list[list[float]] = []
    labels: list[int] = []
    groups: list[int] = []
    names: list[tuple[str, str, int, int]] = []
    unattributed = 0
    signatures: list[set[str]] = []
    for group, curated_file in enumerate(curated.files):
        parsed = parse_file(curated.root / curated_file.path)
        signatures.append(_function_signatures(parsed))
        lines = frozenset(a.line for a in curated_file.annotations)
        file_rows, file_labels, file_names, covered = _file_rows(parsed, lines)
        unattributed += len(lines - covered)
        rows += file_rows
        labels += file_labels
        names += [(curated_file.path, f"{c}.{n}", s, e) for c, n, s, e in file_names]
        groups += [group] * len(file_rows)
    cluster_of = clone_clusters(signatures)
    return FunctionDataset(
        clusters=np.asarray([cluster_of[g] for g in groups], dtype=np.int64),
        X=np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES)),
        y=np.asarray(labels, dtype=np.int64),
        groups=np.asarray(groups, dtype=np.int64),
        files=tuple(f.path for f in curated.files),
        functions=tuple(names),
        feature_names=FEATURE_NAMES,
        unattributed_lines=unattributed,
    )
