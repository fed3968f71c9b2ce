"""The interface the federation plugs in: a coordinator-side aggregator that holds no secret."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, TypeVar

__all__ = ["HeAggregator"]

E = TypeVar("E")


class HeAggregator(ABC, Generic[E]):
    """Adds encrypted updates without being able to read them.

    Constraints
    -----------
    * Implementations hold public key material only; :attr:`can_decrypt` is ``False``.
    * :meth:`aggregate` refuses fewer than ``fedrisk.errors.MIN_COHORT`` (3) updates with ``QuorumError``.
    * The result is the encrypted sum; members (all of them, or a threshold of them) decrypt it.
    """

    @property
    @abstractmethod
    def can_decrypt(self) -> bool:
        """Whether this object could decrypt (always ``False`` for a correct coordinator-side object)."""

    @abstractmethod
    def aggregate(self, encrypted_updates: Sequence[E]) -> E:
        """Encrypted sum of the members' encrypted updates."""
