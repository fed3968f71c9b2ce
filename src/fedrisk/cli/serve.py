"""``fedrisk serve``: the real-time scoring service for a run directory (FastAPI on uvicorn)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer


def serve(
    run: Annotated[Path, typer.Option("--run", help="Run directory (written by `fedrisk demo` / `stress train`).")],
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    torch_threads: Annotated[
        int, typer.Option("--torch-threads", help="Torch threads for large batches (1 keeps small requests fast).")
    ] = 1,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request.")] = False,
) -> None:
    """Serve /v1/stress/score, /v1/stress/index, /v1/fraud/score, /v1/models, /v1/explain/members, /healthz,
    /metrics and the OpenAPI docs at /docs. Models are loaded once, behind the audit gate."""
    argv = [
        sys.executable,
        "-m",
        "fedrisk.serving",
        "--run",
        str(run),
        "--host",
        host,
        "--port",
        str(port),
        "--torch-threads",
        str(torch_threads),
        "--log-level",
        log_level,
    ]
    if access_log:
        argv.append("--access-log")
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the lean service process: the command tree's imports are not kept in the service's memory.
    os.execv(sys.executable, argv)
