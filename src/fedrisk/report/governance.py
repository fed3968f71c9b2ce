"""The report's governance section: the federation's constitution, members, rounds, budgets and rewards.

Reads ``results.json`` → ``governance`` (written by :mod:`fedrisk.jobs.governance`); absent runs say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fedrisk.report.html import Section, absent, cell, esc, num, paragraph, table
from fedrisk.report.rundir import RunData, as_list, as_mapping

TITLE = "Governance: constitution, members, rounds, budgets and rewards"


def _member_rows(members: list[Any]) -> list[list[str]]:
    rows = []
    for m in map(as_mapping, members):
        rights = as_mapping(m.get("rights"))
        receives = [k for k in ("model", "index") if rights.get(f"receives_{k}")]
        gives = [k for k in ("updates", "evaluations") if rights.get(f"contributes_{k}")]
        rows.append(
            [
                cell(m.get("id")),
                cell(m.get("tier")),
                cell(m.get("status")),
                esc(", ".join(receives) or "nothing"),
                esc(", ".join(gives) or "nothing"),
                num(m.get("epsilon_spent"), 2) + " / " + num(m.get("epsilon_budget"), 2),
                num(m.get("rewards_total"), 2),
            ]
        )
    return rows


def _round_rows(rounds: list[Any]) -> list[list[str]]:
    return [
        [
            cell(r.get("round_id")),
            cell(r.get("flower_round")),
            cell(r.get("state")),
            str(len(as_list(r.get("participants")))),
            esc(str(r.get("result_digest") or "")[:12]),
            cell(r.get("audit_seq")),
            cell(r.get("error")),
        ]
        for r in map(as_mapping, rounds)
    ]


def _privacy_text(privacy: Mapping[str, Any]) -> str:
    text = (
        f"Privacy mode of the rounds: {privacy.get('mode')}; budget ε = {num(privacy.get('epsilon_budget'), 2)} per "
        f"member per {privacy.get('budget_period')} at δ = {privacy.get('delta')}; ε charged by these rounds: "
        f"{num(privacy.get('epsilon_charged_by_rounds'), 2)}."
    )
    checks = [as_mapping(c) for c in as_list(privacy.get("privacy_section"))]
    if checks:
        parts = [
            f"target {num(c.get('target_epsilon'), 1)}: max member ε {num(c.get('max_member_epsilon'), 3)} "
            f"({'within' if c.get('within_budget') else 'OVER'} budget)"
            for c in checks
        ]
        text += " Privacy section's DP jobs: " + "; ".join(parts) + "."
    return text


def governance_section(run: RunData) -> Section:
    """The governance section of the report (or a plain statement that the run has none)."""
    gov = as_mapping(run.results.get("governance"))
    if not gov:
        return Section(
            "governance",
            TITLE,
            absent("This run has no governance section (it ran without recording its rounds in a coordinator store)."),
            False,
        )
    const = as_mapping(gov.get("constitution"))
    rules = as_mapping(gov.get("rules"))
    quorum = as_mapping(rules.get("quorum"))
    rewards = as_mapping(rules.get("rewards"))
    head = paragraph(
        f"Constitution '{const.get('name')}' v{const.get('version')} ({const.get('source')}, SHA-256 "
        f"{str(const.get('sha256', ''))[:12]}…): checked, {len(as_list(const.get('issues')))} issue(s). Aggregation "
        f"{rules.get('aggregation')}; quorum {quorum.get('min_members')} members, cohort ≥ {quorum.get('min_cohort')}; "
        f"reward pool {num(rewards.get('pool_per_round'), 0)} {rewards.get('currency')} per round, split "
        f"{rewards.get('split_rule')}. State: {gov.get('store')}."
    )
    members = table(
        ["member", "tier", "status", "receives", "contributes", "ε spent / budget", "rewards"],
        _member_rows(as_list(gov.get("members"))),
        caption="Members, their tier rights and totals from the store",
        key="governance-members",
    )
    counts = ", ".join(f"{k}: {v}" for k, v in as_mapping(gov.get("round_counts")).items())
    rounds = table(
        ["round", "Flower round", "state", "participants", "result digest", "audit seq", "error"],
        _round_rows(as_list(gov.get("rounds"))),
        caption=f"Rounds of the '{gov.get('job')}' job recorded in the store ({counts})",
        key="governance-rounds",
    )
    return Section(
        "governance", TITLE, head + members + rounds + paragraph(_privacy_text(as_mapping(gov.get("privacy")))), True
    )


__all__ = ["governance_section"]
