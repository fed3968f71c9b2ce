"""`fedrisk contribution` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="contribution commands.", no_args_is_help=True)
