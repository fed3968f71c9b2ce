"""``python -m fedrisk.serving --run RUN_DIR``: the service process (what ``fedrisk serve`` becomes).

``fedrisk serve`` replaces itself with this lean entry point, so the service's memory holds what it serves and
not the whole command-line tree (every command group's imports).
"""

from __future__ import annotations

import argparse
import logging
import sys

from fedrisk._env import quiet_and_offline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fedrisk serve", description=__doc__)
    parser.add_argument("--run", required=True, help="run directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    quiet_and_offline()
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from pathlib import Path

    import uvicorn

    from fedrisk.errors import FedriskError
    from fedrisk.serving.app import create_app

    try:
        app = create_app(Path(args.run), torch_threads=args.torch_threads)
    except FedriskError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    import gc

    gc.collect()
    gc.freeze()  # the loaded libraries and model leave the collector's view: collections stay short under load
    sha = app.state.registry.stress.weights_sha256
    print(
        f"serving {args.run} (stress model {sha[:12]}) on http://{args.host}:{args.port}  "
        f"docs: http://{args.host}:{args.port}/docs",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
