"""The service's one error-translation layer.

Every failure a request can meet ends here, in :func:`translate`, which turns it into a status code and a
sanitised JSON body ``{"error": {"code": ..., "message": ..., "request_id": ...}}``. The message tells the
caller what to fix; internal detail (exception text, tracebacks, file paths) goes to the log only, under the
same ``request_id``. Nothing a request sends can crash the process: unexpected exceptions become a 500 with a
reference, and the service keeps serving.

Used by :class:`TranslatingRoute` (every endpoint), the exception handlers of :func:`install` (routing
errors such as 404 / 405) and the body-size middleware.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from fedrisk.errors import DataError, FedriskError, ModelError

log = logging.getLogger("fedrisk.serving")


class ApiError(Exception):
    """An error with a status, a stable code and a message for the caller (never internal detail)."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, detail: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if code is not None:
            self.code = code


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class Unprocessable(ApiError):
    status, code = 422, "invalid_input"


class NotImplementedYet(ApiError):
    status, code = 501, "not_implemented"


class Unavailable(ApiError):
    status, code = 503, "unavailable"


def _loc(loc: Sequence[Any]) -> str:
    """``('body', 'rows', 3, 'features', 'ret')`` -> ``rows[3].features.ret``."""
    out = ""
    for part in loc:
        if part == "body" and not out:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


_HINTS = {
    "finite_number": "NaN and Infinity are not accepted; send null for a missing feature value",
    "missing": "this field is required",
    "extra_forbidden": "unknown field; remove it (see the request schema at /docs)",
}


def validation_message(errors: Sequence[dict[str, Any]], body: Any = None, *, limit: int = 5) -> str:
    """One readable message from pydantic errors: where, what, and how to fix it."""
    errors = list(errors)
    if errors and errors[0].get("type") == "json_invalid":
        ctx = errors[0].get("ctx") or {}
        return f"the body is not valid JSON ({ctx.get('error', 'parse error')}); send a JSON object (see /docs)"
    # A body that is a union (single item or batch) fails on both branches: keep the branch the caller meant.
    branch = "StressScoreBatch" if isinstance(body, dict) and "items" in body else None
    if branch is not None:
        kept = [e for e in errors if branch in [str(p) for p in e.get("loc", ())]]
        errors = kept or errors
    else:
        kept = [e for e in errors if "StressScoreBatch" not in [str(p) for p in e.get("loc", ())]]
        errors = kept or errors
    # A field that is itself a union (features as an object or a list) fails on both branches too: keep the
    # errors of the branch whose type the caller sent (a "should be a valid list/dictionary" error is the other).
    wrong_type = {"dict_type", "list_type", "model_type", "model_attributes_type"}
    specific = [e for e in errors if e.get("type") not in wrong_type]
    errors = specific or errors
    parts = []
    for err in errors[:limit]:
        loc = [
            p
            for p in err.get("loc", ())
            if p not in ("StressScoreItem", "StressScoreBatch") and not (isinstance(p, str) and "[" in p)
        ]
        if not [p for p in loc if p != "body"] and err.get("type") in wrong_type:
            return (
                'the body must be a JSON object: one venue {"venue", "rows" or "bars"} or a batch '
                '{"items": [...]} (see /docs)'
            )
        hint = _HINTS.get(str(err.get("type")), str(err.get("msg", "invalid")))
        parts.append(f"{_loc(loc)}: {hint}")
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return "invalid request: " + "; ".join(parts) + more


def translate(exc: BaseException, request_id: str) -> tuple[int, dict[str, Any]]:
    """Status and sanitised body for any exception; logs what the caller does not see."""
    if isinstance(exc, StarletteHTTPException) and isinstance(exc.__cause__, ApiError):
        exc = exc.__cause__  # e.g. the body-size limit hit while FastAPI was reading the body
    if isinstance(exc, ApiError):
        status, code, message = exc.status, exc.code, exc.message
        if exc.detail:
            log.info("request %s: %s (%s)", request_id, message, exc.detail)
    elif isinstance(exc, RequestValidationError):
        status, code = 422, "invalid_input"
        errs = exc.errors()
        if errs and errs[0].get("type") == "json_invalid":
            status, code = 400, "malformed_json"
        message = validation_message(errs, getattr(exc, "body", None))
    elif isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        message = {
            404: "no such endpoint; see /docs for the API",
            405: "method not allowed on this endpoint; see /docs",
        }.get(status, str(exc.detail))
    elif isinstance(exc, DataError):
        # Library data errors carry a message written for users (what and how to fix), no secrets.
        status, code, message = 422, "invalid_input", str(exc)
    elif isinstance(exc, ModelError):
        status, code, message = 422, "cannot_score", str(exc)
    elif isinstance(exc, FedriskError):
        status, code, message = 400, "rejected", str(exc)
    else:
        log.error("request %s failed with an internal error", request_id, exc_info=exc)
        status, code = 500, "internal_error"
        message = f"internal error; the service is still running. Quote request id {request_id} to the operator"
    return status, {"error": {"code": code, "message": message, "request_id": request_id}}


def error_response(exc: BaseException, request_id: str | None = None) -> JSONResponse:
    """A JSON response for an exception (see :func:`translate`)."""
    rid = request_id or uuid.uuid4().hex[:12]
    status, body = translate(exc, rid)
    return JSONResponse(body, status_code=status, headers={"x-request-id": rid, "x-error-code": body["error"]["code"]})


def request_id(request: Request) -> str:
    """The caller's ``x-request-id`` (sanitised) or a new one."""
    given = request.headers.get("x-request-id", "")
    if given and len(given) <= 64 and all(c.isalnum() or c in "-_." for c in given):
        return given
    return uuid.uuid4().hex[:12]


class TranslatingRoute(APIRoute):
    """An APIRoute whose handler never lets an exception escape: everything goes through :func:`translate`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except Exception as exc:
                return error_response(exc, request_id(request))

        return handler


def install(app: FastAPI) -> None:
    """Route-level errors (unknown path, wrong method) in the same format."""

    async def http_error(request: Request, exc: Exception) -> Response:
        return error_response(exc, request_id(request))

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, http_error)


def json_error_bytes(exc: ApiError) -> bytes:
    """The body of an error response, for the raw ASGI middleware."""
    _, body = translate(exc, uuid.uuid4().hex[:12])
    return json.dumps(body).encode()
