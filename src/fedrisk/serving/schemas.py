"""Request and response bodies of the scoring service (they are what /docs shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_ITEMS = 64
"""Venues (items) in one batch request."""
MAX_ROWS = 50_000
"""Asset-hours (feature rows, matrix cells or bars) in one request, all items together."""
MAX_HOURS = 20_000
"""Hours spanned by one item (first to last timestamp)."""
MAX_BODY_BYTES = 16 * 1024 * 1024
"""Request bodies above this are refused with 413 before they are read."""
MAX_ACCOUNTS = 10_000
"""Accounts in one fraud request."""

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class FeatureRow(BaseModel):
    """One hour of one asset's model features (the hourly stress features, see ``GET /v1/models``)."""

    model_config = _STRICT
    ts_utc: datetime = Field(description="Hour start, UTC (ISO 8601; a time without zone is read as UTC).")
    asset: str = Field(description="BTC, ETH, LTC or XRP.")
    features: list[float | None] | dict[str, float | None] = Field(
        union_mode="left_to_right",
        description="Either {name: value} with every model feature, or the values in the model's feature order. "
        "null = missing (scored as the training mean, as the batch scorer does); NaN/Infinity are refused.",
    )
    observed: bool = Field(True, description="False for an hour without a bar (scored as context, not reported).")


class FeatureMatrix(BaseModel):
    """Consecutive hours of model features as one array: the compact form for batches."""

    model_config = _STRICT
    start_utc: datetime = Field(description="The first hour (UTC); the others follow hour by hour.")
    assets: list[str] = Field(min_length=1, max_length=4, description="The assets of the second axis.")
    values: list[list[list[float | None]]] = Field(
        description="values[hour][asset][feature], features in the model's order; null = missing."
    )
    observed: list[list[bool]] | None = Field(None, description="observed[hour][asset]; default all true.")


class Bar(BaseModel):
    """One hourly OHLCV bar of one asset (as in the CryptoDataDownload files)."""

    model_config = _STRICT
    ts_utc: datetime
    asset: str
    quote: str = "USD"
    open: float = Field(gt=0)
    high: float = Field(gt=0)
    low: float = Field(gt=0)
    close: float = Field(gt=0)
    volume_base: float = Field(ge=0)
    volume_quote: float | None = Field(None, ge=0, description="Default: volume_base x close.")


class StressScoreItem(BaseModel):
    """One venue's data: either model features (fast path) or raw hourly bars (features computed here)."""

    model_config = _STRICT
    venue: str = Field(
        description="A member's name uses its own normalisation and graph; any other venue the "
        "federation's pooled ones.",
        min_length=1,
        max_length=64,
    )
    rows: list[FeatureRow] | None = Field(None, description="Feature rows (at least one window of hours).")
    matrix: FeatureMatrix | None = Field(None, description="Feature rows as one array (compact, for batches).")
    bars: list[Bar] | None = Field(None, description="Raw hourly bars; 744+ hours give the 30-day features.")
    latest_only: bool = Field(False, description="Return only the last hour's scores.")
    model_sha256: str | None = Field(None, description="Pin the model: refused (404) unless it is the loaded one.")


class StressScoreBatch(BaseModel):
    """Several venues in one request; the stress index is added when at least 3 venues are scored."""

    model_config = _STRICT
    items: list[StressScoreItem] = Field(min_length=1)
    latest_only: bool = False
    model_sha256: str | None = None


class Score(BaseModel):
    ts_utc: datetime
    asset: str
    score: float
    alarm: bool


class IndexPoint(BaseModel):
    ts_utc: datetime
    asset: str
    index: float | None
    members: int | None = None
    alarm: bool | None = None


class ItemResult(BaseModel):
    venue: str
    normalisation: str = Field(description="'member' (the venue's own) or 'pooled'.")
    alarm_threshold: float
    scores: list[Score]
    warnings: list[str] = []


class StressScoreResponse(BaseModel):
    model_sha256: str
    items: list[ItemResult]
    index: list[IndexPoint] = []
    elapsed_ms: float


class StressIndexResponse(BaseModel):
    alarm_threshold: float | None
    assets: list[str]
    latest: dict[str, IndexPoint]
    history: list[IndexPoint]


class FraudRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accounts: list[dict[str, Any]] = Field(
        min_length=1,
        description="One object per account, columns as in the fraud dataset's CSV (Address and the features).",
    )


class ExplainRequest(BaseModel):
    model_config = _STRICT
    item: StressScoreItem = Field(description="The data to explain (as for /v1/stress/score).")
    asset: str | None = Field(None, description="Only this asset (default: all).")
