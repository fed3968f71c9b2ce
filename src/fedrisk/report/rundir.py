"""Read a finished run directory: ``results.json`` and ``stress_index.csv``; nothing else is needed.

The report and the dashboard read run directories only: they never import Flower and never train.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fedrisk.errors import DataNotFoundError, DataValidationError

INDEX_COLUMNS = ("ts_utc", "asset", "index", "members")


@dataclass(frozen=True)
class RunData:
    """What the report reads from one run directory.

    Attributes
    ----------
    run_dir : Path
        The run directory.
    results : Mapping[str, Any]
        The parsed ``results.json``.
    index : pandas.DataFrame or None
        ``stress_index.csv`` (``ts_utc`` as UTC timestamps), or None when the run has none.
    index_note : str or None
        Why ``index`` is None (missing or unreadable file), else None.
    """

    run_dir: Path
    results: Mapping[str, Any]
    index: pd.DataFrame | None
    index_note: str | None

    @property
    def stress(self) -> Mapping[str, Any]:
        """The ``stress`` section, or an empty mapping."""
        return as_mapping(self.results.get("stress"))


def as_mapping(x: object) -> Mapping[str, Any]:
    """``x`` when it is a JSON object, else an empty mapping (readers tolerate absent sections)."""
    return x if isinstance(x, Mapping) else {}


def as_list(x: object) -> list[Any]:
    """``x`` when it is a JSON array, else an empty list."""
    return x if isinstance(x, list) else []


def as_float(x: object) -> float | None:
    """``x`` as a finite float, else None (null, missing, text, NaN or a boolean)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def read_results(run_dir: Path) -> dict[str, Any]:
    """Parse ``RUN_DIR/results.json``.

    Raises
    ------
    DataNotFoundError
        The directory or its ``results.json`` does not exist.
    DataValidationError
        The file is not valid JSON or not a JSON object.
    """
    if not run_dir.is_dir():
        raise DataNotFoundError(
            f"run directory {run_dir} not found: pass the directory of a finished run "
            "(`fedrisk demo --out DIR` writes one)"
        )
    path = run_dir / "results.json"
    if not path.is_file():
        raise DataNotFoundError(
            f"{path} not found: {run_dir} is not a finished run directory (a run writes results.json last)"
        )
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataValidationError(
            f"{path} is not valid JSON ({err}): the run may have been interrupted; rerun it"
        ) from err
    if not isinstance(results, dict):
        raise DataValidationError(f"{path} must hold a JSON object, got {type(results).__name__}")
    return results


def read_index(run_dir: Path, results: Mapping[str, Any]) -> tuple[pd.DataFrame | None, str | None]:
    """Read the stress-index CSV named in ``results.json`` (default ``stress_index.csv``).

    Returns the frame and None, or None and a plain reason when the run has no usable index file.
    """
    name = as_mapping(as_mapping(results.get("stress")).get("index")).get("file") or "stress_index.csv"
    path = run_dir / str(name)
    if not path.is_file():
        return None, f"the run directory has no {name}"
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        return None, f"{name} could not be read ({err})"
    missing = [c for c in INDEX_COLUMNS if c not in frame.columns]
    if missing:
        return None, f"{name} lacks the columns {missing}"
    frame["ts_utc"] = pd.to_datetime(frame["ts_utc"], utc=True, errors="coerce")
    frame["index"] = pd.to_numeric(frame["index"], errors="coerce")
    return frame.dropna(subset=["ts_utc"]), None


def load_run(run_dir: Path | str) -> RunData:
    """Load a run directory for the report (see :func:`read_results` for the errors raised)."""
    path = Path(run_dir)
    results = read_results(path)
    index, note = read_index(path, results)
    return RunData(run_dir=path, results=results, index=index, index_note=note)
