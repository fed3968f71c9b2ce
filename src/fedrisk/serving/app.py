"""The FastAPI application: :func:`create_app` builds it from a run directory (``fedrisk serve`` runs it).

Endpoints (OpenAPI at ``/docs`` and ``/openapi.json``):

=================================  =============================================================================
``POST /v1/stress/score``          stress scores from model features (fast path) or raw hourly bars; one venue or a
                                   batch (``{"items": [...]}``); the stress index when 3+ venues are sent
``GET  /v1/stress/index``          the published index: latest value per asset and the history
``POST /v1/fraud/score``           fraud scores per account (404 while the run has no fraud model)
``GET  /v1/models``                the models, their SHA-256 and where the audit trail commits them
``POST /v1/explain/members``       how each member's absence changes a score (404 without counterfactual models)
``GET  /healthz``                  liveness and the model's hash
``GET  /metrics``                  Prometheus text format
``GET  /``                         placeholder page (the dashboard of issue 9 is mounted here later)
=================================  =============================================================================

Everything is loaded once in :func:`create_app`; requests only compute.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import html
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import fedrisk
from fedrisk.contribution.counterfactual import member_deltas
from fedrisk.errors import DataError, DataValidationError
from fedrisk.report.dashboard import dashboard_html, dashboard_state
from fedrisk.serving import errors as api_errors
from fedrisk.serving.errors import NotFound, PayloadTooLarge, Unavailable, Unprocessable
from fedrisk.serving.metrics import ServiceMetrics
from fedrisk.serving.registry import (
    COUNTERFACTUALS_DIR,
    FRAUD_DIR,
    FraudScorer,
    Registry,
    finite_or_none,
    load_registry,
)
from fedrisk.serving.schemas import (
    MAX_ACCOUNTS,
    MAX_BODY_BYTES,
    ExplainRequest,
    FraudRequest,
    StressIndexResponse,
    StressScoreBatch,
    StressScoreItem,
    StressScoreResponse,
)
from fedrisk.serving.stress import count_rows, score_item, score_request

log = logging.getLogger("fedrisk.serving")

INLINE_ROWS = 2_000
"""Requests up to this many feature rows are scored on the event loop (no thread hop: lower latency); larger
ones, and every raw-bar request, go to the thread pool so they do not hold up small requests."""


class ServiceMiddleware:
    """Raw ASGI: refuses oversize bodies (413) before reading them, times requests, counts them by route."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, max_body: int = MAX_BODY_BYTES) -> None:
        self.app, self.metrics, self.max_body = app, metrics, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            body = api_errors.json_error_bytes(
                PayloadTooLarge(
                    f"request body of {length.decode(errors='replace')} bytes; the limit is "
                    f"{self.max_body} bytes. Split the request"
                )
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"x-error-code", b"payload_too_large")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            self._record(scope, 413, t0, b"payload_too_large")
            return
        seen = {"bytes": 0}
        limit = self.max_body

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen["bytes"] += len(message.get("body", b""))
                if seen["bytes"] > limit:  # chunked upload without a length: caught by the route's translator
                    raise PayloadTooLarge(f"request body over {limit} bytes. Split the request")
            return message

        code: list[bytes] = []

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                for k, v in message.get("headers", []):
                    if k == b"x-error-code":
                        code.append(v)
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, counted_receive, tracking_send)
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, status["code"], t0, code[0] if code else None)

    def _record(self, scope: Scope, status: int, t0: float, code: bytes | None) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        self.metrics.requests.labels(path, scope.get("method", ""), str(status)).inc()
        self.metrics.latency.labels(path).observe(time.perf_counter() - t0)
        if code:
            self.metrics.errors.labels(code.decode(errors="replace")).inc()


DASHBOARD_STATE_TTL_S = 30.0
_NO_RUN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fedrisk scoring service</title>
</head><body><h1>fedrisk scoring service</h1><p>No dashboard for this run directory: __NOTE__</p>
<p><a href="/docs">API documentation</a>, <a href="/v1/models">models</a>, <a href="/healthz">health</a>.</p>
</body></html>"""


def _json(payload: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status)


def create_app(
    run_dir: Path,
    *,
    fraud_loader: Callable[[Path], FraudScorer] | None = None,
    torch_threads: int | None = None,
    root_page: bool = True,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The service for one run directory; models are loaded (audit-gated) here, once.

    Raises :class:`fedrisk.errors.ServingError` when the run cannot be served (no model, or a model the audit
    trail does not commit). ``fraud_loader`` overrides the fraud plug-in look-up (see
    :mod:`fedrisk.serving.registry`). ``root_page=False`` leaves ``/`` free for the dashboard.
    """
    if torch_threads is not None:
        import torch

        torch.set_num_threads(max(1, int(torch_threads)))
    registry = load_registry(Path(run_dir), fraud_loader=fraud_loader)
    metrics = ServiceMetrics()
    stress_entry = registry.entries["stress"]
    metrics.model.info(
        {
            "name": "stress",
            "sha256": stress_entry.sha256 or "",
            "audit": stress_entry.audit.status if stress_entry.audit else "unknown",
        }
    )
    started = time.time()

    app = FastAPI(
        title="fedrisk scoring service",
        version=fedrisk.__version__,
        description="Real-time scores of the federated risk models. Errors are JSON "
        '`{"error": {"code", "message", "request_id"}}`; the message says what to fix.',
    )
    app.state.registry = registry
    app.state.metrics = metrics
    api_errors.install(app)
    app.add_middleware(ServiceMiddleware, metrics=metrics, max_body=max_body_bytes)
    router = APIRouter(route_class=api_errors.TranslatingRoute)
    heavy_gate = asyncio.Semaphore(1)

    if root_page:
        state_cache: dict[str, tuple[float, dict[str, Any]]] = {}

        def cached_state() -> dict[str, Any]:
            # dashboard_state re-verifies the audit trail: compute it at most every DASHBOARD_STATE_TTL_S seconds
            now = time.time()
            hit = state_cache.get("state")
            if hit is None or now - hit[0] > DASHBOARD_STATE_TTL_S:
                try:
                    hit = (now, dashboard_state(run_dir))
                except DataError as err:  # a model-only run dir (no results.json): the API still serves
                    hit = (now, {"available": False, "note": str(err)})
                state_cache["state"] = hit
            return hit[1]

        @router.get("/", response_class=HTMLResponse, include_in_schema=False)
        async def root() -> HTMLResponse:
            """The live dashboard: current index, members and tiers, recent rounds, budgets, audit status."""
            try:
                return HTMLResponse(dashboard_html(run_dir))
            except DataError as err:
                return HTMLResponse(_NO_RUN_PAGE.replace("__NOTE__", html.escape(str(err))))

        @router.get("/v1/dashboard/state", tags=["dashboard"])
        async def dashboard_state_endpoint() -> JSONResponse:
            """Run-level state the dashboard polls (members, rounds, budgets, audit status)."""
            return _json(cached_state())

    @router.get("/healthz", tags=["service"])
    async def healthz() -> JSONResponse:
        """Liveness: the service is up and which stress model it serves."""
        return _json(
            {
                "status": "ok",
                "model_sha256": registry.stress.weights_sha256,
                "uptime_s": round(time.time() - started, 1),
            }
        )

    @router.get("/metrics", tags=["service"], response_class=Response)
    async def prometheus_metrics() -> Response:
        """Prometheus text exposition format."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/v1/models", tags=["models"])
    async def models() -> JSONResponse:
        """Every model the run directory holds: status, SHA-256 and the audit record that commits it."""
        audit = registry.entries["stress"].audit
        return _json(
            {
                "run": registry.run_dir.name,
                "audit_trail": "audit.jsonl" if audit is not None and audit.status != "no-trail" else None,
                "models": [e.to_dict() for e in registry.entries.values()],
            }
        )

    @router.get("/v1/models/{name}", tags=["models"])
    async def model(name: str) -> JSONResponse:
        """One model by name (``stress``, ``fraud``, ``counterfactuals``)."""
        entry = registry.entry(name)
        if entry is None:
            raise NotFound(f"unknown model '{name}'; known: {sorted(registry.entries)}")
        return _json(entry.to_dict())

    @router.post(
        "/v1/stress/score",
        tags=["stress"],
        response_model=StressScoreResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/StressScoreItem"},
                                {"$ref": "#/components/schemas/StressScoreBatch"},
                            ]
                        },
                        "examples": _SCORE_EXAMPLES,
                    }
                },
            }
        },
    )
    async def stress_score(request: Request) -> JSONResponse:
        """Stress probabilities (illiquid stress within 12 h) per venue, asset and hour.

        Send one venue (``venue`` + ``rows`` or ``bars``) or a batch ``{"items": [...]}``. Feature rows need at
        least the model's window (24 hours) per request; scores come for every hour with a full window where
        the asset is observed. ``latest_only`` keeps the last hour.
        """
        payload = parse_score_body(await request.body())
        heavy = count_rows(payload) > INLINE_ROWS or any(
            i.bars is not None for i in (payload.items if isinstance(payload, StressScoreBatch) else [payload])
        )
        if heavy:
            async with heavy_gate:  # one large request at a time: bounded memory, small requests keep flowing
                body = await run_in_threadpool(score_request, registry.scorer, payload)
                del payload
                await run_in_threadpool(release_memory)
        else:
            body = score_request(registry.scorer, payload)
        metrics.scored.labels("stress").inc(sum(len(i["scores"]) for i in body["items"]))
        return _json(body)

    @router.get("/v1/stress/index", tags=["stress"], response_model=StressIndexResponse)
    async def stress_index(
        asset: str | None = Query(None, description="One asset (BTC, ETH, LTC, XRP or MARKET); default all."),
        since: str | None = Query(None, description="ISO time; history from here."),
        until: str | None = Query(None, description="ISO time; history up to here (inclusive)."),
        limit: int = Query(168, ge=1, le=20_000, description="Most recent points per asset in the history."),
    ) -> JSONResponse:
        """The published stress index (0-100): the latest point per asset and the history."""
        try:
            frame = registry.index.load()
        except (OSError, ValueError) as err:
            raise Unavailable("the stress index file of this run cannot be read", detail=str(err)) from err
        if frame is None:
            raise NotFound(
                "this run has no stress_index.csv; it is written by `fedrisk demo` / `fedrisk stress "
                "train` (the index over the test period)"
            )
        if asset is not None:
            asset = asset.upper()
            if asset not in registry.index.assets:
                raise Unprocessable(f"asset '{asset}' is not in the index; known: {list(registry.index.assets)}")
            frame = frame[frame["asset"] == asset]
        bounds = {}
        for label, value in (("since", since), ("until", until)):
            if value is not None:
                try:
                    ts = pd.Timestamp(value)
                except ValueError as err:
                    raise Unprocessable(
                        f"{label}='{value}' is not an ISO date/time (e.g. 2019-07-01T00:00:00Z)"
                    ) from err
                bounds[label] = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        if "since" in bounds:
            frame = frame[frame["ts_utc"] >= bounds["since"]]
        if "until" in bounds:
            frame = frame[frame["ts_utc"] <= bounds["until"]]
        thr = registry.stress.index_alarm_threshold
        published = frame.dropna(subset=["index"])
        latest = published.groupby("asset").tail(1)
        history = frame.groupby("asset").tail(limit)

        def point(r: Any) -> dict[str, Any]:
            ix = finite_or_none(r.index)
            return {
                "ts_utc": r.ts_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "asset": r.asset,
                "index": ix,
                "members": int(r.members) if "members" in frame.columns and pd.notna(r.members) else None,
                "alarm": (ix > thr) if (ix is not None and thr is not None) else None,
            }

        return _json(
            {
                "alarm_threshold": thr,
                "assets": list(registry.index.assets),
                "latest": {r.asset: point(r) for r in latest.itertuples(index=False)},
                "history": [point(r) for r in history.itertuples(index=False)],
            }
        )

    @router.post("/v1/fraud/score", tags=["fraud"])
    async def fraud_score(payload: FraudRequest) -> JSONResponse:
        """Fraud scores per account, with the run's fraud model (the fraud federation, issue 8)."""
        scorer = registry.fraud
        if scorer is None:
            entry = registry.entries["fraud"]
            if entry.status == "absent":
                raise NotFound(
                    f"no fraud model in this run ({FRAUD_DIR}/ is missing). Fix: serve a run directory "
                    "written by a fedrisk version that trains the fraud federation"
                )
            raise Unavailable(f"the fraud model of this run is not served: {entry.reason}")
        if len(payload.accounts) > MAX_ACCOUNTS:
            raise PayloadTooLarge(f"{len(payload.accounts)} accounts; the limit is {MAX_ACCOUNTS}. Split the request")
        frame = pd.DataFrame(payload.accounts)
        try:
            out = await run_in_threadpool(scorer.score, frame)
        except (DataValidationError, ValueError, KeyError) as err:
            raise Unprocessable(f"cannot score these accounts: {err}") from err
        metrics.scored.labels("fraud").inc(len(out))
        records = [
            {"Address": str(a), "score": finite_or_none(s), "flagged": bool(f)}
            for a, s, f in zip(out["Address"], out["score"], out["flagged"], strict=True)
        ]
        return _json({"model_sha256": getattr(scorer, "sha256", None), "scores": records})

    @router.post("/v1/explain/members", tags=["explain"])
    async def explain_members(payload: ExplainRequest) -> JSONResponse:
        """How the latest score would differ without each member (leave-one-member-out models, issue 4)."""
        if not registry.counterfactuals:
            entry = registry.entries["counterfactuals"]
            raise NotFound(
                f"no counterfactual models in this run: {entry.reason}. They are leave-one-member-out stress "
                f"models saved as {COUNTERFACTUALS_DIR}/<member>/ by the contribution job"
            )
        return _json(await run_in_threadpool(_explain, registry, payload))

    app.include_router(router)
    _add_schemas(app)
    return app


_SCORE_ADAPTER: TypeAdapter[StressScoreItem | StressScoreBatch] = TypeAdapter(StressScoreItem | StressScoreBatch)
_SCORE_EXAMPLES = {
    "features": {
        "summary": "one venue, feature rows (values in the model's feature order, 24+ hours)",
        "value": {
            "venue": "kraken",
            "latest_only": True,
            "rows": [{"ts_utc": "2019-07-01T00:00:00Z", "asset": "BTC", "features": [0.0] * 33}],
        },
    },
    "matrix": {
        "summary": "one venue, features as one array values[hour][asset][feature] (compact)",
        "value": {
            "venue": "kraken",
            "latest_only": True,
            "matrix": {"start_utc": "2019-07-01T00:00:00Z", "assets": ["BTC"], "values": [[[0.0] * 33]] * 24},
        },
    },
    "bars": {
        "summary": "one venue, raw hourly bars (744+ hours for the 30-day features)",
        "value": {
            "venue": "newex",
            "bars": [
                {
                    "ts_utc": "2019-07-01T00:00:00Z",
                    "asset": "BTC",
                    "open": 10700.0,
                    "high": 10800.0,
                    "low": 10650.0,
                    "close": 10750.0,
                    "volume_base": 120.5,
                }
            ],
        },
    },
}


def release_memory() -> None:
    """Hand the heap freed by a large request back to the OS (glibc ``malloc_trim``), so RSS comes back down."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


SMALL_BODY = 64 * 1024
"""Bodies up to this size are validated straight from the bytes (fastest for small requests); larger ones are
parsed by ``json`` first, which peaks at about half the memory of pydantic's own JSON parser on big batches."""


def parse_score_body(raw: bytes) -> StressScoreItem | StressScoreBatch:
    """Validate a ``/v1/stress/score`` body; errors become a :class:`RequestValidationError`."""
    body: Any = None
    try:
        if len(raw) <= SMALL_BODY:
            return _SCORE_ADAPTER.validate_json(raw)
        try:
            body = json.loads(raw)
        except ValueError:
            return _SCORE_ADAPTER.validate_json(raw)  # raises the JSON error with its position
        return _SCORE_ADAPTER.validate_python(body)
    except ValidationError as err:
        if body is None:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        raise RequestValidationError(err.errors(include_url=False), body=body) from None


def _add_schemas(app: FastAPI) -> None:
    """Put the request bodies that are validated by hand into the OpenAPI components."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = base()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        extra = _SCORE_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
        for name, schema in extra.get("$defs", {}).items():
            schemas.setdefault(name, schema)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _ts_frame(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores keyed by hour number -> keyed by UTC timestamp (what :func:`member_deltas` takes)."""
    return scores.assign(ts_utc=pd.to_datetime(scores["hour"].astype("int64") * 3600, unit="s", utc=True))


def _explain(registry: Registry, payload: ExplainRequest) -> dict[str, Any]:
    item = payload.item.model_copy(update={"latest_only": True})
    venue, base_scores, _ = score_item(registry.scorer, item)
    base = base_scores.frame()
    if payload.asset is not None:
        base = base[base["asset"] == payload.asset.upper()]
        if base.empty:
            raise Unprocessable(f"asset '{payload.asset}' has no score at the latest hour of this request")
    without = {m: _ts_frame(score_item(scorer, item)[1].frame()) for m, scorer in registry.counterfactuals.items()}
    out = [d.to_dict() for d in member_deltas(_ts_frame(base), without)]
    return {
        "model_sha256": registry.stress.weights_sha256,
        "venue": item.venue,
        "normalisation": "member" if venue.is_member else "pooled",
        "members": out,
    }
