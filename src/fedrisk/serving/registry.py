"""What the service serves from a run directory, loaded once at start-up behind the audit gate.

Layout read (all written by other parts of fedrisk)::

    RUN_DIR/model/               the federated stress model (fedrisk.models.saved)       -> /v1/stress/score
    RUN_DIR/stress_index.csv     the published stress index (ts_utc, asset, index, members) -> /v1/stress/index
    RUN_DIR/fraud/               the fraud model (issue 8), when it exists               -> /v1/fraud/score
    RUN_DIR/counterfactuals/<member>/   leave-<member>-out stress models (issue 4)       -> /v1/explain/members
    RUN_DIR/audit.jsonl          the audit trail (fedrisk.audit), when it exists

**Audit gate.** When ``RUN_DIR/audit.jsonl`` exists, a model is loaded only if
``fedrisk.audit.is_committed_artifact(log, sha256)`` confirms that the SHA-256 of its weights file is an
artifact of a verified ``round.committed`` / ``model.published`` record. The stress model is the service's
reason to exist: if it is refused, :func:`load_registry` raises and the service does not start (fail closed).
An optional model (fraud, a counterfactual) that is refused is left out and its endpoint answers 503 with
the reason. Without an audit trail every model is loaded (and ``/v1/models`` says there is no trail).

**Fraud plug-in.** The fraud model is built by the fraud federation. The service looks for ``RUN_DIR/fraud/`` and
asks the loader (by default :func:`fedrisk.serving.fraud.load_fraud_scorer`, imported lazily) for an object with
the :class:`FraudScorer` protocol. A folder the loader cannot load is reported ``unavailable`` (503 with the
reason); without the folder the endpoint answers 404.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from fedrisk.errors import FedriskError, ServingError
from fedrisk.models.saved import METADATA, WEIGHTS, SavedModel, load_model
from fedrisk.serving.inference import StressScorer

log = logging.getLogger("fedrisk.serving")

AUDIT_LOG = "audit.jsonl"
INDEX_CSV = "stress_index.csv"
FRAUD_DIR = "fraud"
COUNTERFACTUALS_DIR = "counterfactuals"
FRAUD_LOADER = "fedrisk.serving.fraud:load_fraud_scorer"
"""Where the fraud plug-in is looked up: ``module:function(path) -> FraudScorer`` (the saved tabular fraud model
of the fraud federation; ``create_app(..., fraud_loader=...)`` plugs in another)."""


@runtime_checkable
class FraudScorer(Protocol):
    """What the fraud model offers the service (implemented by the fraud package).

    ``score`` receives one row per account, columns as in the fraud dataset's CSV (``Address`` and the
    features), and returns a frame with ``Address``, ``score`` (0-1) and ``flagged`` (bool). It raises
    :class:`fedrisk.errors.DataValidationError` (or ``ValueError``) with a message naming the wrong or missing
    columns; the service turns that into a 422.
    """

    sha256: str
    """SHA-256 of the model's weights file (what the audit gate checks)."""
    features: tuple[str, ...]
    """The input columns the model needs."""

    def score(self, accounts: pd.DataFrame) -> pd.DataFrame: ...


@dataclass(slots=True)
class AuditRef:
    """Where a model's hash is committed in the audit trail."""

    status: str
    """``committed``, ``no-trail`` (no audit.jsonl in the run dir) or ``refused``."""
    log: str | None = None
    record_seq: int | None = None
    record_hash: str | None = None
    record_kind: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "status": self.status,
                "log": self.log,
                "record_seq": self.record_seq,
                "record_hash": self.record_hash,
                "record_kind": self.record_kind,
                "reason": self.reason,
            }.items()
            if v is not None
        }


@dataclass(slots=True)
class ModelEntry:
    """One model the service knows of, loaded or not."""

    name: str
    kind: str
    path: str
    status: str
    """``loaded``, ``absent``, ``refused`` or ``unavailable``."""
    sha256: str | None = None
    audit: AuditRef | None = None
    reason: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "path": self.path, "status": self.status}
        if self.sha256:
            out["sha256"] = self.sha256
        if self.audit is not None:
            out["audit"] = self.audit.to_dict()
        if self.reason:
            out["reason"] = self.reason
        out.update(self.info)
        return out


class AuditGate:
    """Checks model hashes against ``RUN_DIR/audit.jsonl`` when it exists (imports fedrisk.audit lazily)."""

    def __init__(self, run_dir: Path) -> None:
        self.log_path = run_dir / AUDIT_LOG
        self.active = self.log_path.is_file()

    def check(self, sha256: str, what: str) -> AuditRef:
        """An :class:`AuditRef`; status ``refused`` (with the reason) when the trail does not commit the hash."""
        if not self.active:
            return AuditRef(status="no-trail")
        try:
            from fedrisk import audit
        except ImportError as err:  # the audit package is missing or broken: fail closed
            return AuditRef(status="refused", log=AUDIT_LOG, reason=f"the audit package cannot be imported ({err})")
        try:
            ok = bool(audit.is_committed_artifact(self.log_path, sha256))
        except (OSError, ValueError, FedriskError) as err:
            return AuditRef(status="refused", log=AUDIT_LOG, reason=f"the audit trail could not be read: {err}")
        if not ok:
            return AuditRef(
                status="refused",
                log=AUDIT_LOG,
                reason=(
                    f"{what} (sha256 {sha256}) is not an artifact of any verified round.committed or model.published "
                    f"record of {self.log_path.name}, or the trail does not verify. Fix: run `fedrisk audit verify "
                    f"{self.log_path}`; serve the model the trail commits, or commit this one through the federation."
                ),
            )
        ref = AuditRef(status="committed", log=AUDIT_LOG)
        try:
            for rec in audit.read_records(self.log_path):
                if rec.kind in audit.COMMIT_KINDS and any(
                    isinstance(a, dict) and a.get("sha256") == sha256 for a in rec.payload.get("artifacts", ())
                ):
                    ref.record_seq, ref.record_hash, ref.record_kind = rec.seq, rec.hash, rec.kind
                    break
        except (OSError, ValueError, AttributeError) as err:  # the reference is informative; the gate has passed
            log.warning("audit reference lookup failed: %s", err)
        return ref


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


@dataclass(slots=True)
class StressIndex:
    """The published index, read once (and again when the file changes)."""

    path: Path
    frame: pd.DataFrame | None = None
    mtime: float = -1.0
    assets: tuple[str, ...] = ()

    def load(self) -> pd.DataFrame | None:
        if not self.path.is_file():
            self.frame = None
            return None
        mtime = self.path.stat().st_mtime
        if self.frame is None or mtime != self.mtime:
            frame = pd.read_csv(self.path)
            missing = {"ts_utc", "asset", "index"} - set(frame.columns)
            if missing:
                raise ServingError(f"{self.path.name} lacks columns {sorted(missing)}")
            frame["ts_utc"] = pd.to_datetime(frame["ts_utc"], utc=True)
            frame = frame.sort_values(["asset", "ts_utc"]).reset_index(drop=True)
            self.frame, self.mtime = frame, mtime
            self.assets = tuple(sorted(frame["asset"].astype(str).unique()))
        return self.frame


@dataclass(slots=True)
class Registry:
    """Everything loaded from the run directory."""

    run_dir: Path
    stress: SavedModel
    scorer: StressScorer
    entries: dict[str, ModelEntry]
    index: StressIndex
    fraud: FraudScorer | None = None
    counterfactuals: dict[str, StressScorer] = field(default_factory=dict)

    def entry(self, name: str) -> ModelEntry | None:
        return self.entries.get(name)


def _load_stress(run_dir: Path, gate: AuditGate) -> tuple[SavedModel, ModelEntry]:
    try:
        saved = load_model(run_dir)
    except FedriskError as err:
        raise ServingError(f"cannot serve {run_dir}: {err}") from err
    model_dir = run_dir / "model" if (run_dir / "model" / METADATA).is_file() else run_dir
    ref = gate.check(saved.weights_sha256, f"the stress model {model_dir / WEIGHTS}")
    if ref.status == "refused":
        raise ServingError(f"refusing to serve the stress model: {ref.reason}")
    entry = ModelEntry(
        name="stress",
        kind="stress",
        path=str((model_dir / WEIGHTS).relative_to(run_dir)) if model_dir != run_dir else WEIGHTS,
        status="loaded",
        sha256=saved.weights_sha256,
        audit=ref,
        info={
            "metadata_sha256": _sha256(model_dir / METADATA),
            "format": saved.metadata.get("format"),
            "task": "illiquid stress hour within the next 12 hours",
            "window_hours": saved.config.window,
            "features": list(saved.features),
            "members": sorted(saved.members),
            "alarm_threshold": saved.alarm_threshold,
            "index_alarm_threshold": saved.index_alarm_threshold,
        },
    )
    return saved, entry


def _default_fraud_loader() -> Callable[[Path], FraudScorer] | None:
    module_name, func = FRAUD_LOADER.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    loader = getattr(module, func, None)
    return loader if callable(loader) else None


def _load_fraud(
    run_dir: Path, gate: AuditGate, loader: Callable[[Path], FraudScorer] | None
) -> tuple[FraudScorer | None, ModelEntry]:
    path = run_dir / FRAUD_DIR
    entry = ModelEntry(name="fraud", kind="fraud", path=FRAUD_DIR + "/", status="absent")
    if not path.is_dir():
        entry.reason = f"no fraud model in the run directory ({FRAUD_DIR}/ is missing)"
        return None, entry
    loader = loader or _default_fraud_loader()
    if loader is None:
        entry.status = "unavailable"
        entry.reason = f"{FRAUD_DIR}/ exists but the fraud scorer ({FRAUD_LOADER}) cannot be imported"
        return None, entry
    try:
        scorer = loader(path)
    except Exception as err:  # a broken optional model must not stop the service
        log.exception("fraud model at %s could not be loaded", path)
        entry.status = "unavailable"
        entry.reason = f"the fraud model could not be loaded: {err}"
        return None, entry
    entry.sha256 = getattr(scorer, "sha256", None)
    ref = gate.check(entry.sha256 or "", "the fraud model")
    entry.audit = ref
    if ref.status == "refused":
        entry.status, entry.reason = "refused", ref.reason
        return None, entry
    entry.status = "loaded"
    entry.info["features"] = list(getattr(scorer, "features", ()))
    return scorer, entry


def _load_counterfactuals(run_dir: Path, gate: AuditGate) -> tuple[dict[str, StressScorer], ModelEntry]:
    root = run_dir / COUNTERFACTUALS_DIR
    entry = ModelEntry(
        name="counterfactuals", kind="leave-one-member-out", path=COUNTERFACTUALS_DIR + "/", status="absent"
    )
    if not root.is_dir():
        entry.reason = f"no leave-one-member-out models in the run directory ({COUNTERFACTUALS_DIR}/ is missing)"
        return {}, entry
    loaded: dict[str, StressScorer] = {}
    details: dict[str, Any] = {}
    for sub in sorted(p for p in root.iterdir() if (p / METADATA).is_file()):
        try:
            saved = load_model(sub)
        except FedriskError as err:
            details[sub.name] = {"status": "unavailable", "reason": str(err)}
            continue
        ref = gate.check(saved.weights_sha256, f"the leave-{sub.name}-out model")
        if ref.status == "refused":
            details[sub.name] = {"status": "refused", "reason": ref.reason, "sha256": saved.weights_sha256}
            continue
        loaded[sub.name] = StressScorer(saved)
        details[sub.name] = {"status": "loaded", "sha256": saved.weights_sha256, "audit": ref.to_dict()}
    entry.status = "loaded" if loaded else "unavailable"
    if not loaded:
        entry.reason = f"{COUNTERFACTUALS_DIR}/ holds no loadable model"
    entry.info["members"] = details
    return loaded, entry


def load_registry(run_dir: Path, *, fraud_loader: Callable[[Path], FraudScorer] | None = None) -> Registry:
    """Load the run directory's models (audit-gated) and index; raise :class:`ServingError` when it cannot serve."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ServingError(
            f"run directory {run_dir} does not exist. Fix: pass --run with a directory written by "
            "`fedrisk demo` or `fedrisk stress train`."
        )
    gate = AuditGate(run_dir)
    saved, stress_entry = _load_stress(run_dir, gate)
    fraud, fraud_entry = _load_fraud(run_dir, gate, fraud_loader)
    cfs, cf_entry = _load_counterfactuals(run_dir, gate)
    index = StressIndex(run_dir / INDEX_CSV)
    try:
        index.load()
    except (ValueError, OSError, ServingError) as err:
        log.warning("stress index %s not usable: %s", index.path, err)
    entries = {e.name: e for e in (stress_entry, fraud_entry, cf_entry)}
    log.info("serving %s: stress model %s (audit: %s)", run_dir, saved.weights_sha256[:12], stress_entry.audit)
    return Registry(run_dir, saved, StressScorer(saved), entries, index, fraud, cfs)


def finite_or_none(x: Any) -> float | None:
    """JSON-safe float."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
