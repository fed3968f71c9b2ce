"""Per-member privacy ledger with a budget gate: ABC, in-memory and SQLite (SQLAlchemy) backends.

One :class:`LedgerEntry` per member per round per mechanism level. ε is the PLD composition (the
reported accountant) of *all* the member's entries at that level in that period, at the budget's
δ. :meth:`PrivacyLedger.check` refuses (raises :class:`~fedrisk.errors.PrivacyBudgetExhausted`) a
round that would push a member past ``epsilon_max``; :meth:`PrivacyLedger.commit` runs the same
check and then records the round, so nothing over budget is ever recorded.

Levels are accounted separately: ``"record"`` ε (DP-SGD inside a member; neighbouring datasets
differ in one record) and ``"member"`` ε (DP-FedAvg; they differ in one member's whole data) are
guarantees about different units and do not compose into one number.

Periods: the budget applies per ``(member, level, period)``; ``period`` is a free label chosen by
the caller (e.g. ``"2026-Q1"``). Resetting spend per period is honest only when the records that
the later period trains on are new (disjoint); ε over records that stay in the data keeps
composing across periods (see ``docs/privacy.md``).

Persistence: SQLite through SQLAlchemy Core (one file, ACID, readable by the CLI); the budget
policy and accountant are stored in the file at creation, and re-opening with a different policy
is refused rather than silently changing the rules.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

import sqlalchemy as sa

from fedrisk.errors import ConfigError, PrivacyBudgetExhausted
from fedrisk.privacy.accounting.analysis import (
    GaussianStep,
    epsilon_for_history,
    validate_accountant,
    validate_delta,
)

__all__ = [
    "DEFAULT_PERIOD",
    "BudgetCheck",
    "BudgetPolicy",
    "InMemoryPrivacyLedger",
    "LedgerEntry",
    "MechanismLevel",
    "MemberSpend",
    "PrivacyBudget",
    "PrivacyLedger",
    "SqlPrivacyLedger",
    "open_ledger",
    "period_label",
]

MechanismLevel = Literal["record", "member"]
LEVELS: Final[tuple[str, ...]] = ("record", "member")
DEFAULT_PERIOD: Final[str] = "all"
_SCHEMA_VERSION: Final[str] = "1"


def _level(level: str) -> MechanismLevel:
    if level == "record":
        return "record"
    if level == "member":
        return "member"
    raise ConfigError(f"mechanism level must be 'record' or 'member', got {level!r}")


def _label(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    return value


def period_label(period: str, *, when: dt.date, round: int | None = None) -> str:
    """Budget-period label for ``when`` (or ``round``), matching the constitution's ``budget_period``.

    >>> period_label("quarter", when=dt.date(2026, 5, 1))
    '2026-Q2'
    >>> period_label("lifetime", when=dt.date(2026, 5, 1))
    'all'
    """
    if period == "year":
        return f"{when.year:04d}"
    if period == "quarter":
        return f"{when.year:04d}-Q{(when.month - 1) // 3 + 1}"
    if period == "month":
        return f"{when.year:04d}-{when.month:02d}"
    if period == "lifetime":
        return DEFAULT_PERIOD
    if period == "round":
        if round is None:
            raise ConfigError("budget period 'round' needs the round number")
        return f"round-{round}"
    raise ConfigError(f"unknown budget period {period!r}: use round, month, quarter, year or lifetime")


@dataclass(frozen=True, slots=True)
class PrivacyBudget:
    """``(epsilon_max, delta)`` for one member per period.

    Raises
    ------
    ConfigError
        If ``epsilon_max`` is not a finite number > 0 or ``delta`` is not in ``(0, 1)``.
    """

    epsilon_max: float
    delta: float

    def __post_init__(self) -> None:
        """Validate both fields."""
        e = self.epsilon_max
        if isinstance(e, bool) or not isinstance(e, int | float) or not (0 < e < math.inf):
            raise ConfigError(f"budget epsilon_max must be a finite number > 0, got {e!r}")
        validate_delta(self.delta)


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """A default budget plus optional per-member overrides.

    Build it from configuration with :meth:`from_config`::

        {"epsilon_max": 8.0, "delta": 1e-5, "members": {"bank-a": {"epsilon_max": 4.0}}}
    """

    default: PrivacyBudget
    members: Mapping[str, PrivacyBudget] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Freeze the overrides mapping."""
        object.__setattr__(self, "members", MappingProxyType(dict(self.members)))

    def for_member(self, member: str) -> PrivacyBudget:
        """The budget that applies to ``member``."""
        return self.members.get(member, self.default)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BudgetPolicy:
        """Parse ``{"epsilon_max", "delta", "members": {name: {"epsilon_max"?, "delta"?}}}``.

        Raises
        ------
        ConfigError
            Naming the offending key (unknown keys are refused, not ignored).
        """
        if not isinstance(config, Mapping):
            raise ConfigError(f"privacy budget config must be a mapping, got {type(config).__name__}")
        unknown = set(config) - {"epsilon_max", "delta", "members"}
        if unknown:
            raise ConfigError(f"unknown privacy budget keys: {sorted(unknown)} (allowed: epsilon_max, delta, members)")
        for key in ("epsilon_max", "delta"):
            if key not in config:
                raise ConfigError(f"privacy budget config needs '{key}'")
        default = PrivacyBudget(config["epsilon_max"], config["delta"])
        raw_members = config.get("members", {})
        if not isinstance(raw_members, Mapping):
            raise ConfigError("privacy budget 'members' must map member names to {epsilon_max?, delta?}")
        members: dict[str, PrivacyBudget] = {}
        for name, override in raw_members.items():
            if not isinstance(override, Mapping) or set(override) - {"epsilon_max", "delta"}:
                raise ConfigError(f"privacy budget members.{name} must be a mapping with epsilon_max and/or delta")
            try:
                members[_label("member", name)] = PrivacyBudget(
                    override.get("epsilon_max", default.epsilon_max), override.get("delta", default.delta)
                )
            except ConfigError as err:
                raise ConfigError(f"privacy budget members.{name}: {err}") from err
        return cls(default, members)

    def to_config(self) -> dict[str, Any]:
        """Inverse of :meth:`from_config` (JSON-serialisable)."""
        return {
            "epsilon_max": self.default.epsilon_max,
            "delta": self.default.delta,
            "members": {m: asdict(b) for m, b in sorted(self.members.items())},
        }


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One member's privacy spend for one round at one mechanism level."""

    member: str
    round: int
    level: MechanismLevel
    noise_multiplier: float
    sample_rate: float
    steps: int
    epsilon_after: float
    delta: float
    period: str = DEFAULT_PERIOD
    accountant: str = "pld"

    @property
    def step(self) -> GaussianStep:
        """The mechanism applications this entry records."""
        return GaussianStep(self.noise_multiplier, self.sample_rate, self.steps)


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """Result of a budget check that passed."""

    member: str
    level: MechanismLevel
    period: str
    epsilon_spent: float
    epsilon_after: float
    epsilon_max: float
    delta: float

    @property
    def epsilon_remaining_after(self) -> float:
        """Budget left once the round is recorded."""
        return self.epsilon_max - self.epsilon_after


@dataclass(frozen=True, slots=True)
class MemberSpend:
    """Spend of one member at one level in one period, versus its budget."""

    member: str
    level: MechanismLevel
    period: str
    rounds: int
    epsilon_spent: float
    epsilon_max: float
    delta: float

    @property
    def fraction_used(self) -> float:
        """``epsilon_spent / epsilon_max``."""
        return self.epsilon_spent / self.epsilon_max


class PrivacyLedger(ABC):
    """Per-member privacy ledger with a budget gate (storage left to subclasses).

    Parameters
    ----------
    policy
        Budgets (``epsilon_max``, ``delta``) per member per period.
    accountant
        ``"pld"`` (default, the reported figure) or ``"rdp"``.

    Constraints
    -----------
    Subclasses implement :meth:`entries` (all stored entries matching the filters, in insertion
    order) and :meth:`_append` (store one entry durably). All budget logic lives here.
    """

    def __init__(self, policy: BudgetPolicy, *, accountant: str = "pld") -> None:
        if not isinstance(policy, BudgetPolicy):
            raise ConfigError(f"policy must be a BudgetPolicy, got {type(policy).__name__}")
        self._policy = policy
        self._accountant = validate_accountant(accountant)
        self._lock = threading.Lock()

    @property
    def policy(self) -> BudgetPolicy:
        """The budget policy in force."""
        return self._policy

    @property
    def accountant(self) -> str:
        """The accountant used for ε (``"pld"`` or ``"rdp"``)."""
        return self._accountant

    @abstractmethod
    def entries(
        self, *, member: str | None = None, level: str | None = None, period: str | None = None
    ) -> list[LedgerEntry]:
        """Stored entries matching every given filter, in insertion order."""

    @abstractmethod
    def _append(self, entry: LedgerEntry) -> None:
        """Store ``entry`` durably."""

    def members(self) -> list[str]:
        """Members with at least one entry, sorted."""
        return sorted({e.member for e in self.entries()})

    def _epsilon(self, steps: Sequence[GaussianStep], delta: float) -> float:
        return epsilon_for_history(steps, delta=delta, accountant=self._accountant)

    def spent(self, member: str, *, level: str, period: str = DEFAULT_PERIOD) -> float:
        """ε spent so far by ``member`` at ``level`` in ``period`` (at its budget's δ).

        This is the ``epsilon_after`` of the latest entry: every entry of a ledger is computed with
        the same accountant and δ (both are fixed when the ledger is created).
        """
        entries = self.entries(member=member, level=_level(level), period=period)
        return entries[-1].epsilon_after if entries else 0.0

    def check(
        self,
        member: str,
        *,
        level: str,
        noise_multiplier: float,
        sample_rate: float,
        steps: int = 1,
        period: str = DEFAULT_PERIOD,
    ) -> BudgetCheck:
        """Would a round with these parameters keep ``member`` within budget?

        Returns
        -------
        BudgetCheck
            The spent and resulting ε when the round fits.

        Raises
        ------
        PrivacyBudgetExhausted
            If the resulting ε exceeds the member's ``epsilon_max``; the message names the
            member, the spent ε and the requested (resulting) ε.
        ConfigError
            On an invalid parameter.
        """
        member, period, lvl = _label("member", member), _label("period", period), _level(level)
        planned = GaussianStep(noise_multiplier, sample_rate, steps)
        budget = self._policy.for_member(member)
        entries = self.entries(member=member, level=lvl, period=period)
        history = [e.step for e in entries]
        spent = entries[-1].epsilon_after if entries else 0.0
        after = self._epsilon([*history, planned], budget.delta)
        if after > budget.epsilon_max:
            alone = self._epsilon([planned], budget.delta)
            raise PrivacyBudgetExhausted(
                f"member {member!r} ({lvl}-level DP, period {period!r}) has spent ε={spent:.4g} of its "
                f"budget ε_max={budget.epsilon_max:g} at δ={budget.delta:g}; the requested round "
                f"(z={planned.noise_multiplier:g}, q={planned.sample_rate:g}, {planned.steps} step(s), "
                f"ε={alone:.4g} on its own) would bring it to ε={after:.4g}. Refused for this member: "
                "wait for the next budget period, or raise the noise multiplier / lower the sample rate"
            )
        return BudgetCheck(member, lvl, period, spent, after, budget.epsilon_max, budget.delta)

    def commit(
        self,
        member: str,
        *,
        round: int,
        level: str,
        noise_multiplier: float,
        sample_rate: float,
        steps: int = 1,
        period: str = DEFAULT_PERIOD,
    ) -> LedgerEntry:
        """Check the budget, then record the round for ``member``.

        Raises
        ------
        PrivacyBudgetExhausted
            As :meth:`check`; nothing is recorded.
        ConfigError
            If ``(member, level, period, round)`` is already recorded (it would count twice), or
            on an invalid parameter.
        """
        if isinstance(round, bool) or not isinstance(round, int) or round < 0:
            raise ConfigError(f"round must be an integer >= 0, got {round!r}")
        with self._lock:
            lvl = _level(level)
            if any(e.round == round for e in self.entries(member=member, level=lvl, period=period)):
                raise ConfigError(
                    f"round {round} is already recorded for member {member!r} ({lvl}-level, period "
                    f"{period!r}); each round is recorded once"
                )
            result = self.check(
                member,
                level=lvl,
                noise_multiplier=noise_multiplier,
                sample_rate=sample_rate,
                steps=steps,
                period=period,
            )
            entry = LedgerEntry(
                member=result.member,
                round=round,
                level=lvl,
                noise_multiplier=float(noise_multiplier),
                sample_rate=float(sample_rate),
                steps=steps,
                epsilon_after=result.epsilon_after,
                delta=result.delta,
                period=result.period,
                accountant=self._accountant,
            )
            self._append(entry)
            return entry

    def summary(self, *, period: str | None = None) -> list[MemberSpend]:
        """Spend versus budget for every (member, level, period) with entries, sorted."""
        groups: dict[tuple[str, str, str], list[LedgerEntry]] = {}
        for e in self.entries(period=period):
            groups.setdefault((e.member, e.level, e.period), []).append(e)
        out: list[MemberSpend] = []
        for (member, level, per), items in sorted(groups.items()):
            budget = self._policy.for_member(member)
            eps = items[-1].epsilon_after
            out.append(MemberSpend(member, _level(level), per, len(items), eps, budget.epsilon_max, budget.delta))
        return out


class InMemoryPrivacyLedger(PrivacyLedger):
    """Ledger kept in a Python list (tests, simulations)."""

    def __init__(self, policy: BudgetPolicy, *, accountant: str = "pld") -> None:
        super().__init__(policy, accountant=accountant)
        self._entries: list[LedgerEntry] = []

    def entries(
        self, *, member: str | None = None, level: str | None = None, period: str | None = None
    ) -> list[LedgerEntry]:
        """Stored entries matching every given filter, in insertion order."""
        return [
            e
            for e in self._entries
            if (member is None or e.member == member)
            and (level is None or e.level == level)
            and (period is None or e.period == period)
        ]

    def _append(self, entry: LedgerEntry) -> None:
        self._entries.append(entry)


_META = sa.MetaData()
_ENTRIES = sa.Table(
    "privacy_ledger_entries",
    _META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("member", sa.String, nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("level", sa.String, nullable=False),
    sa.Column("noise_multiplier", sa.Float, nullable=False),
    sa.Column("sample_rate", sa.Float, nullable=False),
    sa.Column("steps", sa.Integer, nullable=False),
    sa.Column("epsilon_after", sa.Float, nullable=False),
    sa.Column("delta", sa.Float, nullable=False),
    sa.Column("period", sa.String, nullable=False),
    sa.Column("accountant", sa.String, nullable=False),
    sa.UniqueConstraint("member", "level", "period", "round", name="uq_member_level_period_round"),
)
_META_KV = sa.Table(
    "privacy_ledger_meta",
    _META,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
)
_ENTRY_COLUMNS: Final[tuple[str, ...]] = tuple(c.name for c in _ENTRIES.columns if c.name != "id")


class SqlPrivacyLedger(PrivacyLedger):
    """Ledger persisted in a SQL database (SQLite file by default) through SQLAlchemy Core.

    Parameters
    ----------
    url
        SQLAlchemy URL, e.g. ``"sqlite:///run/privacy_ledger.sqlite"``.
    policy
        Required for a new ledger. For an existing one it must equal the stored policy (or be
        ``None`` to use the stored one).
    accountant
        As for ``policy``; defaults to the stored accountant, or ``"pld"`` for a new ledger.

    Raises
    ------
    ConfigError
        If a new ledger has no policy, or the given policy/accountant differ from the stored ones.
    """

    def __init__(self, url: str, policy: BudgetPolicy | None = None, *, accountant: str | None = None) -> None:
        self._engine = sa.create_engine(url)
        _META.create_all(self._engine)
        stored = self._read_meta()
        if stored:
            if stored.get("schema_version") != _SCHEMA_VERSION:
                raise ConfigError(f"privacy ledger {url} has schema {stored.get('schema_version')!r}")
            stored_policy = BudgetPolicy.from_config(json.loads(stored["policy"]))
            if policy is not None and policy != stored_policy:
                raise ConfigError(
                    f"privacy ledger {url} was created with budget {stored_policy.to_config()}; refusing to "
                    f"open it with {policy.to_config()} (start a new ledger to change the rules)"
                )
            if accountant is not None and accountant != stored["accountant"]:
                raise ConfigError(f"privacy ledger {url} uses accountant {stored['accountant']!r}, not {accountant!r}")
            super().__init__(stored_policy, accountant=stored["accountant"])
            return
        if policy is None:
            raise ConfigError(f"new privacy ledger {url} needs a budget policy (epsilon_max, delta)")
        super().__init__(policy, accountant=accountant or "pld")
        with self._engine.begin() as conn:
            conn.execute(
                _META_KV.insert(),
                [
                    {"key": "schema_version", "value": _SCHEMA_VERSION},
                    {"key": "policy", "value": json.dumps(policy.to_config(), sort_keys=True)},
                    {"key": "accountant", "value": self.accountant},
                ],
            )

    def _read_meta(self) -> dict[str, str]:
        with self._engine.connect() as conn:
            return {row.key: row.value for row in conn.execute(sa.select(_META_KV))}

    def entries(
        self, *, member: str | None = None, level: str | None = None, period: str | None = None
    ) -> list[LedgerEntry]:
        """Stored entries matching every given filter, in insertion order."""
        query = sa.select(*(_ENTRIES.c[name] for name in _ENTRY_COLUMNS)).order_by(_ENTRIES.c.id)
        for column, value in (("member", member), ("level", level), ("period", period)):
            if value is not None:
                query = query.where(_ENTRIES.c[column] == value)
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [LedgerEntry(**{k: row[k] for k in _ENTRY_COLUMNS}) for row in rows]

    def _append(self, entry: LedgerEntry) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(_ENTRIES.insert(), [asdict(entry)])
        except sa.exc.IntegrityError as err:
            raise ConfigError(f"round {entry.round} already recorded for member {entry.member!r}") from err

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()


def open_ledger(
    path: str | Path | None,
    policy: BudgetPolicy | None = None,
    *,
    accountant: str | None = None,
    must_exist: bool = False,
) -> PrivacyLedger:
    """Open (or create) a ledger: in memory when ``path`` is ``None``, else a SQLite file.

    Raises
    ------
    ConfigError
        If ``must_exist`` and there is no file at ``path``, or as :class:`SqlPrivacyLedger`.
    """
    if path is None:
        if policy is None:
            raise ConfigError("an in-memory privacy ledger needs a budget policy")
        return InMemoryPrivacyLedger(policy, accountant=accountant or "pld")
    file = Path(path)
    if must_exist and not file.is_file():
        raise ConfigError(f"no privacy ledger at {file} (it is created by the first federated round)")
    return SqlPrivacyLedger(f"sqlite:///{file}", policy, accountant=accountant)
