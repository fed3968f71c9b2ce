"""Stateful privacy accountants: compose heterogeneous steps, checkpoint, and a registry.

The maths lives in :mod:`fedrisk.privacy.accounting.analysis`; an accountant only keeps the
history of steps (merged by ``(noise_multiplier, sample_rate)``) and asks the analysis for ε.
"""

from __future__ import annotations

import math
from abc import ABC
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from fedrisk.errors import ConfigError
from fedrisk.privacy.accounting.analysis import (
    DEFAULT_PLD_DISCRETIZATION,
    GaussianStep,
    epsilon_for_history,
    merge_history,
)

__all__ = [
    "PLDAccountant",
    "PrivacyAccountant",
    "RDPAccountant",
    "available_accountants",
    "create_accountant",
    "register_accountant",
]

_STATE_VERSION: Final[int] = 1


class PrivacyAccountant(ABC):
    """Composition of (Poisson-subsampled) Gaussian steps, checkpointable.

    Subclasses set :attr:`mechanism` (``"pld"`` or ``"rdp"``, the analysis used for ε).

    >>> acc = create_accountant("pld")
    >>> acc.step(noise_multiplier=1.0, sample_rate=0.1, steps=50)
    >>> round(acc.get_epsilon(1e-5), 3)
    5.148
    """

    mechanism: ClassVar[str]

    def __init__(self) -> None:
        self._history: tuple[GaussianStep, ...] = ()

    @property
    def history(self) -> tuple[GaussianStep, ...]:
        """Composed steps, merged by ``(noise_multiplier, sample_rate)``, in first-seen order."""
        return self._history

    @property
    def total_steps(self) -> int:
        """Number of mechanism applications composed so far."""
        return sum(item.steps for item in self._history)

    def step(self, *, noise_multiplier: float, sample_rate: float, steps: int = 1) -> None:
        """Compose ``steps`` applications of a Gaussian mechanism with the given parameters.

        Raises
        ------
        ConfigError
            If a parameter is out of range (nothing is recorded then).
        """
        item = GaussianStep(noise_multiplier, sample_rate, steps)
        self._history = merge_history((*self._history, item))

    def get_epsilon(self, delta: float) -> float:
        """ε of everything composed so far at ``delta`` (``0.0`` if nothing, ``inf`` if unnoised)."""
        return epsilon_for_history(self._history, delta=delta, accountant=self.mechanism)

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state; :meth:`load_state_dict` restores it exactly."""
        return {
            "version": _STATE_VERSION,
            "mechanism": self.mechanism,
            "history": [[s.noise_multiplier, s.sample_rate, s.steps] for s in self._history],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the state by ``state`` after validating all of it.

        Raises
        ------
        ConfigError
            If the version or mechanism differ, or any history entry is malformed; the
            accountant is left unchanged.
        """
        if not isinstance(state, Mapping):
            raise ConfigError(f"accountant state must be a mapping, got {type(state).__name__}")
        if state.get("version") != _STATE_VERSION:
            raise ConfigError(f"accountant state version {state.get('version')!r} != {_STATE_VERSION}")
        if state.get("mechanism") != self.mechanism:
            raise ConfigError(
                f"accountant state is for {state.get('mechanism')!r}, this accountant is {self.mechanism!r}"
            )
        raw = state.get("history")
        if not isinstance(raw, list):
            raise ConfigError("accountant state 'history' must be a list of [z, q, steps]")
        items: list[GaussianStep] = []
        for i, entry in enumerate(raw):
            if not isinstance(entry, list | tuple) or len(entry) != 3:
                raise ConfigError(f"accountant state history[{i}] must be [z, q, steps], got {entry!r}")
            try:
                items.append(GaussianStep(entry[0], entry[1], entry[2]))
            except ConfigError as err:
                raise ConfigError(f"accountant state history[{i}]: {err}") from err
        self._history = merge_history(items)

    def __repr__(self) -> str:
        """Show the mechanism and the number of composed steps."""
        return f"{type(self).__name__}(steps={self.total_steps}, distinct={len(self._history)})"


class PLDAccountant(PrivacyAccountant):
    """Privacy-loss-distribution accountant: the figure fedrisk reports."""

    mechanism = "pld"

    def __init__(self, *, value_discretization_interval: float = DEFAULT_PLD_DISCRETIZATION) -> None:
        super().__init__()
        if not (0.0 < value_discretization_interval <= 0.1) or not math.isfinite(value_discretization_interval):
            raise ConfigError(
                f"value_discretization_interval must be in (0, 0.1], got {value_discretization_interval!r}"
            )
        self.value_discretization_interval = value_discretization_interval

    def get_epsilon(self, delta: float) -> float:
        """ε by PLD at ``delta`` (pessimistic estimate)."""
        return epsilon_for_history(
            self.history,
            delta=delta,
            accountant="pld",
            pld_discretization=self.value_discretization_interval,
        )


class RDPAccountant(PrivacyAccountant):
    """Rényi-DP accountant: fast, looser; used as a cross-check."""

    mechanism = "rdp"


_REGISTRY: dict[str, type[PrivacyAccountant]] = {"pld": PLDAccountant, "rdp": RDPAccountant}


def register_accountant(name: str, cls: type[PrivacyAccountant], *, force: bool = False) -> None:
    """Register ``cls`` under ``name``; refuse to override an existing name unless ``force``."""
    if not (isinstance(cls, type) and issubclass(cls, PrivacyAccountant)):
        raise ConfigError(f"{cls!r} is not a PrivacyAccountant subclass")
    if name in _REGISTRY and not force:
        raise ConfigError(f"accountant {name!r} is already registered; pass force=True to replace it")
    _REGISTRY[name] = cls


def available_accountants() -> tuple[str, ...]:
    """Registered accountant names, sorted."""
    return tuple(sorted(_REGISTRY))


def create_accountant(name: str = "pld") -> PrivacyAccountant:
    """A fresh accountant of the registered kind ``name``.

    Raises
    ------
    ConfigError
        If ``name`` is not registered.
    """
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown accountant {name!r}: choose one of {', '.join(available_accountants())}") from None
    return cls()
