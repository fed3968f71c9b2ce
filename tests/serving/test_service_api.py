"""Every endpoint of the scoring service through TestClient, and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from fedrisk.errors import ServingError
from fedrisk.features.stress import FEATURES
from fedrisk.serving import create_app
from fedrisk.serving.schemas import MAX_ITEMS

from .conftest import feature_rows, write_model


def _err(resp, status: int) -> str:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and {"code", "message", "request_id"} <= set(body["error"])
    return str(body["error"]["message"])


# -- service endpoints -------------------------------------------------------------------------------------------


def test_health_models_metrics_docs(client: TestClient, run_dir: Path) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and len(health["model_sha256"]) == 64
    models = client.get("/v1/models").json()
    stress = next(m for m in models["models"] if m["name"] == "stress")
    assert stress["status"] == "loaded" and stress["sha256"] == health["model_sha256"]
    assert stress["audit"] == {"status": "no-trail"} and models["audit_trail"] is None
    assert stress["features"] == list(FEATURES) and stress["window_hours"] == 24
    assert str(run_dir) not in json.dumps(models)  # no absolute paths leak
    assert client.get("/v1/models/stress").json()["sha256"] == stress["sha256"]
    assert {m["name"]: m["status"] for m in models["models"]} == {
        "stress": "loaded",
        "fraud": "absent",
        "counterfactuals": "absent",
    }
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/stress/score",
        "/v1/stress/index",
        "/v1/fraud/score",
        "/v1/models",
        "/v1/explain/members",
        "/healthz",
        "/metrics",
    ):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200
    assert "dashboard" in client.get("/").text
    client.post("/v1/stress/score", json={"venue": "kraken", "rows": feature_rows()})
    text = client.get("/metrics").text
    assert 'fedrisk_http_requests_total{method="POST",route="/v1/stress/score",status="200"} 1.0' in text
    assert 'fedrisk_scores_total{model="stress"} 2.0' in text
    assert "fedrisk_http_request_seconds_bucket" in text


def test_root_left_free_for_the_dashboard(run_dir: Path) -> None:
    with TestClient(create_app(run_dir, root_page=False), raise_server_exceptions=False) as c:
        assert c.get("/").status_code == 404


# -- /v1/stress/score --------------------------------------------------------------------------------------------


def test_score_features_single_dict_and_list_agree(client: TestClient) -> None:
    as_dict = client.post("/v1/stress/score", json={"venue": "kraken", "rows": feature_rows(30)})
    as_list = client.post("/v1/stress/score", json={"venue": "kraken", "rows": feature_rows(30, as_list=True)})
    assert as_dict.status_code == 200, as_dict.text
    a, b = as_dict.json(), as_list.json()
    assert a["items"][0]["scores"] == b["items"][0]["scores"]
    item = a["items"][0]
    assert item["normalisation"] == "member" and item["alarm_threshold"] == 0.5
    assert len(item["scores"]) == 7 * 2  # hours 23..29, two assets
    assert {s["asset"] for s in item["scores"]} == {"BTC", "ETH"}
    assert all(0.0 <= s["score"] <= 1.0 and s["alarm"] == (s["score"] > 0.5) for s in item["scores"])
    assert item["scores"][0]["ts_utc"] == "2019-07-01T23:00:00Z"
    latest = client.post("/v1/stress/score", json={"venue": "kraken", "rows": feature_rows(30), "latest_only": True})
    assert latest.json()["items"][0]["scores"] == item["scores"][-2:]


def test_score_unknown_venue_uses_pooled_normalisation(client: TestClient) -> None:
    body = client.post("/v1/stress/score", json={"venue": "newex", "rows": feature_rows()}).json()
    assert body["items"][0]["normalisation"] == "pooled"


def test_score_missing_values_as_null_and_unobserved_hours(client: TestClient) -> None:
    rows = feature_rows(25)
    rows[5]["features"]["ret"] = None  # type: ignore[index]
    rows[-1]["observed"] = False  # the last BTC... (last row is ETH at the last hour)
    body = client.post("/v1/stress/score", json={"venue": "kraken", "rows": rows}).json()
    scores = body["items"][0]["scores"]
    last = [s for s in scores if s["ts_utc"] == "2019-07-02T00:00:00Z"]
    assert [s["asset"] for s in last] == ["BTC"]


def test_score_batch_adds_the_index_with_three_venues(client: TestClient) -> None:
    items = [{"venue": v, "rows": feature_rows(24, seed=i)} for i, v in enumerate(("kraken", "bitstamp", "newex"))]
    body = client.post("/v1/stress/score", json={"items": items}).json()
    assert [i["venue"] for i in body["items"]] == ["kraken", "bitstamp", "newex"]
    index = {(p["asset"]): p for p in body["index"]}
    assert set(index) == {"BTC", "ETH", "MARKET"}
    mean_btc = sum(i["scores"][0]["score"] for i in body["items"]) / 3
    assert index["BTC"]["index"] == pytest.approx(100 * mean_btc, rel=1e-6)
    assert index["BTC"]["members"] == 3
    two = client.post("/v1/stress/score", json={"items": items[:2]}).json()
    assert two["index"] == []  # withheld below 3 venues


def test_score_bars_go_through_score_frame(client: TestClient, run_dir: Path) -> None:
    from fedrisk.jobs.scoring import score_frame
    from fedrisk.models.saved import load_model
    from synthetic import bars as synthetic_bars

    frame = synthetic_bars(60, seed=3)
    bars = [
        {
            "ts_utc": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "asset": "BTC",
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume_base": vb,
            "volume_quote": vq,
        }
        for t, o, h, lo, c, vb, vq in frame.itertuples(index=False)
    ]
    resp = client.post("/v1/stress/score", json={"venue": "kraken", "bars": bars})
    assert resp.status_code == 200, resp.text
    item = resp.json()["items"][0]
    assert item["warnings"] and "744" in item["warnings"][0]
    tidy = pd.DataFrame(
        {
            "venue": "kraken",
            "base": "BTC",
            "quote": "USD",
            "ts_utc": frame["ts"],
            "open": frame["open"],
            "high": frame["high"],
            "low": frame["low"],
            "close": frame["close"],
            "volume_base": frame["vbase"],
            "volume_quote": frame["vquote"],
        }
    )
    tidy["stale"] = tidy["volume_base"] <= 0
    ref = score_frame(load_model(run_dir), tidy)
    ref = ref[ref["venue"] == "kraken"]
    assert [s["score"] for s in item["scores"]] == pytest.approx(ref["score"].tolist(), abs=1e-7)


# -- bad input: 4xx with a message saying what to fix, and the service keeps serving ----------------------------


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ("{bad json", 400, "not valid JSON"),
        ("[]", 422, "must be a JSON object"),
        ('{"venue": "kraken"}', 422, "exactly one of 'rows'"),
        ('{"venue": "kraken", "rowz": []}', 422, "rowz: unknown field"),
        (
            '{"venue": "kraken", "rows": [{"ts_utc": "2019-07-01T00:00:00Z", "asset": "BTC", "features": [NaN]}]}',
            422,
            "send null for a missing",
        ),
        (
            '{"venue": "kraken", "rows": [{"ts_utc": "2019-07-01T00:00:00Z", "asset": "BTC", "features": '
            '{"ret": Infinity}}]}',
            422,
            "NaN and Infinity are not accepted",
        ),
        ('{"items": [{"venue": "kraken", "rows": [], "extra": 1}]}', 422, "items[0].extra: unknown field"),
        ('{"venue": "kraken", "rows": "x"}', 422, "rows"),
    ],
)
def test_malformed_bodies(client: TestClient, body: str, status: int, needle: str) -> None:
    resp = client.post("/v1/stress/score", content=body, headers={"content-type": "application/json"})
    assert needle in _err(resp, status)
    assert client.get("/healthz").status_code == 200


def test_wrong_or_missing_features(client: TestClient) -> None:
    rows = feature_rows()
    feats = rows[3]["features"]
    assert isinstance(feats, dict)
    del feats["pk_rel"]
    feats["colour"] = 1.0
    msg = _err(client.post("/v1/stress/score", json={"venue": "kraken", "rows": rows}), 422)
    assert "rows[3].features" in msg and "missing ['pk_rel']" in msg and "unknown ['colour']" in msg
    short = feature_rows(as_list=True)
    short[0]["features"] = [0.0] * 5
    msg = _err(client.post("/v1/stress/score", json={"venue": "kraken", "rows": short}), 422)
    assert "has 5 values; the model takes 33" in msg


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda rows: rows[:10], "needs a 24-hour window"),
        (lambda rows: [*rows, rows[0]], "repeats an (asset, hour)"),
        (lambda rows: [{**rows[0], "ts_utc": "2019-07-01T00:30:00Z"}, *rows[1:]], "not on the hour"),
        (lambda rows: [{**rows[0], "asset": "DOGE"}, *rows[1:]], "'DOGE' is not in the model's universe"),
        (lambda rows: [], "rows is empty"),
    ],
)
def test_semantic_errors(client: TestClient, mutate, needle: str) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/v1/stress/score", json={"venue": "kraken", "rows": mutate(feature_rows())})
    assert needle in _err(resp, 422)


def test_batch_errors_name_the_item(client: TestClient) -> None:
    items = [{"venue": "kraken", "rows": feature_rows()}, {"venue": "bitstamp", "rows": feature_rows(5)}]
    assert "items[1].rows" in _err(client.post("/v1/stress/score", json={"items": items}), 422)
    dup = [{"venue": "kraken", "rows": feature_rows()}] * 2
    assert "more than one item" in _err(client.post("/v1/stress/score", json={"items": dup}), 422)


def test_oversize_batches(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    items = [{"venue": f"v{i}", "rows": []} for i in range(MAX_ITEMS + 1)]
    assert "the limit is" in _err(client.post("/v1/stress/score", json={"items": items}), 413)
    monkeypatch.setattr("fedrisk.serving.stress.MAX_ROWS", 40)
    assert "Split the request" in _err(
        client.post("/v1/stress/score", json={"venue": "kraken", "rows": feature_rows()}), 413
    )
    monkeypatch.setattr("fedrisk.serving.stress.MAX_HOURS", 10)
    monkeypatch.setattr("fedrisk.serving.stress.MAX_ROWS", 10_000)
    assert "span 24 hours" in _err(
        client.post("/v1/stress/score", json={"venue": "kraken", "rows": feature_rows()}), 413
    )


def test_body_size_limit_before_reading(run_dir: Path) -> None:
    with TestClient(create_app(run_dir, max_body_bytes=1000), raise_server_exceptions=False) as c:
        resp = c.post("/v1/stress/score", json={"venue": "kraken", "rows": feature_rows()})
        assert "limit is 1000 bytes" in _err(resp, 413)
        assert c.get("/healthz").status_code == 200


def test_unknown_model_and_routes(client: TestClient) -> None:
    pinned = {"venue": "kraken", "rows": feature_rows(), "model_sha256": "0" * 64}
    assert "unknown model" in _err(client.post("/v1/stress/score", json=pinned), 404)
    sha = client.get("/healthz").json()["model_sha256"]
    assert client.post("/v1/stress/score", json={**pinned, "model_sha256": sha}).status_code == 200
    assert "unknown model 'credit'" in _err(client.get("/v1/models/credit"), 404)
    assert "no such endpoint" in _err(client.get("/v2/anything"), 404)
    assert "method not allowed" in _err(client.get("/v1/stress/score"), 405)


def test_internal_error_is_sanitised_and_the_service_keeps_serving(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(*_args: object, **_kw: object) -> None:
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr("fedrisk.serving.app.score_request", boom)
    resp = client.post("/v1/stress/score", json={"venue": "kraken", "rows": feature_rows()})
    msg = _err(resp, 500)
    assert "secret" not in resp.text and "request id" in msg
    assert resp.json()["error"]["request_id"] in caplog.text and "secret internal detail" in caplog.text
    assert client.get("/healthz").status_code == 200


# -- /v1/stress/index --------------------------------------------------------------------------------------------


def test_index_latest_and_history(client: TestClient) -> None:
    body = client.get("/v1/stress/index").json()
    assert body["assets"] == ["BTC", "ETH", "MARKET"] and body["alarm_threshold"] == 50.0
    assert body["latest"]["BTC"] == {
        "ts_utc": "2019-07-02T23:00:00Z",
        "asset": "BTC",
        "index": 57.0,
        "members": 3,
        "alarm": True,
    }
    assert body["latest"]["ETH"]["ts_utc"] == "2019-07-02T22:00:00Z"  # the last hour is withheld (NaN)
    assert len(body["history"]) == 3 * 48
    one = client.get("/v1/stress/index", params={"asset": "btc", "limit": 5, "since": "2019-07-02"}).json()
    assert [p["asset"] for p in one["history"]] == ["BTC"] * 5
    window = client.get(
        "/v1/stress/index", params={"asset": "MARKET", "since": "2019-07-01T10:00:00Z", "until": "2019-07-01T12:00:00Z"}
    ).json()
    assert [p["index"] for p in window["history"]] == [20.0, 21.0, 22.0]
    assert "not in the index" in _err(client.get("/v1/stress/index", params={"asset": "DOGE"}), 422)
    assert "not an ISO date" in _err(client.get("/v1/stress/index", params={"since": "yesterday"}), 422)
    assert client.get("/v1/stress/index", params={"limit": 0}).status_code == 422


def test_index_missing(run_dir: Path) -> None:
    (run_dir / "stress_index.csv").unlink()
    with TestClient(create_app(run_dir), raise_server_exceptions=False) as c:
        assert "no stress_index.csv" in _err(c.get("/v1/stress/index"), 404)


# -- /v1/fraud/score ---------------------------------------------------------------------------------------------


def test_fraud_absent_then_present_without_plugin(client: TestClient, run_dir: Path) -> None:
    assert "no fraud model" in _err(client.post("/v1/fraud/score", json={"accounts": [{"Address": "0x1"}]}), 404)
    (run_dir / "fraud").mkdir()  # a folder without a model
    with TestClient(create_app(run_dir), raise_server_exceptions=False) as c:
        resp = c.post("/v1/fraud/score", json={"accounts": [{"Address": "0x1"}]})
        assert "could not be loaded" in _err(resp, 503)
        assert c.get("/v1/models/fraud").json()["status"] == "unavailable"


class _FakeFraud:
    sha256 = "f" * 64
    features = ("Address", "x")

    def score(self, accounts: pd.DataFrame) -> pd.DataFrame:
        if "x" not in accounts.columns:
            raise ValueError("missing column 'x' (expected the dataset's feature columns)")
        return pd.DataFrame(
            {"Address": accounts["Address"], "score": accounts["x"] / 10.0, "flagged": accounts["x"] > 5}
        )


def test_fraud_plugin(run_dir: Path) -> None:
    (run_dir / "fraud").mkdir()
    with TestClient(create_app(run_dir, fraud_loader=lambda _p: _FakeFraud()), raise_server_exceptions=False) as c:
        body = c.post("/v1/fraud/score", json={"accounts": [{"Address": "0xa", "x": 7}, {"Address": "0xb", "x": 1}]})
        assert body.json()["scores"] == [
            {"Address": "0xa", "score": 0.7, "flagged": True},
            {"Address": "0xb", "score": 0.1, "flagged": False},
        ]
        assert "missing column 'x'" in _err(c.post("/v1/fraud/score", json={"accounts": [{"Address": "0xa"}]}), 422)
        assert _err(c.post("/v1/fraud/score", json={"accounts": []}), 422)
        fraud = c.get("/v1/models/fraud").json()
        assert fraud["status"] == "loaded" and fraud["sha256"] == "f" * 64


def test_fraud_plugin_that_fails_to_load(run_dir: Path) -> None:
    (run_dir / "fraud").mkdir()

    def broken(_p: Path) -> _FakeFraud:
        raise OSError("weights missing")

    with TestClient(create_app(run_dir, fraud_loader=broken), raise_server_exceptions=False) as c:
        assert "could not be loaded" in _err(c.post("/v1/fraud/score", json={"accounts": [{"Address": "0"}]}), 503)
        assert c.get("/healthz").status_code == 200


# -- /v1/explain/members -----------------------------------------------------------------------------------------


def test_explain_absent(client: TestClient) -> None:
    resp = client.post("/v1/explain/members", json={"item": {"venue": "kraken", "rows": feature_rows()}})
    assert "counterfactuals/<member>/" in _err(resp, 404)


def test_explain_with_counterfactual_models(run_dir: Path) -> None:
    for k, member in enumerate(("bitstamp", "coinbase"), start=1):
        write_model(run_dir / "counterfactuals" / member, seed=k)
    with TestClient(create_app(run_dir), raise_server_exceptions=False) as c:
        resp = c.post("/v1/explain/members", json={"item": {"venue": "kraken", "rows": feature_rows()}, "asset": "BTC"})
        assert resp.status_code == 200, resp.text
        out = resp.json()["members"]
        assert [m["member"] for m in out] == ["bitstamp", "coinbase"]
        for m in out:
            assert m["delta"] == pytest.approx(m["score_all"] - m["score_without"])
            assert m["text"].startswith(f"without {m['member']} the stress score of BTC at 2019-07-01 23:00")
        assert "no score" in _err(
            c.post("/v1/explain/members", json={"item": {"venue": "kraken", "rows": feature_rows()}, "asset": "XRP"}),
            422,
        )


# -- start-up refusals ---------------------------------------------------------------------------------------------


def test_no_model_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ServingError, match="no saved stress model"):
        create_app(tmp_path)
    with pytest.raises(ServingError, match="does not exist"):
        create_app(tmp_path / "nope")


def test_tampered_weights_refuse_to_start(run_dir: Path) -> None:
    weights = run_dir / "model" / "weights.npz"
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    weights.write_bytes(bytes(raw))
    with pytest.raises(ServingError, match="does not match the hash"):
        create_app(run_dir)


# -- the compact matrix form -------------------------------------------------------------------------------------


def _matrix(rows: list[dict[str, object]], assets: tuple[str, ...] = ("BTC", "ETH")) -> dict[str, object]:
    by_hour: dict[str, dict[str, object]] = {}
    for r in rows:
        by_hour.setdefault(str(r["ts_utc"]), {})[str(r["asset"])] = r["features"]
    hours = sorted(by_hour)
    return {"start_utc": hours[0], "assets": list(assets), "values": [[by_hour[h][a] for a in assets] for h in hours]}


def test_matrix_scores_as_rows(client: TestClient) -> None:
    rows = feature_rows(30, as_list=True)
    a = client.post("/v1/stress/score", json={"venue": "kraken", "rows": rows}).json()
    b = client.post("/v1/stress/score", json={"venue": "kraken", "matrix": _matrix(rows)})
    assert b.status_code == 200, b.text
    assert b.json()["items"][0]["scores"] == a["items"][0]["scores"]
    m = _matrix(rows)
    m["observed"] = [[True, False]] * 30
    only_btc = client.post("/v1/stress/score", json={"venue": "kraken", "matrix": m}).json()["items"][0]["scores"]
    assert {s["asset"] for s in only_btc} == {"BTC"}


def test_matrix_shape_errors(client: TestClient) -> None:
    m = _matrix(feature_rows(24, as_list=True))
    values = m["values"]
    assert isinstance(values, list)
    ragged = {**m, "values": [*values[:-1], [values[-1][0]]]}
    assert "must be [hours][2 assets][33 features]" in _err(
        client.post("/v1/stress/score", json={"venue": "kraken", "matrix": ragged}), 422
    )
    short = {**m, "values": [[v[:30] for v in hour] for hour in values]}
    assert "has shape [24, 2, 30]" in _err(
        client.post("/v1/stress/score", json={"venue": "kraken", "matrix": short}), 422
    )
    dup = {**m, "assets": ["BTC", "BTC"]}
    assert "repeats an asset" in _err(client.post("/v1/stress/score", json={"venue": "kraken", "matrix": dup}), 422)
    both = {"venue": "kraken", "matrix": m, "rows": feature_rows()}
    assert "exactly one of" in _err(client.post("/v1/stress/score", json=both), 422)
    assert "needs a 24-hour window" in _err(
        client.post("/v1/stress/score", json={"venue": "kraken", "matrix": {**m, "values": values[:5]}}), 422
    )


def test_large_bodies_get_the_same_messages(client: TestClient) -> None:
    rows = feature_rows(200, assets=("BTC", "ETH", "LTC"), as_list=True)  # well over 64 KiB
    text = json.dumps({"venue": "kraken", "rows": rows})
    assert len(text) > 64 * 1024
    ok = client.post("/v1/stress/score", content=text, headers={"content-type": "application/json"})
    assert ok.status_code == 200 and len(ok.json()["items"][0]["scores"]) == 3 * 177
    bad = text.replace(str(rows[100]["features"][0]), "NaN", 1)  # type: ignore[index]
    resp = client.post("/v1/stress/score", content=bad, headers={"content-type": "application/json"})
    assert "send null for a missing" in _err(resp, 422)
    broken = text[:-10]
    assert "not valid JSON" in _err(
        client.post("/v1/stress/score", content=broken, headers={"content-type": "application/json"}), 400
    )


def _tiny_fraud_model(run_dir: Path) -> list[dict[str, object]]:
    """A saved (untrained) fraud MLP in RUN_DIR/fraud/ and a few accounts in the dataset's format."""
    import numpy as np

    from fedrisk.data.fraud import ERC20_FEATURES, ETHER_FEATURES, feature_names
    from fedrisk.models.tabular import MLPConfig, Normaliser, build_mlp, save_tabular

    names = feature_names("impute")
    save_tabular(
        run_dir / "fraud",
        kind="mlp",
        features=names,
        normaliser=Normaliser.fit(np.random.default_rng(0).normal(0, 1, (50, len(names)))),
        threshold=0.5,
        mlp=build_mlp(MLPConfig(len(names), (8,)), seed=1),
        extra={"task": "fraud", "leak": "impute"},
    )
    rng = np.random.default_rng(2)
    accounts: list[dict[str, object]] = []
    for i in range(6):
        row: dict[str, object] = {"Address": f"0x{i:040x}"}
        row.update({f: float(rng.integers(0, 100)) for f in ETHER_FEATURES})
        row.update({f: (None if i == 0 else float(rng.integers(0, 10))) for f in ERC20_FEATURES})
        accounts.append(row)
    return accounts


def test_fraud_model_of_the_run_scores_as_score_accounts(run_dir: Path) -> None:
    from fedrisk.jobs.fraud import score_accounts

    accounts = _tiny_fraud_model(run_dir)
    with TestClient(create_app(run_dir), raise_server_exceptions=False) as c:
        resp = c.post("/v1/fraud/score", json={"accounts": accounts})
        assert resp.status_code == 200, resp.text
        got = resp.json()
        entry = c.get("/v1/models/fraud").json()
        assert entry["status"] == "loaded" and got["model_sha256"] == entry["sha256"]
        frame = pd.DataFrame(accounts)
        ref = score_accounts(run_dir, frame.where(frame.notna(), "").astype(str))
        assert [s["Address"] for s in got["scores"]] == ref["Address"].tolist()
        assert [s["score"] for s in got["scores"]] == pytest.approx(ref["score"].tolist(), abs=1e-7)
        assert [s["flagged"] for s in got["scores"]] == ref["flagged"].tolist()
        missing = [{k: v for k, v in a.items() if k != "Total ERC20 tnxs"} for a in accounts]
        msg = _err(c.post("/v1/fraud/score", json={"accounts": missing}), 422)
        assert "required column(s) missing" in msg
