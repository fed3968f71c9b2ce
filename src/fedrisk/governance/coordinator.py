"""The scheduled coordinator: opens rounds on the cron schedule, runs them, commits or fails them.

The federated computation itself is pluggable: a :data:`RoundRunner` is any callable
``(RoundContext) -> RoundOutcome``. The real one is :class:`fedrisk.governance.stress_runner.StressRoundRunner`
(``--runner stress``); :func:`builtin_runner` is a small deterministic *synthetic* stand-in (``--runner
synthetic``) so the coordinator can be tested without training anything.

Restart policy: an interrupted round is **failed, not resumed**. On start,
:meth:`Coordinator.recover` marks every round left in ``scheduled``/``running``/``aggregating``
failed (the runner's in-memory state died with the process, and nothing of the round was
committed, because a commit is one transaction). The slot is not retried; the next slot runs as
scheduled (or a catch-up runs under ``missed_round_policy = "run-once"``).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fedrisk.errors import MIN_COHORT, FedriskError, GovernanceError, QuorumError
from fedrisk.governance.constitution import Constitution
from fedrisk.governance.membership import apply_due_exits, check_promotion, promote_member, seed_members
from fedrisk.governance.rewards import split_rewards
from fedrisk.governance.rights import Rights, rights
from fedrisk.governance.schedule import budget_period, next_fire, plan_due, slot_key
from fedrisk.governance.store import (
    ContributionEntry,
    CoordinatorStore,
    PrivacyEntry,
    RewardEntry,
    RoundCommit,
    RoundRecord,
    RoundTrigger,
    utc,
)

ANCHOR_KEY = "schedule_anchor"
INTERRUPTED = "interrupted: the coordinator stopped mid-round; failed on restart (rounds are not resumed)"


@dataclass(frozen=True, slots=True)
class Participant:
    """A member taking part in a round, with the rights its tier gives it."""

    member_id: str
    tier: str
    rights: Rights


@dataclass(frozen=True, slots=True)
class RoundContext:
    """Everything a runner needs for one round.

    Call :attr:`mark_aggregating` when local training is done and aggregation starts, so the
    store shows the right state (the coordinator does it after the runner returns otherwise).
    """

    round_id: int
    scheduled_for: datetime
    trigger: RoundTrigger
    participants: tuple[Participant, ...]
    constitution: Constitution
    mark_aggregating: Callable[[], None]

    @property
    def update_contributors(self) -> tuple[str, ...]:
        """Members whose model updates are aggregated (full-tier rights)."""
        return tuple(p.member_id for p in self.participants if p.rights.contributes_updates)


@dataclass(frozen=True, slots=True)
class RoundOutcome:
    """What a runner returns: a digest of the released result and each member's contribution."""

    result_digest: str
    contributions: Mapping[str, float]
    metrics: Mapping[str, float] = field(default_factory=dict)


RoundRunner = Callable[[RoundContext], RoundOutcome]
"""A federated round: ``(RoundContext) -> RoundOutcome``; raise to fail the round."""


def _member_value(member_id: str, round_id: int) -> float:
    digest = hashlib.sha256(f"{member_id}:{round_id}".encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF


def builtin_runner(ctx: RoundContext) -> RoundOutcome:
    """A deterministic stand-in round: the mean of one hashed value per contributor.

    Each update contributor's "update" is a number derived from its id and the round id; the
    "model" is their mean; a member's contribution is its share of the sum. Evaluation-only
    members get a fixed evaluation score of 0.1.
    """
    values = {m: _member_value(m, ctx.round_id) for m in ctx.update_contributors}
    ctx.mark_aggregating()
    total = sum(values.values())
    mean = total / len(values) if values else 0.0
    contributions = {p.member_id: 0.1 for p in ctx.participants if not p.rights.contributes_updates}
    contributions.update({m: v / total for m, v in values.items()} if total else {})
    payload = json.dumps({"round": ctx.round_id, "members": sorted(values), "mean": round(mean, 12)})
    return RoundOutcome(hashlib.sha256(payload.encode()).hexdigest(), contributions, {"mean": mean})


def make_builtin_runner(*, delay_s: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> RoundRunner:
    """Return :func:`builtin_runner` that first sleeps ``delay_s`` seconds while ``running``.

    The delay makes a round last long enough to kill the process mid-round in tests.
    """

    def run(ctx: RoundContext) -> RoundOutcome:
        if delay_s > 0:
            sleep(delay_s)
        return builtin_runner(ctx)

    return run


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """Rounds failed on restart and how long recovery took."""

    failed_round_ids: tuple[int, ...]
    seconds: float


def utc_now() -> datetime:
    """Return the current time as aware UTC."""
    return datetime.now(UTC)


class Coordinator:
    """Runs the federation's rounds from a constitution against a store.

    Parameters
    ----------
    constitution, store:
        The rules and the state.
    runner:
        The round computation (see :data:`RoundRunner`): the real one is
        :class:`fedrisk.governance.stress_runner.StressRoundRunner`; :func:`builtin_runner` is a synthetic
        stand-in for tests and dry runs (it trains nothing).
    clock, sleep:
        Injected for tests; default to wall-clock time.
    log:
        Receives one line per event (round opened, committed, failed, skipped ...).
    """

    def __init__(
        self,
        constitution: Constitution,
        store: CoordinatorStore,
        runner: RoundRunner,
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.constitution = constitution
        self.store = store
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.log = log

    # --- start-up --------------------------------------------------------------------------
    def recover(self) -> RecoveryReport:
        """Fail every unfinished round (see the module docstring) and seed founding members."""
        start = time.perf_counter()
        failed = self.store.fail_unfinished(now=self.clock(), reason=INTERRUPTED)
        seed_members(self.store, self.constitution)
        if self.store.get_meta(ANCHOR_KEY) is None:
            self.store.set_meta(ANCHOR_KEY, utc(self.clock()).isoformat())
        report = RecoveryReport(tuple(r.round_id for r in failed), time.perf_counter() - start)
        for r in failed:
            self.log(f"recovered: round {r.round_id} ({r.slot}) marked failed")
        self.log(f"recovery done in {report.seconds * 1000:.1f} ms, {len(failed)} round(s) failed")
        return report

    # --- participation ---------------------------------------------------------------------
    def _next_round_id(self) -> int:
        return max((r.round_id for r in self.store.list_rounds()), default=0) + 1

    def eligible(self, scheduled_for: datetime, round_id: int) -> tuple[list[Participant], dict[str, str]]:
        """Return the participants of a round and, for each member left out, why."""
        c = self.constitution
        chosen: list[Participant] = []
        excluded: dict[str, str] = {}
        for member in self.store.list_members():
            member_rights = rights(member, c.tiers)
            if not member_rights.takes_part:
                excluded[member.id] = f"status {member.status}"
                continue
            if member_rights.contributes_updates and c.privacy.mode != "none":
                period = budget_period(scheduled_for, c.privacy.budget_period, c.schedule.timezone, round_id=round_id)
                spent = self.store.privacy_spent(member.id, period)
                if spent + c.privacy.epsilon_per_round > c.privacy.epsilon_budget + 1e-12:
                    excluded[member.id] = f"privacy budget: spent ε={spent:g} of {c.privacy.epsilon_budget:g}"
                    continue
            chosen.append(Participant(member.id, member.tier, member_rights))
        return chosen, excluded

    def _check_quorum(self, participants: list[Participant]) -> None:
        q = self.constitution.quorum
        updaters = sum(1 for p in participants if p.rights.contributes_updates)
        if len(participants) < q.min_members:
            raise QuorumError(f"{len(participants)} eligible members, quorum is {q.min_members}")
        cohort = max(q.min_cohort, MIN_COHORT)
        if updaters < cohort:
            raise QuorumError(f"{updaters} members contribute updates, the minimum cohort is {cohort}")

    # --- one round -------------------------------------------------------------------------
    def run_round(self, *, slot: str, trigger: RoundTrigger, scheduled_for: datetime) -> RoundRecord:
        """Open, run and commit (or fail) one round; never raises for a failed round."""
        next_id = self._next_round_id()
        for member in apply_due_exits(self.store, next_id):
            self.log(f"member {member.id} exited (notice served)")
        participants, excluded = self.eligible(scheduled_for, next_id)
        record = self.store.open_round(
            slot=slot,
            trigger=trigger,
            scheduled_for=scheduled_for,
            participants=tuple(p.member_id for p in participants),
            now=self.clock(),
        )
        self.log(f"round {record.round_id} opened ({slot}, {trigger}), {len(participants)} participants")
        for member_id, why in excluded.items():
            self.log(f"round {record.round_id}: {member_id} left out ({why})")
        try:
            self._check_quorum(participants)
            committed = self._execute(record, participants)
        except Exception as err:  # a pluggable runner may raise anything: the round fails, the loop goes on
            return self._fail(record.round_id, err)
        self._auto_promote()
        return committed

    def _fail(self, round_id: int, err: Exception) -> RoundRecord:
        kind = type(err).__name__ if isinstance(err, FedriskError) else f"runner error {type(err).__name__}"
        current = self.store.get_round(round_id)
        if current is None or current.state in ("committed", "failed"):
            raise GovernanceError(f"round {round_id} cannot be failed after: {err}") from err
        failed = self.store.transition_round(round_id, "failed", now=self.clock(), error=f"{kind}: {err}")
        self.log(f"round {round_id} failed: {kind}: {err}")
        return failed

    def _execute(self, record: RoundRecord, participants: list[Participant]) -> RoundRecord:
        round_id = record.round_id
        self.store.transition_round(round_id, "running", now=self.clock())
        state = {"aggregating": False}

        def mark_aggregating() -> None:
            if not state["aggregating"]:
                self.store.transition_round(round_id, "aggregating", now=self.clock())
                state["aggregating"] = True

        ctx = RoundContext(
            round_id,
            record.scheduled_for,
            record.trigger,
            tuple(participants),
            self.constitution,
            mark_aggregating,
        )
        outcome = self.runner(ctx)
        mark_aggregating()
        committed = self.store.commit_round(round_id, self._commit(ctx, outcome), now=self.clock())
        self.log(f"round {round_id} committed ({outcome.result_digest[:12]})")
        return committed

    def _commit(self, ctx: RoundContext, outcome: RoundOutcome) -> RoundCommit:
        c = self.constitution
        members = {p.member_id: p for p in ctx.participants}
        unknown = sorted(set(outcome.contributions) - set(members))
        if unknown:
            raise GovernanceError(f"runner reported contributions for non-participants {unknown}")
        period = budget_period(ctx.scheduled_for, c.privacy.budget_period, c.schedule.timezone, round_id=ctx.round_id)
        # Without differential privacy no ε bound holds: nothing is charged (recording ε would be a false claim).
        privacy = tuple(
            PrivacyEntry(ctx.round_id, m, c.privacy.epsilon_per_round, c.privacy.delta, period)
            for m in ctx.update_contributors
            if c.privacy.mode != "none"
        )
        scores = {m: float(outcome.contributions.get(m, 0.0)) for m in members}
        contributions = tuple(ContributionEntry(ctx.round_id, m, s) for m, s in scores.items())
        return RoundCommit(outcome.result_digest, privacy, contributions, self._rewards(ctx, scores))

    def _rewards(self, ctx: RoundContext, scores: Mapping[str, float]) -> tuple[RewardEntry, ...]:
        r = self.constitution.rewards
        tiers = {p.member_id: p.tier for p in ctx.participants}
        base = {m: (1.0 if r.split_rule == "equal" else max(s, 0.0)) for m, s in scores.items()}
        weights = {m: w * r.premium.get(tiers[m], 1.0) for m, w in base.items()}
        amounts = split_rewards(weights, pool=r.pool_per_round, floor=r.floor, cap=r.cap)
        return tuple(RewardEntry(ctx.round_id, m, a, r.currency) for m, a in amounts.items())

    def _auto_promote(self) -> None:
        if not self.constitution.promotion.automatic:
            return
        for member in self.store.list_members():
            if check_promotion(self.store, self.constitution, member.id).eligible:
                promote_member(self.store, self.constitution, member.id)
                self.log(f"member {member.id} promoted to {self.constitution.promotion.to_tier}")

    def run_now(self) -> RoundRecord:
        """Run a manual round immediately (``fedrisk round now``)."""
        now = self.clock()
        return self.run_round(slot=f"manual:{utc(now).isoformat()}", trigger="manual", scheduled_for=now)

    # --- the schedule ----------------------------------------------------------------------
    def _last_handled(self) -> datetime:
        anchor = self.store.get_meta(ANCHOR_KEY)
        times = [r.scheduled_for for r in self.store.list_rounds() if r.trigger != "manual"]
        if anchor is not None:
            times.append(datetime.fromisoformat(anchor))
        return max(times) if times else utc(self.clock())

    def run_due(self) -> RoundRecord | None:
        """Run the due slot, if any, under the missed-round policy; return the round run."""
        now = self.clock()
        plan = plan_due(self.constitution.schedule, last=self._last_handled(), now=now)
        if plan.skipped:
            policy = self.constitution.schedule.missed_round_policy
            self.log(f"{len(plan.skipped)} missed slot(s) skipped (policy {policy})")
            self.store.set_meta(ANCHOR_KEY, utc(now).isoformat())
        if plan.run is None:
            return None
        trigger: RoundTrigger = "schedule" if plan.on_time else "catch-up"
        return self.run_round(slot=slot_key(plan.run), trigger=trigger, scheduled_for=plan.run)

    def seconds_until_next(self) -> float:
        """Seconds from now to the next fire time."""
        now = self.clock()
        return max(0.0, (next_fire(self.constitution.schedule, max(now, self._last_handled())) - now).total_seconds())

    def serve(self, *, once: bool = False, stop: threading.Event | None = None, poll_s: float = 1.0) -> int:
        """Run rounds on the schedule until ``stop`` is set (or after one round if ``once``).

        Returns the number of rounds run. Call :meth:`recover` first.
        """
        stop = stop or threading.Event()
        rounds = 0
        while not stop.is_set():
            if self.run_due() is not None:
                rounds += 1
                if once:
                    break
                continue
            wait = self.seconds_until_next()
            self.sleep(min(poll_s, wait) if wait > 0 else 0.01)
        return rounds


__all__ = [
    "ANCHOR_KEY",
    "INTERRUPTED",
    "Coordinator",
    "Participant",
    "RecoveryReport",
    "RoundContext",
    "RoundOutcome",
    "RoundRunner",
    "builtin_runner",
    "make_builtin_runner",
    "utc_now",
]
