"""Parse and validate a constitution TOML file, reporting every issue at once.

>>> issues = check_constitution_text('[federation]\\nnam = "x"')
>>> issues[0].key, issues[0].fix
('federation.nam', "remove it; did you mean 'name'?")
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from fedrisk.errors import MIN_COHORT, ConfigError
from fedrisk.governance._reader import IssueCollector, Table, join
from fedrisk.governance.constitution import (
    AGGREGATION_MODES,
    BUDGET_PERIODS,
    MISSED_ROUND_POLICIES,
    PAST_CONTRIBUTIONS,
    PRIVACY_MODES,
    SPLIT_RULES,
    AggregationMode,
    AmendmentRules,
    BudgetPeriod,
    Constitution,
    ConstitutionIssue,
    ExitTerms,
    MemberSpec,
    MissedRoundPolicy,
    PastContributions,
    PrivacyMode,
    PrivacyRules,
    PromotionRule,
    QuorumRules,
    RewardRules,
    Schedule,
    SplitRule,
    TaskSpec,
    TierRights,
)

TOP_LEVEL_KEYS = (
    "federation",
    "members",
    "schedule",
    "tasks",
    "privacy",
    "aggregation",
    "quorum",
    "rewards",
    "tiers",
    "membership",
    "promotion",
    "exit",
    "amendments",
)
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
TIER_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
RIGHTS_KEYS = ("receives_model", "receives_index", "contributes_updates", "contributes_evaluations")


def _federation(c: IssueCollector, raw: Table) -> tuple[str | None, int | None]:
    tbl = c.table(raw, "federation")
    if tbl is None:
        return None, None
    c.check_keys(tbl, ("name", "version", "description"), "federation")
    version = c.integer(tbl, "version", "federation", default=1)
    c.positive(version, "federation.version", "version number")
    return c.string(tbl, "name", "federation"), version


def _member(c: IssueCollector, tbl: Table, path: str) -> MemberSpec | None:
    c.check_keys(tbl, ("id", "display_name", "organisation", "public_key", "tier", "joined"), path)
    member_id = c.string(tbl, "id", path)
    if member_id is not None and not ID_PATTERN.match(member_id):
        c.add(join(path, "id"), f"'{member_id}' is not a valid id", "use lower-case letters, digits, . _ -")
        member_id = None
    values = (
        c.string(tbl, "display_name", path),
        c.string(tbl, "organisation", path),
        c.string(tbl, "public_key", path),
        c.string(tbl, "tier", path),
    )
    joined = c.day(tbl, "joined", path)
    if member_id is None or joined is None or any(v is None for v in values):
        return None
    display_name, organisation, public_key, tier = (str(v) for v in values)
    return MemberSpec(member_id, display_name, organisation, public_key, tier, joined)


def _members(c: IssueCollector, raw: Table) -> list[MemberSpec]:
    members: list[MemberSpec] = []
    seen: dict[str, int] = {}
    for i, tbl in enumerate(c.tables(raw, "members")):
        spec = _member(c, tbl, f"members[{i}]")
        if spec is None:
            continue
        if spec.id in seen:
            c.add(
                f"members[{i}].id",
                f"duplicate member id '{spec.id}' (also members[{seen[spec.id]}])",
                "give each member a unique id",
            )
            continue
        seen[spec.id] = i
        members.append(spec)
    return members


def _schedule(c: IssueCollector, raw: Table) -> Schedule | None:
    tbl = c.table(raw, "schedule")
    if tbl is None:
        return None
    c.check_keys(tbl, ("cron", "timezone", "missed_round_policy", "round_timeout_minutes"), "schedule")
    cron = c.string(tbl, "cron", "schedule")
    if cron is not None and not croniter.is_valid(cron):
        c.add(
            "schedule.cron",
            f"'{cron}' is not a valid cron expression",
            'use "minute hour day-of-month month day-of-week", e.g. "0 2 * * wed" (Wednesdays 02:00)',
        )
        cron = None
    tz = c.string(tbl, "timezone", "schedule")
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            c.add("schedule.timezone", f"unknown time zone '{tz}'", 'use an IANA name such as "Europe/London"')
            tz = None
    policy = c.string(tbl, "missed_round_policy", "schedule", default="skip", choices=MISSED_ROUND_POLICIES)
    timeout = c.integer(tbl, "round_timeout_minutes", "schedule", default=120)
    c.positive(timeout, "schedule.round_timeout_minutes", "timeout in minutes")
    if cron is None or tz is None or policy is None or timeout is None:
        return None
    return Schedule(cron, tz, _as_policy(policy), timeout)


def _as_policy(value: str) -> MissedRoundPolicy:
    return "run-once" if value == "run-once" else "skip"


def _tasks(c: IssueCollector, raw: Table) -> list[TaskSpec]:
    tasks: list[TaskSpec] = []
    names: set[str] = set()
    for i, tbl in enumerate(c.tables(raw, "tasks")):
        path = f"tasks[{i}]"
        c.check_keys(tbl, ("name", "model", "local_epochs", "learning_rate", "batch_size"), path)
        name = c.string(tbl, "name", path)
        model = c.string(tbl, "model", path)
        epochs = c.integer(tbl, "local_epochs", path, default=1)
        lr = c.number(tbl, "learning_rate", path, default=0.01)
        batch = c.integer(tbl, "batch_size", path, default=64)
        c.positive(epochs, f"{path}.local_epochs", "number of epochs")
        c.positive(lr, f"{path}.learning_rate", "learning rate")
        c.positive(batch, f"{path}.batch_size", "batch size")
        if name is not None and name in names:
            c.add(f"{path}.name", f"duplicate task name '{name}'", "give each task a unique name")
            continue
        if name and model and epochs and epochs > 0 and lr and lr > 0 and batch and batch > 0:
            names.add(name)
            tasks.append(TaskSpec(name, model, epochs, lr, batch))
    return tasks


def _privacy(c: IssueCollector, raw: Table) -> PrivacyRules | None:
    tbl = c.table(raw, "privacy")
    if tbl is None:
        return None
    keys = ("mode", "epsilon_budget", "epsilon_per_round", "delta", "budget_period")
    c.check_keys(tbl, keys, "privacy")
    mode = c.string(tbl, "mode", "privacy", choices=PRIVACY_MODES)
    budget = c.number(tbl, "epsilon_budget", "privacy")
    per_round = c.number(tbl, "epsilon_per_round", "privacy")
    delta = c.number(tbl, "delta", "privacy")
    period = c.string(tbl, "budget_period", "privacy", default="year", choices=BUDGET_PERIODS)
    c.positive(budget, "privacy.epsilon_budget", "ε budget per member per period")
    c.positive(per_round, "privacy.epsilon_per_round", "ε spent per round")
    if delta is not None and not 0.0 < delta < 1.0:
        c.add("privacy.delta", f"must be in (0, 1), got {delta}", "use a small δ such as 1e-5 (< 1/records)")
        delta = None
    if budget and per_round and budget > 0 and 0 < budget < per_round:
        c.add(
            "privacy.epsilon_per_round",
            f"one round ({per_round}) spends more than the whole budget ({budget})",
            "lower epsilon_per_round or raise epsilon_budget",
        )
    if mode is None or budget is None or per_round is None or delta is None or period is None:
        return None
    if budget <= 0 or per_round <= 0:
        return None
    return PrivacyRules(_as_mode(mode), budget, per_round, delta, _as_period(period))


def _as_mode(value: str) -> PrivacyMode:
    return next(m for m in PRIVACY_MODES if m == value)


def _as_period(value: str) -> BudgetPeriod:
    return next(p for p in BUDGET_PERIODS if p == value)


def _aggregation(c: IssueCollector, raw: Table) -> AggregationMode | None:
    tbl = c.table(raw, "aggregation")
    if tbl is None:
        return None
    c.check_keys(tbl, ("mode",), "aggregation")
    mode = c.string(tbl, "mode", "aggregation", choices=AGGREGATION_MODES)
    return None if mode is None else next(m for m in AGGREGATION_MODES if m == mode)


def _quorum(c: IssueCollector, raw: Table, n_members: int) -> QuorumRules | None:
    tbl = c.table(raw, "quorum")
    if tbl is None:
        return None
    c.check_keys(tbl, ("min_members", "min_cohort"), "quorum")
    min_members = c.integer(tbl, "min_members", "quorum")
    min_cohort = c.integer(tbl, "min_cohort", "quorum", default=MIN_COHORT)
    if min_cohort is not None and min_cohort < MIN_COHORT:
        c.add(
            "quorum.min_cohort",
            f"minimum cohort {min_cohort} is below the floor of {MIN_COHORT}",
            f"set min_cohort ≥ {MIN_COHORT}: with fewer, members can infer each other's data",
        )
        min_cohort = None
    if min_members is not None and min_members > n_members:
        c.add(
            "quorum.min_members",
            f"quorum of {min_members} is impossible with {n_members} members",
            f"set min_members ≤ {n_members} or add members",
        )
        min_members = None
    elif min_members is not None and min_cohort is not None and min_members < min_cohort:
        c.add(
            "quorum.min_members",
            f"min_members {min_members} is below min_cohort {min_cohort}",
            f"set min_members ≥ {min_cohort}",
        )
        min_members = None
    if min_members is None or min_cohort is None:
        return None
    return QuorumRules(min_members, min_cohort)


def _tier(c: IssueCollector, name: str, tbl: Table, path: str) -> TierRights | None:
    c.check_keys(tbl, RIGHTS_KEYS, path)
    flags = [c.boolean(tbl, key, path) for key in RIGHTS_KEYS]
    if not TIER_PATTERN.match(name):
        c.add(path, f"'{name}' is not a valid tier name", "use lower-case letters, digits, _ or -")
        return None
    if any(flag is None for flag in flags):
        return None
    model, index, updates, evaluations = (bool(flag) for flag in flags)
    if not (updates or evaluations):
        c.add(path, "the tier contributes nothing", "set contributes_updates or contributes_evaluations")
    return TierRights(name, model, index, updates, evaluations)


def _tiers(c: IssueCollector, raw: Table) -> dict[str, TierRights]:
    tbl = c.table(raw, "tiers")
    tiers: dict[str, TierRights] = {}
    if tbl is None:
        return tiers
    for name, value in tbl.items():
        path = join("tiers", name)
        if not isinstance(value, dict):
            c.add(path, "must be a table of rights", f"write [tiers.{name}] with {', '.join(RIGHTS_KEYS)}")
            continue
        tier = _tier(c, name, value, path)
        if tier is not None:
            tiers[name] = tier
    if not tbl:
        c.add("tiers", "no tiers defined", "define at least [tiers.full]")
    return tiers


def _check_tier(c: IssueCollector, tier: str | None, key: str, tiers: dict[str, TierRights]) -> None:
    if tier is not None and tiers and tier not in tiers:
        c.add(key, f"unknown tier '{tier}'", f"use one of the tiers defined in [tiers]: {', '.join(tiers)}")


def _rewards(c: IssueCollector, raw: Table, n_members: int, tiers: dict[str, TierRights]) -> RewardRules | None:
    tbl = c.table(raw, "rewards")
    if tbl is None:
        return None
    keys = ("pool_per_round", "currency", "split_rule", "floor", "cap", "premium")
    c.check_keys(tbl, keys, "rewards")
    pool = c.number(tbl, "pool_per_round", "rewards")
    currency = c.string(tbl, "currency", "rewards", default="USD")
    rule = c.string(tbl, "split_rule", "rewards", choices=SPLIT_RULES)
    floor = c.number(tbl, "floor", "rewards", default=0.0)
    cap = c.number(tbl, "cap", "rewards", default=1.0)
    c.non_negative(pool, "rewards.pool_per_round")
    for key, value in (("floor", floor), ("cap", cap)):
        if value is not None and not 0.0 <= value <= 1.0:
            c.add(f"rewards.{key}", f"must be a fraction in [0, 1], got {value}", "write e.g. 0.05 for 5 %")
    if floor is not None and cap is not None and floor > cap:
        c.add("rewards.floor", f"floor {floor} is above cap {cap}", "set floor ≤ cap")
    if floor is not None and n_members and floor * n_members > 1.0:
        c.add(
            "rewards.floor",
            f"a floor of {floor} for {n_members} members needs {floor * n_members:.0%} of the pool",
            f"set floor ≤ {1.0 / n_members:.4f}",
        )
    premium = _premium(c, tbl, tiers)
    if None in (pool, currency, rule, floor, cap) or _has_prefix(c, "rewards"):
        return None
    assert pool is not None and currency is not None and rule is not None
    assert floor is not None and cap is not None
    split: SplitRule = "equal" if rule == "equal" else "contribution"
    return RewardRules(pool, currency, split, floor, cap, premium)


def _premium(c: IssueCollector, tbl: Table, tiers: dict[str, TierRights]) -> dict[str, float]:
    raw = c.table(tbl, "premium", "rewards", required=False)
    premium: dict[str, float] = {}
    if raw is None:
        return premium
    for tier in raw:
        key = f"rewards.premium.{tier}"
        _check_tier(c, tier, key, tiers)
        factor = c.number(raw, tier, "rewards.premium")
        c.positive(factor, key, "premium factor")
        if factor is not None and factor > 0:
            premium[tier] = factor
    return premium


def _has_prefix(c: IssueCollector, prefix: str) -> bool:
    return any(issue.key.startswith(prefix) for issue in c.issues)


def _membership(c: IssueCollector, raw: Table, tiers: dict[str, TierRights]) -> str | None:
    tbl = c.table(raw, "membership")
    if tbl is None:
        return None
    c.check_keys(tbl, ("join_tier",), "membership")
    tier = c.string(tbl, "join_tier", "membership")
    _check_tier(c, tier, "membership.join_tier", tiers)
    return tier


def _promotion(c: IssueCollector, raw: Table, tiers: dict[str, TierRights]) -> PromotionRule | None:
    tbl = c.table(raw, "promotion")
    if tbl is None:
        return None
    keys = ("from_tier", "to_tier", "contribution_threshold", "over_rounds", "automatic")
    c.check_keys(tbl, keys, "promotion")
    src = c.string(tbl, "from_tier", "promotion")
    dst = c.string(tbl, "to_tier", "promotion")
    threshold = c.number(tbl, "contribution_threshold", "promotion")
    k = c.integer(tbl, "over_rounds", "promotion")
    automatic = c.boolean(tbl, "automatic", "promotion", default=False)
    _check_tier(c, src, "promotion.from_tier", tiers)
    _check_tier(c, dst, "promotion.to_tier", tiers)
    if src is not None and src == dst:
        c.add("promotion.to_tier", "promotes a tier to itself", "set to_tier to a different tier")
    c.non_negative(threshold, "promotion.contribution_threshold")
    c.positive(k, "promotion.over_rounds", "number of rounds k")
    if None in (src, dst, threshold, k, automatic) or _has_prefix(c, "promotion"):
        return None
    return PromotionRule(str(src), str(dst), float(threshold or 0.0), int(k or 0), bool(automatic))


def _exit(c: IssueCollector, raw: Table) -> ExitTerms | None:
    tbl = c.table(raw, "exit")
    if tbl is None:
        return None
    c.check_keys(tbl, ("notice_rounds", "model_access_rounds_after_exit", "past_contributions"), "exit")
    notice = c.integer(tbl, "notice_rounds", "exit")
    access = c.integer(tbl, "model_access_rounds_after_exit", "exit", default=0)
    past = c.string(tbl, "past_contributions", "exit", choices=PAST_CONTRIBUTIONS)
    c.non_negative(notice, "exit.notice_rounds")
    c.non_negative(access, "exit.model_access_rounds_after_exit")
    if notice is None or access is None or past is None or notice < 0 or access < 0:
        return None
    value: PastContributions = next(p for p in PAST_CONTRIBUTIONS if p == past)
    return ExitTerms(notice, access, value)


def _amendments(c: IssueCollector, raw: Table) -> AmendmentRules | None:
    tbl = c.table(raw, "amendments")
    if tbl is None:
        return None
    c.check_keys(tbl, ("supermajority", "notice_days"), "amendments")
    majority = c.number(tbl, "supermajority", "amendments")
    notice = c.integer(tbl, "notice_days", "amendments", default=14)
    if majority is not None and not 0.5 < majority <= 1.0:
        c.add(
            "amendments.supermajority",
            f"must be in (0.5, 1], got {majority}",
            "use a fraction of members above one half, e.g. 0.67",
        )
        majority = None
    c.non_negative(notice, "amendments.notice_days")
    if majority is None or notice is None or notice < 0:
        return None
    return AmendmentRules(majority, notice)


def _build(raw: Table) -> tuple[Constitution | None, list[ConstitutionIssue]]:
    c = IssueCollector()
    c.check_keys(raw, TOP_LEVEL_KEYS, "")
    name, version = _federation(c, raw)
    members = _members(c, raw)
    schedule = _schedule(c, raw)
    tasks = _tasks(c, raw)
    privacy = _privacy(c, raw)
    aggregation = _aggregation(c, raw)
    quorum = _quorum(c, raw, len(members))
    tiers = _tiers(c, raw)
    for i, member in enumerate(members):
        _check_tier(c, member.tier, f"members[{i}].tier", tiers)
    rewards = _rewards(c, raw, len(members), tiers)
    join_tier = _membership(c, raw, tiers)
    promotion = _promotion(c, raw, tiers)
    exit_terms = _exit(c, raw)
    amendments = _amendments(c, raw)
    if c.issues:
        return None, c.issues
    assert name and version and schedule and privacy and aggregation and quorum and rewards
    assert join_tier and promotion and exit_terms and amendments
    constitution = Constitution(
        name=name,
        version=version,
        members=tuple(members),
        schedule=schedule,
        tasks=tuple(tasks),
        privacy=privacy,
        aggregation_mode=aggregation,
        quorum=quorum,
        rewards=rewards,
        tiers=tiers,
        join_tier=join_tier,
        promotion=promotion,
        exit=exit_terms,
        amendments=amendments,
    )
    return constitution, []


def check_constitution_text(text: str) -> list[ConstitutionIssue]:
    """Return every issue in the constitution ``text`` (empty when valid)."""
    return parse_constitution(text)[1]


def parse_constitution(text: str) -> tuple[Constitution | None, list[ConstitutionIssue]]:
    """Parse TOML ``text``; return the constitution (``None`` if invalid) and all issues found."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        return None, [ConstitutionIssue("<file>", f"not valid TOML: {err}", "fix the TOML syntax at that line")]
    return _build(raw)


def check_constitution(path: Path) -> list[ConstitutionIssue]:
    """Return every issue in the constitution file ``path`` (empty when valid)."""
    return parse_constitution(_read(path))[1]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"constitution file {path} not found: pass an existing file") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read constitution file {path}: {err}") from err


def load_constitution(path: Path) -> Constitution:
    """Load and validate ``path``.

    Raises
    ------
    ConfigError
        When the file is missing, unreadable or invalid; the message lists every issue.
    """
    constitution, issues = parse_constitution(_read(path))
    if constitution is None:
        lines = "\n".join(f"  - {issue}" for issue in issues)
        raise ConfigError(
            f"constitution {path} has {len(issues)} issue(s):\n{lines}\n"
            f"run `fedrisk constitution check {path}` for details"
        )
    return constitution


__all__ = [
    "check_constitution",
    "check_constitution_text",
    "load_constitution",
    "parse_constitution",
]
