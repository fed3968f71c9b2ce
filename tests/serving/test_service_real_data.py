"""With the shared data: the service's scores equal `fedrisk stress score`'s (score_frame) on real hourly bars."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from fedrisk.data.hourly import load_hourly_dir
from fedrisk.features.pipeline import labelled_features
from fedrisk.jobs.scoring import score_frame
from fedrisk.models.saved import load_model
from fedrisk.serving import create_app


@pytest.fixture
def real_run(demo_quick_run: tuple[Path, dict[str, Any], str], tmp_path: Path) -> Path:
    """A copy of the model of the session's quick demo run (a trained model)."""
    run = tmp_path / "run"
    shutil.copytree(demo_quick_run[0] / "model", run / "model")
    return run


@pytest.mark.data
@pytest.mark.parametrize("venue", ["kraken", "gemini"])
def test_feature_rows_score_as_score_frame(real_run: Path, shared_data_dir: Path, venue: str) -> None:
    tidy, _ = load_hourly_dir(shared_data_dir, venues=[venue])
    tidy = tidy[(tidy["ts_utc"] >= "2019-05-01") & (tidy["ts_utc"] < "2019-06-15")].reset_index(drop=True)
    saved = load_model(real_run)
    ref = score_frame(saved, tidy)
    ref = ref[ref["venue"] == venue].reset_index(drop=True)
    feats = labelled_features(tidy)
    feats = feats[feats["venue"] == venue]
    rows = [
        {
            "ts_utc": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "asset": a,
            "observed": bool(o),
            "features": [None if (isinstance(v, float) and math.isnan(v)) else float(v) for v in vals],
        }
        for t, a, o, vals in zip(
            feats["ts_utc"],
            feats["base"],
            feats["observed"],
            feats[list(saved.features)].to_numpy(dtype=float).tolist(),
            strict=True,
        )
    ]
    with TestClient(create_app(real_run), raise_server_exceptions=False) as c:
        resp = c.post("/v1/stress/score", json={"venue": venue, "rows": rows})
    assert resp.status_code == 200, resp.text
    got = pd.DataFrame(resp.json()["items"][0]["scores"])
    got["ts_utc"] = pd.to_datetime(got["ts_utc"], utc=True)
    merged = ref.merge(got, on=["ts_utc", "asset"], suffixes=("_batch", "_service"), how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged["_merge"].value_counts()
    np.testing.assert_allclose(merged["score_service"], merged["score_batch"], atol=2e-6)
    assert (merged["alarm_service"] == merged["alarm_batch"]).mean() > 0.999  # ties at the threshold aside
