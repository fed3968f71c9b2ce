"""Round schedule: cron fire times in the federation's time zone (``croniter``), missed rounds.

Fire times are computed in the constitution's IANA time zone, so "every Wednesday 02:00
Europe/London" is 02:00 GMT in winter and 02:00 BST in summer; they are returned as aware UTC
datetimes for storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from fedrisk.governance.constitution import BudgetPeriod, Schedule
from fedrisk.governance.store import utc

MAX_MISSED_SCAN = 10_000
"""Stop counting missed fire times after this many (a per-second cron after a long outage)."""

ON_TIME_GRACE = timedelta(seconds=60)
"""A slot started within this delay of its fire time is on time; later it is a catch-up."""


def next_fire(schedule: Schedule, after: datetime) -> datetime:
    """Return the first fire time strictly after ``after``, as aware UTC.

    >>> from datetime import UTC
    >>> s = Schedule(cron="0 2 * * wed", timezone="Europe/London")
    >>> next_fire(s, datetime(2024, 3, 28, tzinfo=UTC)).isoformat()  # BST from 31 March
    '2024-04-03T01:00:00+00:00'
    """
    tz = ZoneInfo(schedule.timezone)
    it = croniter(schedule.cron, utc(after).astimezone(tz))
    return utc(it.get_next(datetime))


def fire_times(schedule: Schedule, after: datetime, until: datetime, *, limit: int = MAX_MISSED_SCAN) -> list[datetime]:
    """Return fire times in ``(after, until]`` (at most ``limit`` of them, the earliest)."""
    tz = ZoneInfo(schedule.timezone)
    it = croniter(schedule.cron, utc(after).astimezone(tz))
    out: list[datetime] = []
    while len(out) < limit:
        moment = utc(it.get_next(datetime))
        if moment > utc(until):
            break
        out.append(moment)
    return out


def slot_key(fire_time: datetime) -> str:
    """Return the unique slot name of a scheduled fire time (a slot runs at most once)."""
    return "schedule:" + utc(fire_time).isoformat()


@dataclass(frozen=True, slots=True)
class DuePlan:
    """What to do now: the slot to run (if any) and the slots given up."""

    run: datetime | None
    on_time: bool
    skipped: tuple[datetime, ...]


def plan_due(schedule: Schedule, *, last: datetime, now: datetime) -> DuePlan:
    """Decide which due slot to run, given the last slot handled and the missed-round policy.

    Only the latest due slot can run: an on-time slot always runs, a late one runs under
    ``run-once`` (as one catch-up round) and is skipped under ``skip``. Older due slots are
    always given up — rounds are never replayed in bulk.
    """
    due = fire_times(schedule, last, now)
    if not due:
        return DuePlan(run=None, on_time=False, skipped=())
    latest = due[-1]
    on_time = utc(now) - latest <= ON_TIME_GRACE
    if on_time or schedule.missed_round_policy == "run-once":
        return DuePlan(run=latest, on_time=on_time, skipped=tuple(due[:-1]))
    return DuePlan(run=None, on_time=False, skipped=tuple(due))


def budget_period(moment: datetime, period: BudgetPeriod, timezone: str, *, round_id: int) -> str:
    """Return the privacy-budget period key of a round scheduled at ``moment``.

    >>> from datetime import UTC
    >>> budget_period(datetime(2024, 12, 31, 23, 30, tzinfo=UTC), "year", "Asia/Tokyo", round_id=7)
    '2025'
    >>> budget_period(datetime(2024, 5, 1, tzinfo=UTC), "quarter", "UTC", round_id=7)
    '2024-Q2'
    """
    local = utc(moment).astimezone(ZoneInfo(timezone))
    if period == "round":
        return f"round-{round_id}"
    if period == "month":
        return f"{local.year}-{local.month:02d}"
    if period == "quarter":
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    if period == "year":
        return str(local.year)
    return "lifetime"


__all__ = [
    "MAX_MISSED_SCAN",
    "ON_TIME_GRACE",
    "DuePlan",
    "budget_period",
    "fire_times",
    "next_fire",
    "plan_due",
    "slot_key",
]
