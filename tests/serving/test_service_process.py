"""One real `fedrisk serve` process (uvicorn) on a free loopback port, started and stopped by the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .conftest import feature_rows

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_real_uvicorn_process(run_dir: Path) -> None:
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "fedrisk.cli.app",
        "serve",
        "--run",
        str(run_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "server exited"
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not come up within 60 s"
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=10.0) as c:
            ok = c.post("/v1/stress/score", json={"venue": "kraken", "rows": feature_rows()})
            assert ok.status_code == 200 and len(ok.json()["items"][0]["scores"]) == 2
            bad = c.post("/v1/stress/score", content=b"{nope", headers={"content-type": "application/json"})
            assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]["message"]
            assert c.get("/v1/stress/index").status_code == 200
            assert "fedrisk_http_requests_total" in c.get("/metrics").text
            assert c.get("/healthz").status_code == 200  # still serving after the bad request
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode in (0, -signal.SIGINT), proc.returncode


def test_serve_cli_refuses_a_bad_run_dir(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fedrisk.cli.app", "serve", "--run", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 9 and "no saved stress model" in out.stderr
