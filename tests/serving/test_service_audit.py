"""The audit gate: a model is served only when the run's audit trail commits its hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fedrisk.errors import ServingError
from fedrisk.serving import create_app

from .conftest import feature_rows, write_model


def _trail(run_dir: Path, tmp_path: Path, artifacts: list[Path], kind: str = "model.published") -> None:
    from fedrisk.audit import AuditLog, FileSigner

    signer = FileSigner.load_or_create(tmp_path / "secrets" / "coordinator.key")
    with AuditLog(run_dir / "audit.jsonl", signer) as log:
        log.append("round.started", {"round": 1, "cohort": ["kraken", "bitstamp", "coinbase"]})
        log.append(kind, {"round": 1, "artifacts": [log.artifact(p, kind="model") for p in artifacts]})


def test_committed_model_is_served_with_its_audit_reference(run_dir: Path, tmp_path: Path) -> None:
    _trail(run_dir, tmp_path, [run_dir / "model" / "weights.npz"])
    with TestClient(create_app(run_dir), raise_server_exceptions=False) as c:
        stress = c.get("/v1/models/stress").json()
        assert stress["audit"]["status"] == "committed"
        assert stress["audit"]["record_seq"] >= 1 and len(stress["audit"]["record_hash"]) == 64
        assert stress["audit"]["record_kind"] == "model.published" and stress["audit"]["log"] == "audit.jsonl"
        assert c.get("/v1/models").json()["audit_trail"] == "audit.jsonl"
        assert c.post("/v1/stress/score", json={"venue": "kraken", "rows": feature_rows()}).status_code == 200


def test_uncommitted_model_is_refused(run_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.bin"
    other.write_bytes(b"another model")
    _trail(run_dir, tmp_path, [other])
    with pytest.raises(ServingError, match="not an artifact of any verified"):
        create_app(run_dir)


def test_model_committed_only_in_a_non_commit_record_is_refused(run_dir: Path, tmp_path: Path) -> None:
    _trail(run_dir, tmp_path, [run_dir / "model" / "weights.npz"], kind="dataset.registered")
    with pytest.raises(ServingError, match="refusing to serve the stress model"):
        create_app(run_dir)


def test_tampered_trail_is_refused(run_dir: Path, tmp_path: Path) -> None:
    _trail(run_dir, tmp_path, [run_dir / "model" / "weights.npz"])
    log = run_dir / "audit.jsonl"
    log.write_bytes(log.read_bytes().replace(b'"round":1', b'"round":2', 1))
    with pytest.raises(ServingError, match="audit verify"):
        create_app(run_dir)


def test_uncommitted_counterfactual_is_left_out(run_dir: Path, tmp_path: Path) -> None:
    write_model(run_dir / "counterfactuals" / "bitstamp", seed=2)
    _trail(run_dir, tmp_path, [run_dir / "model" / "weights.npz"])
    with TestClient(create_app(run_dir), raise_server_exceptions=False) as c:
        cf = c.get("/v1/models/counterfactuals").json()
        assert cf["members"]["bitstamp"]["status"] == "refused"
        resp = c.post("/v1/explain/members", json={"item": {"venue": "kraken", "rows": feature_rows()}})
        assert resp.status_code == 404
