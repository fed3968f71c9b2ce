"""Leave-one-member-out counterfactuals: how a score would differ without each member.

The one function both ``fedrisk explain members`` and the scoring service's ``POST /v1/explain/members`` call is
:func:`member_deltas`: given the score of the federated model and the scores of the leave-``m``-out models on the
same input, it returns one :class:`MemberDelta` per (member, hour, asset) with the sentence a risk officer reads
("without kraken the stress score of BTC at 2019-06-26 20:00 would be 0.31 instead of 0.58").

Counterfactual models live in ``RUN_DIR/counterfactuals/<member>/`` (the ``model/`` layout of
:mod:`fedrisk.models.saved`), saved only where at least :data:`~fedrisk.errors.MIN_COHORT` members remain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from fedrisk.errors import DataValidationError

COUNTERFACTUALS_DIR = "counterfactuals"
KEYS = ("ts_utc", "asset")


@dataclass(frozen=True, slots=True)
class MemberDelta:
    """The score with every member and without one."""

    member: str
    asset: str
    ts_utc: str
    score_all: float
    score_without: float
    delta: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def explain_text(member: str, asset: str, ts: str, score_all: float, score_without: float, what: str) -> str:
    """The sentence for one counterfactual."""
    return f"without {member} the {what} of {asset} at {ts} would be {score_without:.2f} instead of {score_all:.2f}"


def _check(frame: pd.DataFrame, name: str) -> None:
    missing = {*KEYS, "score"} - set(frame.columns)
    if missing:
        raise DataValidationError(f"{name} lacks columns {sorted(missing)} (need ts_utc, asset, score)")


def member_deltas(
    base: pd.DataFrame, without: Mapping[str, pd.DataFrame], *, what: str = "stress score"
) -> list[MemberDelta]:
    """One :class:`MemberDelta` per member and (hour, asset) scored by both the full and the leave-out model.

    Parameters
    ----------
    base
        Scores of the federated model: columns ``ts_utc`` (timestamps, UTC), ``asset``, ``score``.
    without
        Member -> scores of the model trained without that member, same columns.
    what
        The name of the score in the sentence (``"stress score"``, ``"stress index"``).
    """
    _check(base, "the federated scores")
    out = []
    for member in sorted(without):
        frame = without[member]
        _check(frame, f"the scores without {member}")
        merged = base[[*KEYS, "score"]].merge(frame[[*KEYS, "score"]], on=list(KEYS), suffixes=("", "_without"))
        for ts, asset, score, alt in zip(
            merged["ts_utc"], merged["asset"], merged["score"], merged["score_without"], strict=True
        ):
            when = pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M")
            s, w = float(score), float(alt)
            out.append(
                MemberDelta(member, str(asset), when, s, w, s - w, explain_text(member, str(asset), when, s, w, what))
            )
    return out
