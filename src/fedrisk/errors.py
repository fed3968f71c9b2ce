"""The one error hierarchy of fedrisk.

Every message says what happened, the likely cause and the fix. The tree follows how callers react::

    FedriskError
    ├── ConfigError (ValueError)           bad configuration or arguments: fix the input
    ├── DataError                           data cannot be used
    │   ├── DataNotFoundError (FileNotFoundError)   data dir or file missing
    │   └── DataValidationError (ValueError)        schema, corrupt row, bad values
    ├── ModelError                          a saved model is missing, corrupt or incompatible
    ├── FederationError                     a federated run failed
    │   ├── QuorumError                     fewer members than the minimum cohort
    │   └── RoundFailedError                a round did not complete (dropouts, errors)
    ├── PrivacyError                        a privacy guarantee would be broken
    │   ├── PrivacyBudgetExhausted          a member's ε budget would be exceeded
    │   └── SecAggDropoutError              too many members dropped for secure aggregation
    ├── AuditIntegrityError                 the audit trail does not verify
    ├── GovernanceError                     constitution / membership rules violated
    └── ServingError                        the scoring service cannot serve a request

Each class has a stable ``exit_code`` used by the CLI.
"""

from __future__ import annotations


class FedriskError(Exception):
    """Base of all fedrisk errors."""

    exit_code: int = 1


class ConfigError(FedriskError, ValueError):
    """Configuration or arguments are invalid."""

    exit_code = 2


class DataError(FedriskError):
    """Data cannot be used."""

    exit_code = 3


class DataNotFoundError(DataError, FileNotFoundError):
    """The data directory or a dataset file is missing."""


class DataValidationError(DataError, ValueError):
    """A dataset file has the wrong schema, a corrupt row or invalid values."""


class ModelError(FedriskError):
    """A saved model is missing, corrupt or incompatible."""

    exit_code = 4


class FederationError(FedriskError):
    """A federated run failed."""

    exit_code = 5


class QuorumError(FederationError):
    """Fewer members than the minimum cohort (3) would take part."""


class RoundFailedError(FederationError):
    """A round did not complete; no model was published for it."""


class PrivacyError(FedriskError):
    """A privacy guarantee would be broken."""

    exit_code = 6


class PrivacyBudgetExhausted(PrivacyError):
    """A member's privacy budget would be exceeded by the requested round."""


class SecAggDropoutError(PrivacyError):
    """Too many members dropped out for secure aggregation to reconstruct the sum."""


class AuditIntegrityError(FedriskError):
    """The audit trail does not verify."""

    exit_code = 7


class GovernanceError(FedriskError):
    """A constitution or membership rule is violated."""

    exit_code = 8


class ServingError(FedriskError):
    """The scoring service cannot serve a request."""

    exit_code = 9


MIN_COHORT = 3
"""No aggregate, index or leave-one-out result is released over fewer members than this."""


def require_cohort(n_members: int, *, what: str) -> None:
    """Raise :class:`QuorumError` when ``n_members`` is below :data:`MIN_COHORT`.

    >>> require_cohort(3, what="aggregate")
    >>> require_cohort(2, what="index")
    Traceback (most recent call last):
    ...
    fedrisk.errors.QuorumError: refusing to release index over 2 members: ...
    """
    if n_members < MIN_COHORT:
        raise QuorumError(
            f"refusing to release {what} over {n_members} members: at least {MIN_COHORT} are required "
            "(with fewer, each member could infer another's contribution). Add members or lower nothing."
        )
