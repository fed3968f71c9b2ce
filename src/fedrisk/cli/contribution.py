"""`fedrisk contribution` commands: report members' contribution values and rewards of a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from fedrisk.contribution.section import ContributionSection, read_contribution_section

app = typer.Typer(help="Contribution values and rewards of a run.", no_args_is_help=True)

RunOpt = Annotated[Path, typer.Option("--run", help="Run directory (holds results.json).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the validated section as JSON.")]


@app.callback()
def _group() -> None:
    """Contribution values and rewards of a run."""


def _fmt(x: float | None, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _sampled_line(evs: dict[str, Any]) -> str:
    pct = evs.get("max_error_pct_of_total")
    pct_text = "n/a" if pct is None else f"{pct:.2f} % of the total value"
    return (
        f"sampled vs exact: {evs.get('sampled_evaluations')} of {evs.get('exact_evaluations')} coalitions "
        f"({100 * float(evs.get('evaluation_fraction', 0.0)):.0f} %), {evs.get('sampled_permutations')} "
        f"permutations, max error {_fmt(evs.get('max_abs_error'))} ({pct_text})"
    )


def _render(section: ContributionSection) -> list[str]:
    lines = [
        f"method: {section.method}   utility: {section.utility_metric}"
        f" ({section.raw.get('utility_mode', 'unknown')} mode)   "
        f"coalitions evaluated: {section.n_coalitions_evaluated}",
        f"{'member':<14}{'shapley':>10}{'± se':>9}{'loo':>10}{'share':>8}  premium",
    ]
    for m in section.members:
        lines.append(
            f"{m.member:<14}{m.shapley:>10.4f}{m.std_error:>9.4f}{_fmt(m.loo):>10}"
            f"{100 * m.reward_share:>7.1f}%  {'yes' if m.premium else ''}".rstrip()
        )
    if section.raw.get("loo_note"):
        lines.append(f"leave-one-out {section.raw['loo_note']}")
    if isinstance(section.exact_vs_sampled, dict):
        lines.append(_sampled_line(section.exact_vs_sampled))
    return lines


@app.command()
def report(run: RunOpt, as_json: JsonOpt = False) -> None:
    """Print each member's Shapley value, leave-one-out value and reward share for a run."""
    section = read_contribution_section(run)
    if as_json:
        typer.echo(json.dumps(section.raw, indent=2))
        return
    for line in _render(section):
        typer.echo(line)
