"""fedrisk.serving: the real-time scoring service and the order-book stream.

* :func:`create_app` — the FastAPI service for a run directory (``fedrisk serve``), see :mod:`.app`;
* :class:`StressScorer` — the precomputed, vectorised inference path of the stress model;
* :mod:`.orderbook`, :mod:`.book_features`, :mod:`.replay` — order-book reconstruction from real order
  events, per-interval book features and an online liquidity-stress score (``fedrisk stream replay``).

Imports are lazy so that ``import fedrisk.serving`` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fedrisk.serving.app import create_app
    from fedrisk.serving.inference import StressScorer

__all__ = ["StressScorer", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from fedrisk.serving.app import create_app

        return create_app
    if name == "StressScorer":
        from fedrisk.serving.inference import StressScorer

        return StressScorer
    raise AttributeError(name)
