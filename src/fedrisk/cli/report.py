"""`fedrisk report RUN_DIR [--out report.html]`: write the self-contained HTML report of a run and print its path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedrisk.report.build import build_report

RunArg = Annotated[Path, typer.Argument(help="Run directory (holds results.json and stress_index.csv).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Where to write the report (default RUN_DIR/report.html).")]


def report(run_dir: RunArg, out: OutOpt = None) -> None:
    """Write one HTML report of a run that opens offline, and print its path."""
    print(build_report(run_dir, out))
