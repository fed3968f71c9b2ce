"""Coalition utilities, memoised so that no coalition is ever evaluated twice."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from fedrisk.errors import ConfigError

Utility = Callable[[frozenset[str]], float]
"""A coalition utility: maps a set of member ids to a number (e.g. AUPRC of the model they would train)."""


class CachedUtility:
    """Memoise a coalition utility and count the distinct coalitions it evaluated.

    Each coalition is evaluated at most once, however many estimators ask for it. Pass one instance to
    several estimators to share the (expensive) coalition trainings between them; each estimator still
    reports, in :attr:`ShapleyResult.n_evaluations`, how many distinct coalitions *it* needed, i.e. its
    cost when run alone.

    Parameters
    ----------
    utility
        The function to memoise. It must return a finite number for every coalition, the empty one included.

    Examples
    --------
    >>> calls = []
    >>> def v(s: frozenset[str]) -> float:
    ...     calls.append(s)
    ...     return float(len(s))
    >>> u = CachedUtility(v)
    >>> u(frozenset({"a"})), u(frozenset({"a"})), u.n_evaluations, len(calls)
    (1.0, 1.0, 1, 1)
    """

    def __init__(self, utility: Utility) -> None:
        if isinstance(utility, CachedUtility):
            raise ConfigError("utility is already a CachedUtility: pass it directly, do not wrap it twice")
        if not callable(utility):
            raise ConfigError(f"utility must be callable (frozenset of members -> float), got {utility!r}")
        self._utility = utility
        self._values: dict[frozenset[str], float] = {}
        self._seconds = 0.0

    def __call__(self, coalition: Iterable[str]) -> float:
        """Return the utility of ``coalition``, evaluating it only the first time it is asked for."""
        key = frozenset(coalition)
        cached = self._values.get(key)
        if cached is not None:
            return cached
        start = time.perf_counter()
        raw = self._utility(key)
        self._seconds += time.perf_counter() - start
        value = _as_finite(raw, key)
        self._values[key] = value
        return value

    @property
    def n_evaluations(self) -> int:
        """Number of distinct coalitions evaluated so far (calls to the wrapped utility)."""
        return len(self._values)

    @property
    def total_seconds(self) -> float:
        """Wall-clock seconds spent inside the wrapped utility."""
        return self._seconds

    @property
    def values(self) -> Mapping[frozenset[str], float]:
        """A copy of every evaluated coalition and its utility."""
        return dict(self._values)


def _as_finite(raw: object, coalition: frozenset[str]) -> float:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"utility returned {raw!r} for coalition {sorted(coalition)}: it must return a number"
        ) from err
    if not math.isfinite(value):
        raise ConfigError(
            f"utility returned {value} for coalition {sorted(coalition)}: it must be finite. "
            "Check the metric (AUPRC is undefined when the validation data has no positive label) "
            "and that the empty coalition has a defined baseline utility."
        )
    return value


def as_cached(utility: Utility | CachedUtility) -> CachedUtility:
    """Return ``utility`` itself when it is already cached, else a new :class:`CachedUtility` around it."""
    return utility if isinstance(utility, CachedUtility) else CachedUtility(utility)


class CountingView:
    """A view on a shared cache that records which coalitions one estimator asked for."""

    def __init__(self, cache: CachedUtility) -> None:
        self._cache = cache
        self._seen: set[frozenset[str]] = set()

    def __call__(self, coalition: frozenset[str]) -> float:
        """Return the cached utility and remember that this estimator needed ``coalition``."""
        self._seen.add(coalition)
        return self._cache(coalition)

    @property
    def n_evaluations(self) -> int:
        """Distinct coalitions this estimator needed (its cost when run on a cold cache)."""
        return len(self._seen)


def check_players(players: Sequence[str] | Iterable[str]) -> tuple[str, ...]:
    """Validate member ids: a non-empty collection of distinct, non-empty strings, in the given order."""
    if isinstance(players, str):
        raise ConfigError(f"players must be a collection of member ids, got the single string {players!r}")
    names = tuple(players)
    if not names:
        raise ConfigError("players is empty: at least one member is needed to value contributions")
    bad = [p for p in names if not isinstance(p, str) or not p]
    if bad:
        raise ConfigError(f"member ids must be non-empty strings, got {bad!r}")
    if len(set(names)) != len(names):
        dupes = sorted({p for p in names if names.count(p) > 1})
        raise ConfigError(f"member ids must be distinct, these appear more than once: {dupes}")
    return names
