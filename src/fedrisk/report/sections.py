"""Tolerant readers of the optional ``results.json`` sections the report shows.

Each reader returns a small frozen view of the data, or :class:`Absent` with a plain reason when the run has
no such section (or has one the report cannot read). None of them raises for a missing or malformed section:
a report must still open and say what is not there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedrisk.errors import MIN_COHORT, DataValidationError, QuorumError
from fedrisk.report.rundir import as_float, as_list, as_mapping


@dataclass(frozen=True)
class Absent:
    """A section the run does not have; ``reason`` says so in plain words. ``error``: present but unreadable."""

    reason: str
    error: bool = False


@dataclass(frozen=True)
class PrivacyView:
    """ε spent per member over rounds (from the privacy ledger entries copied into results.json)."""

    mode: str | None
    spent: Mapping[str, tuple[tuple[int, float], ...]]
    """member -> ((round, ε after that round), ...) in round order."""
    epsilon_max: Mapping[str, float]
    delta: float | None
    curve: tuple[Mapping[str, Any], ...]
    """Privacy/utility rows (``epsilon_target``, ``epsilon_spent``, ``auprc``), possibly empty."""


@dataclass(frozen=True)
class ContributionView:
    """Shapley values, rewards and leave-one-out deltas of the ``contribution`` section."""

    method: str
    utility_metric: str
    rows: tuple[Mapping[str, Any], ...]
    """Per member: member, shapley, std_error, loo, reward_share, premium (and reward when present)."""
    loo_note: str | None
    total_value: float | None
    exact_vs_sampled: Mapping[str, Any] | None


@dataclass(frozen=True)
class AuditView:
    """Whether the audit trail verifies; ``source`` says where the verdict comes from."""

    ok: bool
    summary: str
    n_records: int | None
    source: str


@dataclass(frozen=True)
class TableView:
    """A generic table (attack results): column names and rows of cells."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str | None = None


def _ledger_series(entries: list[Any]) -> dict[str, tuple[tuple[int, float], ...]]:
    series: dict[str, dict[int, float]] = {}
    for e in entries:
        row = as_mapping(e)
        member, rnd, eps = row.get("member"), row.get("round"), as_float(row.get("epsilon_after"))
        if isinstance(member, str) and isinstance(rnd, int) and not isinstance(rnd, bool) and eps is not None:
            series.setdefault(member, {})[rnd] = eps
    return {m: tuple(sorted(pts.items())) for m, pts in sorted(series.items())}


def _budgets(section: Mapping[str, Any], members: list[str]) -> dict[str, float]:
    default = as_float(as_mapping(section.get("policy")).get("epsilon_max"))
    per_member = as_mapping(section.get("budgets"))
    out: dict[str, float] = {}
    for m in members:
        value = as_float(as_mapping(per_member.get(m)).get("epsilon_max"))
        value = value if value is not None else default
        if value is not None:
            out[m] = value
    return out


def _scalar_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar entries of a curve row (per-member mappings are summarised by the row's medians)."""
    return {k: v for k, v in row.items() if v is None or isinstance(v, str | int | float)}


def read_privacy(results: Mapping[str, Any]) -> PrivacyView | Absent:
    """The ``privacy`` section: ``ledger_entries[]`` (member, round, epsilon_after; older runs: ``ledger[]``),
    optional policy/budgets/curve."""
    raw = results.get("privacy")
    if raw is None:
        return Absent(
            "This run has no privacy section: it trained in plain mode (no differential privacy), so no ε was "
            "spent or recorded. Run the demo with its privacy section (the default, or `--sections privacy`) "
            "for the DP and SecAgg+ runs and the members' ε ledgers (docs/privacy.md)."
        )
    if not isinstance(raw, Mapping):
        return Absent("results.json has a 'privacy' entry that is not an object; it cannot be shown.", error=True)
    spent = _ledger_series(as_list(raw.get("ledger_entries", raw.get("ledger"))))  # entries, or a file name
    curve_rows = raw.get("utility_curve", raw.get("curve"))
    curve = tuple(_scalar_fields(as_mapping(r)) for r in as_list(curve_rows) if isinstance(r, Mapping))
    if not spent and not curve:
        return Absent("The privacy section has no ledger entries and no privacy/utility curve.", error=True)
    mode = raw.get("mode")
    return PrivacyView(
        mode=mode if isinstance(mode, str) else None,
        spent=spent,
        epsilon_max=_budgets(raw, list(spent)),
        delta=as_float(as_mapping(raw.get("policy")).get("delta")),
        curve=curve,
    )


def read_contribution(results: Mapping[str, Any]) -> ContributionView | Absent:
    """The ``contribution`` section (schema in docs/contribution.md), validated by its own parser."""
    from fedrisk.contribution.section import parse_contribution_section

    raw = results.get("contribution")
    if raw is None:
        return Absent(
            "This run has no contribution section: Shapley values, reward shares and leave-one-member-out "
            "deltas were not computed for this run (the demo computes them in its contribution section, the "
            "default, or `--sections contribution`; docs/contribution.md)."
        )
    try:
        section = parse_contribution_section(raw)
    except (DataValidationError, QuorumError) as err:
        return Absent(f"The contribution section cannot be shown: {err}", error=True)
    rows = tuple(
        {
            "member": m.member,
            "shapley": m.shapley,
            "std_error": m.std_error,
            "loo": m.loo,
            "reward_share": m.reward_share,
            "reward": m.reward,
            "premium": m.premium,
        }
        for m in section.members
    )
    note = section.raw.get("loo_note")
    evs = section.exact_vs_sampled
    return ContributionView(
        method=section.method,
        utility_metric=section.utility_metric,
        rows=rows,
        loo_note=note if isinstance(note, str) else None,
        total_value=as_float(section.raw.get("total_value")),
        exact_vs_sampled=evs if isinstance(evs, Mapping) else None,
    )


def _audit_from_section(raw: Mapping[str, Any]) -> AuditView | Absent:
    ok = raw.get("ok", raw.get("verified"))
    if not isinstance(ok, bool):
        return Absent("The audit section does not say whether the trail verified (no 'ok' field).", error=True)
    n = raw.get("n_records", raw.get("records"))
    summary = raw.get("summary") or raw.get("reason") or ("the trail verified" if ok else "the trail did not verify")
    extras = [
        f"{label} {raw[key]}"
        for key, label in (
            ("countersignatures", "member countersignatures:"),
            ("artifacts_checked", "artifact files checked:"),
            ("merkle_root", "Merkle root"),
            ("verify_command", "re-check with:"),
        )
        if raw.get(key) not in (None, "")
    ]
    return AuditView(
        ok=ok,
        summary="; ".join([str(summary), *extras]),
        n_records=n if isinstance(n, int) and not isinstance(n, bool) else None,
        source="as recorded by the run in results.json",
    )


def _audit_from_log(log: Path) -> AuditView | Absent:
    try:
        from fedrisk.audit.verify import verify_log
    except ImportError as err:  # the audit package is optional for the report
        return Absent(f"An audit log exists ({log.name}) but the verifier could not be loaded: {err}", error=True)
    rep = verify_log(log)
    return AuditView(
        ok=rep.ok, summary=rep.summary(), n_records=rep.n_records, source=f"verified now from {log.name} (offline)"
    )


def read_audit(results: Mapping[str, Any], run_dir: Path) -> AuditView | Absent:
    """Audit status: a fresh offline check of the run's audit log when it is there, else the ``audit`` section."""
    raw = results.get("audit")
    named = raw.get("log") if isinstance(raw, Mapping) else None
    log = run_dir / (named if isinstance(named, str) and named else "audit.jsonl")
    if log.is_file():  # a fresh check also catches tampering since the run recorded its verdict
        return _audit_from_log(log)
    if isinstance(raw, Mapping):
        return _audit_from_section(raw)
    return Absent(
        "This run has no audit trail: no 'audit' section in results.json and no audit.jsonl in the run "
        "directory (a run made before the audit trail, or copied without it), so nothing here can be "
        "verified (docs/audit.md)."
    )


def _attack_rows(raw: object) -> list[Mapping[str, Any]]:
    if isinstance(raw, Mapping) and isinstance(raw.get("stress_model"), Mapping) and "rows" in raw["stress_model"]:
        raw = raw["stress_model"]  # redteam schema 2: the attacks on the run's own stress model
    if isinstance(raw, Mapping):
        for key in ("results", "attacks", "rows"):
            if isinstance(raw.get(key), list):
                raw = raw[key]
                break
    return [r for r in as_list(raw) if isinstance(r, Mapping)]


def read_attacks(results: Mapping[str, Any]) -> TableView | Absent:
    """Red-team results: ``attacks`` (or ``redteam``) as a list of row objects, shown as they are."""
    raw = results.get("attacks", results.get("redteam"))
    if raw is None:
        return Absent(
            "This run has no attack results: the red-team suite (membership inference, gradient inversion, "
            "poisoning, free-riding, ...) has not been run against it, so no claim about resisting attacks "
            "can be made from this report."
        )
    rows = _attack_rows(raw)
    if not rows:
        return Absent("The attack section holds no result rows.", error=True)
    columns: list[str] = []
    for r in rows:
        columns += [str(k) for k in r if str(k) not in columns]
    note = raw.get("note") if isinstance(raw, Mapping) else None
    return TableView(
        columns=tuple(columns),
        rows=tuple(tuple(r.get(c) for c in columns) for r in rows),
        note=note if isinstance(note, str) else None,
    )


def read_governance_members(results: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    """Members with tier and status from a ``governance`` section, else the stress members with unknown tier."""
    gov = as_list(as_mapping(results.get("governance")).get("members"))
    rows = [as_mapping(r) for r in gov if isinstance(as_mapping(r).get("member", as_mapping(r).get("id")), str)]
    if rows:
        return tuple(
            {"member": r.get("member", r.get("id")), "tier": r.get("tier"), "status": r.get("status")} for r in rows
        )
    stress_members = as_list(as_mapping(results.get("stress")).get("members"))
    return tuple(
        {"member": r["member"], "tier": None, "status": "member"}
        for r in map(as_mapping, stress_members)
        if isinstance(r.get("member"), str)
    )


def cohort_ok(n: int) -> bool:
    """Whether a per-member aggregate over ``n`` members may be released (``MIN_COHORT``)."""
    return n >= MIN_COHORT
