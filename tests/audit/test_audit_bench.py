"""The audit benchmark runs (its figures are reported by `make bench`, never asserted in tests)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def _bench() -> ModuleType:
    path = Path(__file__).parents[2] / "bench" / "bench_audit.py"
    spec = importlib.util.spec_from_file_location("bench_audit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_runs_small(tmp_path: Path) -> None:
    result = _bench().run(300, tmp_path)
    assert result["records"] >= 300
    for key in ("append_ms_mean", "append_ms_p99", "append_nosync_ms_mean", "verify_s", "verify_s_per_10k"):
        assert result[key] > 0
