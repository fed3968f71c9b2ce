"""Membership lifecycle — join, promote, suspend, reinstate, exit — under the constitution's rules.

Every operation checks all of its input first and then makes exactly one store write, so bad
input changes nothing (the store's writes are atomic).

Statuses::

    active ──suspend──► suspended ──reinstate──► active
    active ──exit──► exiting (serves notice_rounds more rounds) ──► exited
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date

from fedrisk.errors import GovernanceError
from fedrisk.governance.constitution import Constitution, MemberSpec
from fedrisk.governance.store import CoordinatorStore, MemberRecord, MemberStatus

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def _require(store: CoordinatorStore, member_id: str) -> MemberRecord:
    member = store.get_member(member_id)
    if member is None:
        raise GovernanceError(f"member '{member_id}' is not registered: check the id with `fedrisk status`")
    return member


def record_from_spec(spec: MemberSpec) -> MemberRecord:
    """Return the initial record of a founding member."""
    return MemberRecord(
        spec.id, spec.display_name, spec.organisation, spec.public_key, spec.tier, "active", spec.joined
    )


def seed_members(store: CoordinatorStore, constitution: Constitution) -> list[MemberRecord]:
    """Register founding members that are not in the store yet; return those added.

    Members already in the store keep their recorded tier and status (the store is the source
    of truth once the federation runs).
    """
    added = []
    for spec in constitution.members:
        if store.get_member(spec.id) is None:
            record = record_from_spec(spec)
            store.add_member(record)
            added.append(record)
    return added


def join_member(
    store: CoordinatorStore,
    constitution: Constitution,
    *,
    member_id: str,
    display_name: str,
    organisation: str,
    public_key: str,
    joined: date,
    tier: str | None = None,
) -> MemberRecord:
    """Admit a new member at ``tier`` (default: the constitution's ``membership.join_tier``)."""
    tier = tier or constitution.join_tier
    problems = []
    if not _ID.match(member_id):
        problems.append(f"id '{member_id}' is invalid (lower-case letters, digits, . _ -)")
    if tier not in constitution.tiers:
        problems.append(f"tier '{tier}' is not defined (use one of {', '.join(constitution.tiers)})")
    for name, value in (
        ("display name", display_name),
        ("organisation", organisation),
        ("public key", public_key),
    ):
        if not value.strip():
            problems.append(f"{name} is empty")
    if store.get_member(member_id) is not None:
        problems.append(f"member '{member_id}' already exists")
    if problems:
        raise GovernanceError("cannot join: " + "; ".join(problems))
    record = MemberRecord(member_id, display_name, organisation, public_key, tier, "active", joined)
    store.add_member(record)
    return record


@dataclass(frozen=True, slots=True)
class PromotionCheck:
    """Whether a member meets the promotion rule, and why."""

    eligible: bool
    qualifying_rounds: int
    needed_rounds: int
    reason: str


def check_promotion(store: CoordinatorStore, constitution: Constitution, member_id: str) -> PromotionCheck:
    """Apply the promotion rule: a score ≥ threshold in each of the member's last k committed rounds."""
    member = _require(store, member_id)
    rule = constitution.promotion
    if member.status != "active":
        return PromotionCheck(False, 0, rule.over_rounds, f"member is {member.status}, not active")
    if member.tier != rule.from_tier:
        return PromotionCheck(False, 0, rule.over_rounds, f"member is on tier '{member.tier}', not '{rule.from_tier}'")
    committed = {r.round_id for r in store.list_rounds() if r.state == "committed"}
    scores = [e.score for e in store.contribution_entries(member_id) if e.round_id in committed]
    last_k = scores[-rule.over_rounds :]
    qualifying = sum(1 for s in last_k if s >= rule.contribution_threshold)
    if len(last_k) == rule.over_rounds and qualifying == rule.over_rounds:
        return PromotionCheck(True, qualifying, rule.over_rounds, "meets the rule")
    reason = (
        f"{qualifying} of the last {rule.over_rounds} rounds reached the contribution threshold "
        f"{rule.contribution_threshold} ({len(scores)} rounds taken part in)"
    )
    return PromotionCheck(False, qualifying, rule.over_rounds, reason)


def promote_member(
    store: CoordinatorStore, constitution: Constitution, member_id: str, *, override: bool = False
) -> MemberRecord:
    """Promote ``member_id`` to the rule's ``to_tier``.

    ``override=True`` skips the contribution test (for a promotion voted under the amendment
    rules) but never the tier and status checks.
    """
    member = _require(store, member_id)
    rule = constitution.promotion
    check = check_promotion(store, constitution, member_id)
    structural = member.status != "active" or member.tier != rule.from_tier
    if not check.eligible and (structural or not override):
        raise GovernanceError(f"cannot promote '{member_id}' to '{rule.to_tier}': {check.reason}")
    promoted = dataclasses.replace(member, tier=rule.to_tier)
    store.update_member(promoted)
    return promoted


def suspend_member(store: CoordinatorStore, member_id: str) -> MemberRecord:
    """Suspend an active or exiting member: no rights, no participation, until reinstated."""
    member = _require(store, member_id)
    if member.status not in ("active", "exiting"):
        raise GovernanceError(f"cannot suspend '{member_id}': it is {member.status}")
    suspended = dataclasses.replace(member, status="suspended")
    store.update_member(suspended)
    return suspended


def reinstate_member(store: CoordinatorStore, member_id: str) -> MemberRecord:
    """Reinstate a suspended member as active."""
    member = _require(store, member_id)
    if member.status != "suspended":
        raise GovernanceError(f"cannot reinstate '{member_id}': it is {member.status}, not suspended")
    active = dataclasses.replace(member, status="active", exit_after_round=None)
    store.update_member(active)
    return active


def exit_member(store: CoordinatorStore, constitution: Constitution, member_id: str) -> MemberRecord:
    """Give notice: the member takes part in ``exit.notice_rounds`` more rounds, then is exited."""
    member = _require(store, member_id)
    if member.status in ("exiting", "exited"):
        raise GovernanceError(f"'{member_id}' is already {member.status}")
    last_round = max((r.round_id for r in store.list_rounds()), default=0)
    notice = constitution.exit.notice_rounds
    status: MemberStatus = "exiting" if notice > 0 else "exited"
    leaving = dataclasses.replace(member, status=status, exit_after_round=last_round + notice)
    store.update_member(leaving)
    return leaving


def apply_due_exits(store: CoordinatorStore, next_round_id: int) -> list[MemberRecord]:
    """Mark ``exited`` every exiting member whose notice ends before round ``next_round_id``."""
    done = []
    for member in store.list_members():
        due = member.exit_after_round is not None and member.exit_after_round < next_round_id
        if member.status == "exiting" and due:
            exited = dataclasses.replace(member, status="exited")
            store.update_member(exited)
            done.append(exited)
    return done


__all__ = [
    "PromotionCheck",
    "apply_due_exits",
    "check_promotion",
    "exit_member",
    "join_member",
    "promote_member",
    "record_from_spec",
    "reinstate_member",
    "seed_members",
    "suspend_member",
]
