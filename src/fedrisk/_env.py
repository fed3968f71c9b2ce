"""Phone-home switches. Every entry point calls :func:`quiet_and_offline` before importing Flower or Ray.

A bank's node must not call out: Flower telemetry, Flower's update check and Ray usage stats are off
unless the user opts in with ``FEDRISK_ALLOW_TELEMETRY=1``.
"""

from __future__ import annotations

import logging
import os
import warnings

OFFLINE_ENV: dict[str, str] = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    # The SuperLink otherwise runs `uv sync` against the public index before every run.
    "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
}
"""Environment variables that keep Flower and Ray offline."""

# Noise that is known to be harmless; errors are never silenced.
_HARMLESS_LOGGERS = ("ray", "ray._private", "filelock", "matplotlib", "urllib3", "fsspec")


class _DropKnownNoise(logging.Filter):
    """Drops log records that are known to be harmless (never errors)."""

    PATTERNS = (
        "DEPRECATED FEATURE: The `run_simulation` function",  # we call it on purpose; `flwr run` is the CLI path
        "This is a deprecated feature",
        "fraction_evaluate is set to 0.0",  # jobs that keep their last round skip evaluation on purpose
        "No fit_metrics_aggregation_fn provided",  # legacy SecAgg+ path: we aggregate our own metrics
        "No evaluate_metrics_aggregation_fn provided",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        message = record.getMessage()
        return not any(p in message for p in self.PATTERNS)


def quiet_and_offline(*, allow_telemetry: bool | None = None) -> None:
    """Set the offline switches (unless opted in) and silence known-harmless library noise."""
    if allow_telemetry is None:
        allow_telemetry = os.environ.get("FEDRISK_ALLOW_TELEMETRY", "0") == "1"
    if not allow_telemetry:
        for key, value in OFFLINE_ENV.items():
            os.environ[key] = value
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    for name in _HARMLESS_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    flwr_logger = logging.getLogger("flwr")
    if not any(isinstance(f, _DropKnownNoise) for f in flwr_logger.filters):
        flwr_logger.addFilter(_DropKnownNoise())
        for handler in flwr_logger.handlers:
            handler.addFilter(_DropKnownNoise())
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(flwr|ray|opacus)\..*")
    warnings.filterwarnings("ignore", message=r".*Secure RNG turned off.*")
