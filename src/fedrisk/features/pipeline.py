"""From a data directory to a member's panel: load → causal features → labels → panel.

A member node calls :func:`member_panel` on its own data only; results are cached per process so the rounds of a
run do not rebuild them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from fedrisk.data.hourly import load_hourly_dir
from fedrisk.features.labels import DEFAULT_HORIZON, add_labels
from fedrisk.features.panel import MemberPanel, build_panel
from fedrisk.features.stress import build_features


def labelled_features(tidy: pd.DataFrame, *, horizon: int = DEFAULT_HORIZON) -> pd.DataFrame:
    """Features and labels of every series in a tidy hourly frame."""
    return add_labels(build_features(tidy), horizon=horizon)


@lru_cache(maxsize=16)
def _member_panel_cached(data_dir: str, member: str, horizon: int) -> MemberPanel:
    tidy, quality = load_hourly_dir(Path(data_dir), venues=[member])
    panel = build_panel(labelled_features(tidy, horizon=horizon), member)
    panel.meta["quality"] = [q.__class__.__name__ and q for q in quality]
    return panel


def member_panel(data_dir: Path, member: str, *, horizon: int = DEFAULT_HORIZON) -> MemberPanel:
    """The panel of one member built from its own files under ``data_dir`` (cached per process)."""
    return _member_panel_cached(str(data_dir), member, horizon)
