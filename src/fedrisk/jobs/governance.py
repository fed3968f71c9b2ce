"""The ``governance`` section of ``fedrisk demo``: the federation's rules and its state, from a store.

The demo runs under a constitution (the bundled ``examples/demo-constitution.toml`` by default, or
``fedrisk demo --constitution FILE``): it is loaded and checked before anything trains, and the stress job's
members are its update-contributing members (``--quick``: those of the four quick members it lists).

After the stress federation, every Flower round of its main job (``federated``) is recorded in a coordinator
store in the run directory (``governance/coordinator.db``, SQLite) through the governance
:class:`~fedrisk.governance.Coordinator` itself: each round is opened, moved ``scheduled → running →
aggregating → committed`` (or ``failed``) with the quorum rules, contributions and the reward split of the
constitution. The rounds are recorded from the job's round history when the job has ended (the stress job runs
all its jobs in one simulation; the store is not written from inside Flower's round loop), so the store's
timestamps are those of the recording, and each round's result digest is the SHA-256 of its audit-record content
(the members' update hashes). A member's contribution score in a round is its share of the training hours of
the members whose updates the round aggregated.

The section (``results.json`` → ``governance``) holds the constitution's identity and check, the members with
tier, status, rights and rewards, every round with its state, and the privacy budget: the stress rounds run
without DP and charge no ε; where the demo's privacy section ran, the largest ε any member spent in each of its
DP jobs is checked against the constitution's budget.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fedrisk.errors import ConfigError, RoundFailedError
from fedrisk.governance.constitution import Constitution
from fedrisk.governance.constitution_loader import load_constitution, parse_constitution
from fedrisk.governance.coordinator import Coordinator, RoundContext, RoundOutcome
from fedrisk.governance.demo_constitution import DEMO_CONSTITUTION_TOML
from fedrisk.governance.sql_store import SqlStore
from fedrisk.governance.status import federation_status
from fedrisk.governance.store_factory import state_url
from fedrisk.jobs.stress_config import QUICK_MEMBERS

STORE_DIR = "governance"
MAIN_JOB = "federated"


@dataclass(frozen=True, slots=True)
class DemoConstitution:
    """A checked constitution with where it came from and the SHA-256 of its text."""

    rules: Constitution
    source: str
    sha256: str


def load_demo_constitution(path: Path | None) -> DemoConstitution:
    """Load and check ``path``, or the bundled demo constitution; raise :class:`ConfigError` listing every issue."""
    if path is not None:
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        rules = load_constitution(path)
        return DemoConstitution(rules, str(path), hashlib.sha256(text.encode()).hexdigest())
    rules_or_none, issues = parse_constitution(DEMO_CONSTITUTION_TOML)
    if rules_or_none is None:  # the bundled file is checked by the tests; this is a packaging error
        raise ConfigError("the bundled demo constitution is invalid: " + "; ".join(map(str, issues)))
    digest = hashlib.sha256(DEMO_CONSTITUTION_TOML.encode()).hexdigest()
    return DemoConstitution(rules_or_none, "bundled examples/demo-constitution.toml", digest)


def demo_members(rules: Constitution, *, quick: bool) -> tuple[str, ...]:
    """The stress job's members: founding members whose tier contributes updates (quick: the quick ones)."""
    trainers = tuple(m.id for m in rules.members if rules.tiers[m.tier].contributes_updates)
    chosen = tuple(m for m in QUICK_MEMBERS if m in trainers) if quick else trainers
    if len(chosen) < rules.quorum.min_members:
        raise ConfigError(
            f"the constitution's update-contributing members {list(chosen)} are fewer than its quorum "
            f"({rules.quorum.min_members}){' in --quick' if quick else ''}: add full members or lower the quorum"
        )
    return chosen


def _for_run(rules: Constitution, members: tuple[str, ...]) -> Constitution:
    return replace(rules, members=tuple(m for m in rules.members if m.id in members))


def _digest(job: str, rnd: dict[str, Any]) -> str:
    claims = {m: c.get("sha256") for m, c in sorted(dict(rnd.get("claims") or {}).items())}
    payload = json.dumps({"job": job, "round": rnd["round"], "claims": claims}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _replay_runner(history: list[dict[str, Any]], hours: dict[str, float]) -> Any:
    rounds = iter(history)

    def run(ctx: RoundContext) -> RoundOutcome:
        rnd = next(rounds)
        if rnd.get("status") != "committed":
            raise RoundFailedError(f"Flower round {rnd['round']}: fewer than 3 valid replies, nothing aggregated")
        ctx.mark_aggregating()
        contributors = sorted(dict(rnd.get("claims") or {}))
        total = sum(hours.get(m, 0.0) for m in contributors)
        shares = {m: hours.get(m, 0.0) / total for m in contributors} if total else {}
        return RoundOutcome(_digest(MAIN_JOB, rnd), shares, {"val_loss": float(rnd.get("val_loss") or 0.0)})

    return run


def _privacy_check(rules: Constitution, privacy: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not privacy:
        return []
    rows = []
    for entry in privacy.get("curve", []):
        if entry.get("target_epsilon") is None:
            continue
        spent = [v for v in dict(entry.get("epsilon_spent") or {}).values() if v is not None]
        worst = max(spent) if spent else None
        rows.append(
            {
                "target_epsilon": entry["target_epsilon"],
                "max_member_epsilon": worst,
                "within_budget": worst is not None and worst <= rules.privacy.epsilon_budget + 1e-9,
            }
        )
    return rows


def run_governance_section(
    constitution: DemoConstitution,
    stress: dict[str, Any],
    out_dir: Path,
    *,
    privacy: dict[str, Any] | None = None,
    audit_rounds: dict[tuple[str, int], int] | None = None,
) -> dict[str, Any]:
    """Record the main job's rounds in the run's store and return the ``governance`` section (see module doc)."""
    started = time.perf_counter()
    job = stress["federation"]["jobs"][MAIN_JOB]
    members = tuple(job["cohort"])
    rules = _for_run(constitution.rules, members)
    hours = {r["member"]: float(r.get("train_hours") or 0.0) for r in stress.get("members", [])}
    store = SqlStore(state_url(out_dir / STORE_DIR))
    try:
        coordinator = Coordinator(rules, store, _replay_runner(job["history"], hours))
        coordinator.recover()
        for rnd in job["history"]:
            now = datetime.now(UTC)
            coordinator.run_round(
                slot=f"demo:{out_dir.name}:{MAIN_JOB}:{rnd['round']}", trigger="manual", scheduled_for=now
            )
        status = federation_status(store, rules, now=datetime.now(UTC), last_rounds=len(job["history"]))
        contributions = [
            {"round_id": e.round_id, "member": e.member_id, "score": round(e.score, 6)}
            for e in store.contribution_entries()
        ]
    finally:
        store.close()
    rounds: list[dict[str, Any]] = list(status["rounds"])  # type: ignore[call-overload]
    member_rows: list[dict[str, Any]] = list(status["members"])  # type: ignore[call-overload]
    for rec, rnd in zip(rounds, job["history"], strict=True):
        rec["flower_round"] = rnd["round"]
        rec["audit_seq"] = (audit_rounds or {}).get((MAIN_JOB, rnd["round"]))
    p = rules.privacy
    return {
        "constitution": {
            "source": constitution.source,
            "sha256": constitution.sha256,
            "name": rules.name,
            "version": rules.version,
            "valid": True,
            "issues": [],
        },
        "store": f"{STORE_DIR}/coordinator.db",
        "job": MAIN_JOB,
        "rules": {
            "schedule": {"cron": rules.schedule.cron, "timezone": rules.schedule.timezone},
            "aggregation": rules.aggregation_mode,
            "quorum": {"min_members": rules.quorum.min_members, "min_cohort": rules.quorum.min_cohort},
            "rewards": {
                "pool_per_round": rules.rewards.pool_per_round,
                "currency": rules.rewards.currency,
                "split_rule": rules.rewards.split_rule,
            },
            "exit": {"notice_rounds": rules.exit.notice_rounds, "past_contributions": rules.exit.past_contributions},
            "tiers": {name: asdict(t) for name, t in rules.tiers.items()},
        },
        "members": member_rows,
        "round_counts": status["round_counts"],
        "rounds": rounds,
        "contributions": contributions,
        "privacy": {
            "mode": p.mode,
            "epsilon_budget": p.epsilon_budget,
            "delta": p.delta,
            "budget_period": p.budget_period,
            "epsilon_charged_by_rounds": sum(float(m["epsilon_spent"]) for m in member_rows),
            "privacy_section": _privacy_check(rules, privacy),
        },
        "timings_s": {"total": round(time.perf_counter() - started, 3)},
    }


__all__ = ["STORE_DIR", "DemoConstitution", "demo_members", "load_demo_constitution", "run_governance_section"]
