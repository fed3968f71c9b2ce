"""``fedrisk demo``: the main job on real public data."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from fedrisk.cli._common import (
    ConstitutionFileOpt,
    DataDirOpt,
    KeysDirOpt,
    OutOpt,
    QuickOpt,
    SeedOpt,
    console,
    print_json,
    run_job,
)


def _fmt(x: object) -> str:
    return "—" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def comparison_table(stress: dict[str, object]) -> Table:
    """The per-member comparison a risk officer reads first."""
    table = Table(title="Illiquid-stress warning, test period: AUPRC per member (own test data)")
    cols = ["member", "event rate", "local", "federated", "fed+tune", "central", "heuristic", "fed−local [95% CI]"]
    for col in cols:
        table.add_column(col, justify="right" if col != "member" else "left")
    for r in stress["members"]:  # type: ignore[attr-defined]
        ci = r["fed_minus_local_auprc"]
        ci_txt = (
            "—"
            if ci["delta"] is None
            else (f"{ci['delta']:+.3f} [{_fmt(ci['low'])}, {_fmt(ci['high'])}]" + (" *" if ci["significant"] else ""))
        )
        table.add_row(
            r["member"],
            _fmt(r.get("test_event_rate")),
            _fmt(r.get("auprc_local")),
            _fmt(r.get("auprc_federated")),
            _fmt(r.get("auprc_finetuned")),
            _fmt(r.get("auprc_central")),
            _fmt(r.get("auprc_heuristic")),
            ci_txt,
        )
    return table


def onboarding_table(stress: dict[str, object]) -> Table:
    """Median AUPRC of a joining member by months of history."""
    table = Table(title="Onboarding: a member joining with k months of history (median AUPRC over members)")
    for col in ("months", "local-only", "federated", "federated + fine-tune", "members fed > local"):
        table.add_column(col, justify="right")
    for r in stress.get("onboarding", []):  # type: ignore[attr-defined]
        table.add_row(
            f"{r['months']:g}",
            _fmt(r["auprc_local_median"]),
            _fmt(r["auprc_federated_median"]),
            _fmt(r["auprc_finetuned_median"]),
            str(r["members_federated_above_local"]),
        )
    return table


def demo(
    data_dir: DataDirOpt = None,
    out: OutOpt = None,
    quick: QuickOpt = False,
    seed: SeedOpt = 7,
    keys_dir: KeysDirOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print results.json to stdout.")] = False,
    constitution: ConstitutionFileOpt = None,
    sections: Annotated[
        str | None,
        typer.Option(
            "--sections",
            help="Comma-separated sections to run (default: all; the stress federation always runs). "
            "See `fedrisk.jobs.demo.SECTIONS`.",
        ),
    ] = None,
) -> None:
    """Simulate a federation of exchanges on real data: local vs federated vs centralised, privacy, fraud, credit."""
    chosen = None if sections is None else tuple(s.strip() for s in sections.split(",") if s.strip())
    if chosen is not None and "stress" not in chosen:
        chosen = ("stress", *chosen)
    results, run_dir = run_job(
        data_dir,
        out,
        quick=quick,
        seed=seed,
        keys_dir=keys_dir,
        show_progress=not json_out,
        sections=chosen,
        constitution=constitution,
    )
    if json_out:
        print_json(results)
        return
    stress = results["stress"]
    console.print(comparison_table(stress))
    s = stress["summary"]
    console.print(
        f"Federated AUPRC is {s['federated_pct_of_central']} % of centralised; {s['members_gaining']} of "
        f"{s['members_evaluated']} members gain over local-only (median gain {s['median_gain']}); significantly "
        f"better: {s['members_significantly_better'] or 'none'}; significantly worse: "
        f"{s['members_significantly_worse'] or 'none'}."
    )
    if stress.get("onboarding"):
        console.print(onboarding_table(stress))
    audit = results.get("audit", {})
    console.print(
        f"Audit trail: {audit.get('records')} records, {audit.get('countersignatures')} member countersignatures, "
        f"verified offline: {'OK' if audit.get('ok') else 'FAILED: ' + str(audit.get('reason'))}"
    )
    gov = results.get("governance")
    if gov:
        console.print(
            f"Governance: constitution '{gov['constitution']['name']}' ({gov['constitution']['source']}) checked; "
            f"rounds recorded in {gov['store']}: {gov['round_counts']}"
        )
    console.print(f"Report: {run_dir / results['artifacts']['report']}")
    console.print(f"Run directory: {run_dir}  (results.json, plots, model/, audit.jsonl, run.log)")
