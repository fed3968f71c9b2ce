"""Run every benchmark module's ``main()`` in turn and print what each measured."""

from __future__ import annotations

import importlib
import pkgutil
import traceback

import bench


def main() -> None:
    """Discover ``bench/bench_*.py`` and run each; a failing bench is reported, the others still run."""
    failed = []
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if not info.name.startswith("bench_"):
            continue
        print(f"\n=== {info.name} ===", flush=True)
        try:
            importlib.import_module(f"bench.{info.name}").main()
        except Exception:  # report and go on: one broken bench must not hide the others
            traceback.print_exc()
            failed.append(info.name)
    if failed:
        raise SystemExit(f"benchmarks failed: {failed}")


if __name__ == "__main__":
    main()
