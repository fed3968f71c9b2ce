"""``build_report``: one self-contained HTML file a risk officer can open offline.

Reads only the run directory (``results.json``, ``stress_index.csv``); every figure is drawn with matplotlib
and embedded as a base64 PNG; no script, font or stylesheet is fetched from anywhere.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from fedrisk.report import plots
from fedrisk.report.governance import governance_section
from fedrisk.report.html import CSS, Section, absent, cell, esc, figure, num, paragraph, table
from fedrisk.report.rundir import RunData, as_float, as_list, as_mapping, load_run
from fedrisk.report.sections import (
    Absent,
    ContributionView,
    read_attacks,
    read_audit,
    read_contribution,
    read_privacy,
)
from fedrisk.report.summary import summarise

QUALITY_MODELS = ("local", "federated", "finetuned", "central", "fedprox", "heuristic")


def _delta_cell(delta: Mapping[str, Any]) -> str:
    d = as_float(delta.get("delta"))
    if d is None:
        return "—"
    cls = "gain" if d > 0 else "loss" if d < 0 else ""
    sig = " *" if delta.get("significant") else ""
    ci = f" [{num(delta.get('low'), 3, signed=True)}, {num(delta.get('high'), 3, signed=True)}]"
    return f"<span class='{cls}'>{num(d, 3, signed=True)}{sig}</span>{ci}"


def _quality_section(run: RunData) -> Section:
    rows = [as_mapping(r) for r in as_list(run.stress.get("members"))]
    if not rows:
        return Section("quality", "Quality per member", absent("This run has no per-member stress results."), False)
    cols = ["member", "test events", *[f"AUPRC {m}" for m in QUALITY_MODELS], "federated − local [95 % CI]"]
    body = [
        [
            esc(r.get("member")),
            f"{cell(r.get('test_events'))} ({num(r.get('test_event_rate'), 1, pct=True)})",
            *[num(r.get(f"auprc_{m}")) for m in QUALITY_MODELS],
            _delta_cell(as_mapping(r.get("fed_minus_local_auprc"))),
        ]
        for r in rows
    ]
    html = paragraph(
        "AUPRC (area under the precision-recall curve) of each model on the member's own test period; higher is "
        "better, and a model that guesses scores about the event rate. * marks a difference beyond the paired "
        "day-block bootstrap interval. Centralised pools everyone's data: a reference no federation may build."
    ) + table(cols, body, key="quality")
    if any(as_float(r.get("auprc_federated")) is not None for r in rows):
        html += figure(
            lambda p: plots.plot_member_quality(dict(run.stress), p),
            alt="bar chart of test AUPRC per member for local, federated, fine-tuned, centralised and heuristic",
            caption="Test AUPRC per member (black tick: event rate, what random guessing scores).",
            key="member_quality",
        )
    return Section("quality", "Quality per member: local, federated, fine-tuned, centralised", html, True)


def _episodes(run: RunData) -> pd.DataFrame | None:
    rows = [as_mapping(r) for r in as_list(as_mapping(run.stress.get("index")).get("episodes"))]
    frame = pd.DataFrame([{"asset": r.get("asset"), "onset_utc": r.get("onset_utc")} for r in rows])
    if frame.empty:
        return None
    frame["onset_utc"] = pd.to_datetime(frame["onset_utc"], utc=True, errors="coerce")
    return frame.dropna()


def _index_table(warning: Mapping[str, Any], withheld: list[str]) -> str:
    rows = [
        [
            esc(a),
            num(v.get("alarm_threshold"), 1),
            cell(v.get("episodes")),
            cell(v.get("detected")),
            num(v.get("detection_rate"), 0, pct=True),
            num(v.get("median_lead_hours"), 1),
        ]
        for a, v in ((a, as_mapping(v)) for a, v in warning.items())
    ]
    rows += [[esc(a), "withheld", "—", "—", "—", "—"] for a in withheld]
    cols = ["asset", "alarm level", "episodes", "warned in time", "share", "median lead (h)"]
    return table(cols, rows, key="index_warning", caption="Index alarms before market-wide stress episodes")


def _index_section(run: RunData) -> Section:
    title = "Stress index over time, with alarms"
    index = run.index
    if index is None:
        return Section("index", title, absent(f"No stress index: {run.index_note}."), False)
    warning = as_mapping(as_mapping(as_mapping(run.stress.get("index")).get("warning")).get("assets"))
    levels = {a: t for a, v in warning.items() if (t := as_float(as_mapping(v).get("alarm_threshold"))) is not None}
    counts = index.dropna(subset=["index"]).groupby("asset").size()
    withheld = sorted(a for a in set(index["asset"]) if a not in counts.index)
    episodes = _episodes(run)
    note = (
        "Episode onsets are drawn as dotted lines."
        if episodes is not None
        else "Episode onsets are not recorded in this run directory (only their counts, in the table below)."
    )
    html = paragraph(str(as_mapping(run.stress.get("index")).get("formula", "")), "formula") + figure(
        lambda p: plots.plot_index_alarms(index, levels, p, episodes),
        alt="line charts of the market stress index and each published asset index over the test period",
        caption=f"Hourly index, 0-100. Dashed: alarm level; ticks at the top: hours at or above it. {note}",
        key="stress_index",
    )
    if withheld:
        html += paragraph(
            f"Withheld: {', '.join(withheld)} — held by fewer than 3 members, so no index is published for it."
        )
    html += _index_table(warning, withheld)
    return Section("index", title, html, True)


def _onboarding_section(run: RunData) -> Section:
    rows = [as_mapping(r) for r in as_list(run.stress.get("onboarding"))]
    title = "Onboarding: what a new member gets"
    if not rows:
        return Section("onboarding", title, absent("This run has no onboarding curve."), False)
    body = [
        [
            num(r.get("months"), 0),
            num(r.get("auprc_local_median")),
            num(r.get("auprc_federated_median")),
            num(r.get("auprc_finetuned_median")),
            f"{cell(r.get('members_federated_above_local'))} of {len(as_list(r.get('members')))}",
        ]
        for r in rows
    ]
    cols = ["months of own history", "local (median AUPRC)", "federated", "fine-tuned", "federated above local"]
    html = paragraph(
        "Each member in turn joins with k months of its own history while the others keep theirs. Local-only "
        "cannot train with 0 months (—)."
    ) + table(cols, body, key="onboarding")
    html += figure(
        lambda p: plots.plot_onboarding(dict(run.stress), p),
        alt="median test AUPRC against months of the joining member's history",
        caption="Median test AUPRC over members, by months of the newcomer's own history.",
        key="onboarding",
    )
    return Section("onboarding", title, html, True)


def _rounds_section(run: RunData) -> Section:
    jobs = as_mapping(as_mapping(run.stress.get("federation")).get("jobs"))
    title = "Federated rounds"
    main = {k: as_mapping(jobs.get(k)) for k in ("federated", "fedprox") if k in jobs}
    if not main:
        return Section("rounds", title, absent("This run records no federated training rounds."), False)
    body = [
        [
            esc("FedAvg" if name == "federated" else "FedProx"),
            cell(h.get("round")),
            esc(h.get("status", "")),
            cell(h.get("members")),
            num(h.get("val_loss"), 4),
            num(h.get("val_auprc"), 4),
            num(h.get("wall_s"), 1),
        ]
        for name, job in main.items()
        for h in map(as_mapping, as_list(job.get("history")))
    ]
    cols = ["strategy", "round", "status", "members", "validation loss", "validation AUPRC", "wall time (s)"]
    best = as_mapping(main.get("federated")).get("best_round")
    others = len(jobs) - len(main)
    html = paragraph(
        f"The published model is FedAvg round {best if best is not None else '—'} (lowest federated validation "
        f"loss). {others} further federations ran for the leave-one-out and onboarding comparisons."
    ) + table(cols, body, key="rounds")
    html += figure(
        lambda p: plots.plot_rounds(dict(run.stress), p),
        alt="validation log loss per federated round for FedAvg and FedProx",
        caption="Members' weighted validation log loss after each round.",
        key="rounds",
    )
    return Section("rounds", title, html, True)


def _lead_rows(members: list[Mapping[str, Any]]) -> list[list[str]]:
    out = []
    for m in members:
        loc, fed = as_mapping(m.get("local")), as_mapping(m.get("federated"))
        out.append(
            [
                esc(m.get("member")),
                cell(fed.get("episodes")),
                f"{cell(loc.get('detected'))} ({num(loc.get('detection_rate'), 0, pct=True)})",
                f"{cell(fed.get('detected'))} ({num(fed.get('detection_rate'), 0, pct=True)})",
                num(loc.get("median_lead_hours"), 1),
                num(fed.get("median_lead_hours"), 1),
            ]
        )
    return out


def _warning_section(run: RunData) -> Section:
    ew = as_mapping(run.stress.get("early_warning"))
    members = [as_mapping(m) for m in as_list(ew.get("members"))]
    title = "Early warning: lead times"
    if not members:
        return Section("warning", title, absent("This run has no early-warning evaluation."), False)
    far = num(ew.get("false_alarm_rate"), 0, pct=True)
    cols = ["member", "episodes", "warned: local", "warned: federated", "lead local (h)", "lead federated (h)"]
    html = paragraph(
        f"Alarm levels are set on validation hours without an event at a {far} false-alarm rate. An episode "
        "starts at a stress hour after 24 quiet hours; it is warned of in time when an alarm fires in the 24 "
        "hours before it; the lead time runs from that first alarm to the onset."
    ) + table(cols, _lead_rows(members), key="lead_times")
    html += figure(
        lambda p: plots.plot_lead_times([dict(m) for m in members], p),
        alt="share of stress episodes warned of in time per member, local versus federated",
        caption="Share of each member's episodes warned of in time; label: median lead time (hours).",
        key="lead_times",
    )
    return Section("warning", title, html, True)


def _privacy_section(run: RunData) -> Section:
    view = read_privacy(run.results)
    title = "Privacy spent (ε per member over rounds)"
    if isinstance(view, Absent):
        return Section("privacy", title, absent(view.reason, error=view.error), False)
    rows = [
        [
            esc(m),
            cell(len(pts)),
            num(pts[-1][1] if pts else None, 3),
            num(view.epsilon_max.get(m), 2),
            num(pts[-1][1] / view.epsilon_max[m] if pts and view.epsilon_max.get(m) else None, 0, pct=True),
        ]
        for m, pts in view.spent.items()
    ]
    mode = f"Mode: {view.mode}. " if view.mode else ""
    delta = f"δ = {view.delta:g}. " if view.delta is not None else ""
    html = paragraph(f"{mode}{delta}ε is composed with the PLD accountant; lower is more private.")
    html += table(["member", "rounds", "ε spent", "ε budget", "budget used"], rows, key="privacy")
    if view.spent:
        html += figure(
            lambda p: plots.plot_epsilon(dict(view.spent), dict(view.epsilon_max), p),
            alt="cumulative epsilon spent per member against round",
            caption="Cumulative ε per member after each round; dashed lines: budgets.",
            key="epsilon",
        )
    if view.curve:
        cols = list(dict.fromkeys(k for r in view.curve for k in r))
        html += table(
            cols, [[cell(r.get(c)) for c in cols] for r in view.curve], key="privacy_curve", caption="Privacy / utility"
        )
    drawn = run.run_dir / "privacy_utility.png"
    if drawn.is_file():
        html += figure(
            lambda p: shutil.copyfile(drawn, p),
            alt="test AUPRC against the epsilon spent",
            caption="Privacy / utility: median test AUPRC of the stress model at each ε actually spent.",
            key="privacy_utility",
        )
    ratio = as_mapping(as_mapping(run.results.get("privacy")).get("secagg_timing")).get("ratio")
    if isinstance(ratio, int | float):
        html += paragraph(f"SecAgg+ round time is {ratio:.2f}× plain FedAvg, measured side by side in this run.")
    return Section("privacy", title, html, True)


def _contribution_rows(view: ContributionView) -> list[list[str]]:
    return [
        [
            esc(r["member"]),
            f"{num(r['shapley'], 4)} ± {num(r['std_error'], 4)}",
            num(r["reward_share"], 1, pct=True),
            num(r.get("reward"), 2),
            "yes" if r["premium"] else "",
        ]
        for r in view.rows
    ]


def _contribution_section(view: ContributionView | Absent) -> Section:
    title = "Contributions: Shapley values and reward shares"
    if isinstance(view, Absent):
        return Section("contribution", title, absent(view.reason, error=view.error), False)
    evs = view.exact_vs_sampled
    extra = ""
    if evs is not None:
        extra = (
            f" A sampled estimate using {cell(evs.get('sampled_evaluations'))} of "
            f"{cell(evs.get('exact_evaluations'))} coalitions erred by at most {num(evs.get('max_abs_error'), 4)}."
        )
    html = paragraph(
        f"Method: {view.method}; utility: {view.utility_metric} on validation data; total value to share "
        f"{num(view.total_value, 4)}. Negative values are clipped to 0 before splitting rewards.{extra}"
    )
    cols = ["member", "Shapley ± s.e.", "reward share", "reward", "premium"]
    html += table(cols, _contribution_rows(view), key="contribution")
    html += figure(
        lambda p: plots.plot_contribution([dict(r) for r in view.rows], view.utility_metric, p),
        alt="Shapley value and reward share per member",
        caption="Left: Shapley value with standard error. Right: share of the reward pool.",
        key="contribution",
    )
    return Section("contribution", title, html, True)


def _loo_section(view: ContributionView | Absent) -> Section:
    title = "Leave-one-member-out"
    if isinstance(view, Absent):
        text = "No leave-one-member-out deltas: they are part of the contribution section, which this run lacks."
        return Section("loo", title, absent(text if not view.error else view.reason, error=view.error), False)
    shown = [r for r in view.rows if r.get("loo") is not None]
    if not shown:
        reason = view.loo_note or "no member's value was released"
        return Section("loo", title, absent(f"Leave-one-out withheld: {reason}."), False)
    rows = [[esc(r["member"]), num(r["loo"], 4, signed=True)] for r in shown]
    html = paragraph(
        "How much the federation's quality falls when one member leaves: v(all) − v(all but the member). Only "
        "released when at least 3 members remain."
    ) + table(["member", f"{view.utility_metric} lost without it"], rows, key="loo")
    html += figure(
        lambda p: plots.plot_loo([dict(r) for r in view.rows], view.utility_metric, p),
        alt="leave-one-member-out delta per member",
        caption="Positive: the federation is worse without the member.",
        key="loo",
    )
    return Section("loo", title, html, True)


def _audit_section(run: RunData) -> Section:
    view = read_audit(run.results, run.run_dir)
    title = "Audit trail"
    if isinstance(view, Absent):
        return Section("audit", title, absent(view.reason, error=view.error), False)
    badge = "<span class='badge ok'>VERIFIED</span>" if view.ok else "<span class='badge fail'>NOT VERIFIED</span>"
    records = f" ({view.n_records} records)" if view.n_records is not None else ""
    html = f"<p data-audit-ok='{str(view.ok).lower()}'>{badge} {esc(view.summary)}{esc(records)}</p>"
    return Section("audit", title, html + paragraph(f"Source: {view.source}."), True)


def _attacks_section(run: RunData) -> Section:
    view = read_attacks(run.results)
    title = "Attack results (red team)"
    if isinstance(view, Absent):
        return Section("attacks", title, absent(view.reason, error=view.error), False)
    html = paragraph(view.note) if view.note else ""
    html += table(view.columns, [[cell(c) for c in r] for r in view.rows], key="attacks")
    return Section("attacks", title, html, True)


def _summary_html(run: RunData) -> str:
    quick = as_mapping(as_mapping(run.results.get("config")).get("stress")).get("quick")
    banner = (
        "<p class='quick'>Quick run: fewer members, a shorter training period and fewer rounds than the full "
        "demo. The figures show how the system behaves, not its full-run quality.</p>"
        if quick
        else ""
    )
    items = "".join(f"<li>{esc(s)}</li>" for s in summarise(run.results))
    head = "<section id='summary' data-section='summary' data-present='true'><h2>Summary</h2>"
    return f"{head}{banner}<ul>{items}</ul></section>"


def _header(run: RunData) -> str:
    r = run.results
    members = as_list(as_mapping(as_mapping(r.get("config")).get("stress")).get("members"))
    split = as_mapping(as_mapping(as_mapping(r.get("config")).get("stress")).get("split"))
    period = f"test {str(split.get('test_start', '?'))[:10]} to {str(split.get('test_end', '?'))[:10]}" if split else ""
    meta = " · ".join(
        x
        for x in (
            f"run {r.get('run_id', run.run_dir.name)}",
            f"created {r.get('created_utc', 'unknown')}",
            f"{len(members)} members" if members else "",
            period,
            f"fedrisk {r.get('fedrisk_version', '?')}",
        )
        if x
    )
    return f"<header><h1>Federated liquidity-stress report</h1><p class='meta'>{esc(meta)}</p></header>"


def _render(run: RunData, sections: list[Section]) -> str:
    nav = "".join(f"<a href='#{s.key}'>{esc(s.title.split(':')[0])}</a>" for s in sections)
    body = "".join(
        f"<section id='{s.key}' data-section='{s.key}' data-present='{str(s.present).lower()}'>"
        f"<h2>{esc(s.title)}</h2>{s.body}</section>"
        for s in sections
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    files = len(as_list(as_mapping(run.results.get("data")).get("files")))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><link rel='icon' href='data:,'>"
        f"<title>fedrisk report — {esc(run.results.get('run_id', run.run_dir.name))}</title>"
        f"<style>{CSS}</style></head><body>{_header(run)}<main>"
        f"<nav aria-label='sections'><a href='#summary'>Summary</a>{nav}</nav>{_summary_html(run)}{body}"
        f"<footer>Generated {generated} from {esc(run.run_dir.name)}/results.json"
        f"{f' ({files} input files with SHA-256 provenance)' if files else ''}. Self-contained: opens offline. "
        "Colours: Okabe–Ito (colour-blind safe).</footer></main></body></html>"
    )


SECTION_BUILDERS: tuple[Callable[[RunData], Section], ...] = (
    _index_section,
    _quality_section,
    _onboarding_section,
    _rounds_section,
    _warning_section,
    _privacy_section,
    governance_section,
)


def report_html(run: RunData) -> str:
    """The report of a loaded run as one HTML string."""
    contribution = read_contribution(run.results)
    sections = [build(run) for build in SECTION_BUILDERS]
    sections += [
        _contribution_section(contribution),
        _loo_section(contribution),
        _audit_section(run),
        _attacks_section(run),
    ]
    return _render(run, sections)


def build_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the self-contained HTML report of a run directory; return its path.

    Parameters
    ----------
    run_dir : Path
        A finished run directory (holds ``results.json``; ``stress_index.csv`` when the run has an index).
    out : Path, optional
        Where to write; default ``RUN_DIR/report.html``.

    Raises
    ------
    DataNotFoundError
        ``run_dir`` or its ``results.json`` does not exist.
    DataValidationError
        ``results.json`` is not valid JSON or not an object.
    """
    run = load_run(run_dir)
    target = Path(out) if out is not None else Path(run_dir) / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(report_html(run), encoding="utf-8")
    tmp.replace(target)
    return target
