"""Scoring-service bench: in-process latency and batch throughput, HTTP latency under fixed load, RSS, stream replay.

Run: ``make bench`` (or ``.venv/bin/python -m bench.bench_serving [--quick]``). The model is the quick demo run's
(``/tmp/runq`` or ``$FEDRISK_BENCH_RUN``) when present, else an untrained model of the same shape (latency
depends on the shape only). HTTP load goes to a ``fedrisk serve`` process on 127.0.0.1 only, at fixed request
rates with a concurrency cap, each level bounded in requests and seconds. Figures are printed beside the
block-time budgets (Ethereum 12 s, Solana 400 ms) and the issue's targets.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from fedrisk._env import quiet_and_offline

ROOT = Path(__file__).resolve().parents[1]
BUDGETS_MS = {"Ethereum block (12 s)": 12_000.0, "Solana slot (400 ms)": 400.0}
TARGETS = {"in_process_p99_ms": 1.0, "http_p99_ms_at_500rps": 10.0, "batch_events_per_s": 50_000.0, "rss_mb": 500.0}


def _run_dir(tmp: Path) -> tuple[Path, str]:
    given = os.environ.get("FEDRISK_BENCH_RUN", "/tmp/runq")
    if (Path(given) / "model" / "metadata.json").is_file():
        return Path(given), f"trained model of {given}"
    import torch

    from fedrisk.features.panel import ASSETS, Normaliser
    from fedrisk.features.stress import FEATURES
    from fedrisk.models.saved import SavedMember, save_model
    from fedrisk.models.stgraph import ModelConfig, STGraphNet, get_weights

    torch.manual_seed(0)
    config = ModelConfig(n_features=len(FEATURES))
    weights = get_weights(STGraphNet(config))
    graph = np.full((len(ASSETS), len(ASSETS)), 1 / 3, dtype=np.float32)
    np.fill_diagonal(graph, 0.0)
    norm = Normaliser(np.zeros(len(FEATURES)), np.ones(len(FEATURES)))
    members = {m: SavedMember(norm, graph, 0.5) for m in ("kraken", "bitstamp", "coinbase")}
    run = tmp / "run"
    save_model(
        run / "model",
        weights,
        config=config,
        features=FEATURES,
        members=members,
        pooled_normaliser=norm,
        alarm_threshold=0.5,
        index_alarm_threshold=50.0,
        extra={},
    )
    return run, "untrained model of the production shape (no demo run found)"


def _rows(
    hours: int,
    n_features: int,
    seed: int = 0,
    assets: tuple[str, ...] = ("BTC", "ETH", "LTC", "XRP"),
    start_hour: int = 434_000,
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for h in range(hours):
        ts = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime((start_hour + h) * 3600))
        for a in assets:
            out.append({"ts_utc": ts, "asset": a, "features": rng.normal(0, 1, n_features).round(5).tolist()})
    return out


def _matrix(hours: int, n_features: int, seed: int = 0, start_hour: int = 434_000) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "start_utc": time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(start_hour * 3600)),
        "assets": ["BTC", "ETH", "LTC", "XRP"],
        "values": rng.normal(0, 1, (hours, 4, n_features)).round(5).tolist(),
    }


def _pct(values: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


def in_process(run: Path, *, n_single: int) -> dict[str, float]:
    """Single-event latency (one venue-hour: a 24 h window of 4 assets) and batch throughput, no network."""
    import torch

    from fedrisk.models.saved import load_model
    from fedrisk.serving.inference import StressScorer
    from fedrisk.serving.schemas import StressScoreBatch, StressScoreItem
    from fedrisk.serving.stress import score_request

    torch.set_num_threads(1)
    scorer = StressScorer(load_model(run))
    n_f = scorer.n_features
    body = {"venue": "kraken", "rows": _rows(24, n_f), "latest_only": True}
    item = StressScoreItem.model_validate(body)
    raw = json.dumps(body)
    body_m = {"venue": "kraken", "matrix": _matrix(24, n_f), "latest_only": True}
    item_m = StressScoreItem.model_validate(body_m)
    raw_m = json.dumps(body_m)
    venue = scorer.venue("kraken")
    x = np.random.default_rng(1).normal(0, 1, (24, 4, n_f)).astype(np.float32)
    out: dict[str, float] = {}
    for label, fn in (
        ("model_only", lambda: scorer.probabilities(venue, x)),
        ("score_request_rows", lambda: score_request(scorer, item)),
        ("parse_validate_score_rows", lambda: score_request(scorer, StressScoreItem.model_validate_json(raw))),
        ("score_request_matrix", lambda: score_request(scorer, item_m)),
        ("parse_validate_score_matrix", lambda: score_request(scorer, StressScoreItem.model_validate_json(raw_m))),
    ):
        for _ in range(50):
            fn()
        lat, cpu = [], []
        for _ in range(n_single):
            c0, t0 = time.thread_time(), time.perf_counter()
            fn()
            lat.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.thread_time() - c0) * 1e3)
        out[f"single_{label}_p50_ms"] = _pct(lat, 50)
        out[f"single_{label}_p99_ms"] = _pct(lat, 99)
        # CPU time of the calling thread: what the call costs, without the waits of a shared, busy machine
        out[f"single_{label}_cpu_p50_ms"] = _pct(cpu, 50)
        out[f"single_{label}_cpu_p99_ms"] = _pct(cpu, 99)
    # batch: one venue, many consecutive hours (each hour = one event: a window of 4 assets -> 4 scores)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        hours = 20_000
        xb = np.random.default_rng(2).normal(0, 1, (hours, 4, n_f)).astype(np.float32)
        scorer.probabilities(venue, xb[:500])
        t0 = time.perf_counter()
        reps = 3
        for _ in range(reps):
            scorer.probabilities(venue, xb)
        dt = (time.perf_counter() - t0) / reps
        out[f"batch_model_events_per_s_{threads}t"] = (hours - 23) / dt
    torch.set_num_threads(1)
    # batch through the request path: 3 venues x 2,000 hours, JSON in and out, as rows and as a matrix
    for form in ("rows", "matrix"):
        items = [
            {"venue": v, form: (_rows if form == "rows" else _matrix)(2_000, n_f, seed=i)}
            for i, v in enumerate(("kraken", "bitstamp", "newex"))
        ]
        raw_batch = json.dumps({"items": items})
        t0 = time.perf_counter()
        payload = StressScoreBatch.model_validate_json(raw_batch)
        t1 = time.perf_counter()
        result = score_request(scorer, payload)
        t2 = time.perf_counter()
        json.dumps(result)
        t3 = time.perf_counter()
        events = 3 * (2_000 - 23)
        out[f"batch_request_{form}_events_per_s"] = events / (t3 - t0)
        out[f"batch_request_{form}_parse_s"] = t1 - t0
        out[f"batch_request_{form}_score_s"] = t2 - t1
        out[f"batch_request_{form}_serialise_s"] = t3 - t2
    # the naive reference: the model's own forward pass over every window (what score_frame's predict does)
    from fedrisk.models.stgraph import TorchMember, predict

    hours = 4_000
    xb = np.random.default_rng(3).normal(0, 1, (hours, 4, n_f)).astype(np.float32)
    idx = np.arange(23, hours)
    member = scorer.saved.member("kraken")
    tm = TorchMember(
        "kraken",
        torch.from_numpy(member.normaliser.apply(xb)),
        torch.zeros(hours, 4),
        torch.zeros(hours, 4, dtype=torch.bool),
        torch.from_numpy(member.graph),
        idx,
        idx,
        idx,
        24,
    )
    t0 = time.perf_counter()
    predict(scorer.saved.model, tm, idx)
    out["batch_reference_predict_events_per_s"] = len(idx) / (time.perf_counter() - t0)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = {
        line.split(":")[0]: line.split()[1] for line in status.splitlines() if line.startswith(("VmRSS", "VmHWM"))
    }
    return int(fields["VmRSS"]) / 1024.0, int(fields["VmHWM"]) / 1024.0


async def _load(port: int, body: bytes, rate: float, duration: float, concurrency: int) -> dict[str, float]:
    """Open loop: request i is due at i / rate, sent on one of ``concurrency`` keep-alive connections.

    A minimal HTTP/1.1 client on asyncio streams (pre-built request bytes, Content-Length responses): it costs
    the machine a small fraction of what a general client costs, so the two cores go to the server. Bounded:
    ``rate x duration`` requests, and a hard stop at 3 x duration.
    """
    n = int(rate * duration)
    request = (
        b"POST /v1/stress/score HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    conns: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(concurrency):
        conns.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    lat: list[float] = []
    errors = 0
    late = 0

    async def one(due: float) -> None:
        nonlocal errors
        reader, writer = await conns.get()
        try:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if status != 200:
                errors += 1
            lat.append((time.perf_counter() - due) * 1e3)  # from when it was due: queueing counts
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            conns.put_nowait((reader, writer))

    start = time.perf_counter()
    tasks = []
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.05:
            late += 1
        tasks.append(asyncio.create_task(one(due)))
        if time.perf_counter() - start > duration * 3:  # hard stop: never run away
            break
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    wall = time.perf_counter() - start
    while not conns.empty():
        _, writer = conns.get_nowait()
        writer.close()
    return {
        "rate_target": rate,
        "requests": len(lat),
        "achieved_rps": len(lat) / wall,
        "p50_ms": _pct(lat, 50),
        "p99_ms": _pct(lat, 99),
        "max_ms": max(lat) if lat else float("nan"),
        "errors": errors,
        "sent_late": late,
    }


def http(run: Path, *, rates: tuple[float, ...], duration: float, concurrency: int) -> dict[str, Any]:
    """HTTP latency of a real `fedrisk serve` process on loopback under fixed request rates."""
    import httpx

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fedrisk.cli.app",
            "serve",
            "--run",
            str(run),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in 120 s")
            time.sleep(0.2)
        n_f = len(httpx.get(f"{base}/v1/models/stress").json()["features"])
        # the real-time call: the last 24 hours of 4 assets as a matrix, the current hour's scores back
        body = json.dumps({"venue": "kraken", "matrix": _matrix(24, n_f), "latest_only": True}).encode()
        rss_idle, _ = _rss_mb(proc.pid)
        asyncio.run(_load(port, body, 50, 2, concurrency))  # warm-up
        levels = []
        for r in rates:
            c0 = _cpu_s(proc.pid)
            level = asyncio.run(_load(port, body, r, duration, concurrency))
            level["server_cpu_ms_per_request"] = (_cpu_s(proc.pid) - c0) * 1e3 / max(level["requests"], 1)
            levels.append(level)
        big = json.dumps(
            {
                "items": [
                    {"venue": v, "matrix": _matrix(2_000, n_f, seed=i)}
                    for i, v in enumerate(("kraken", "bitstamp", "newex"))
                ]
            }
        ).encode()
        t0 = time.perf_counter()
        r = httpx.post(
            f"{base}/v1/stress/score", content=big, headers={"content-type": "application/json"}, timeout=120
        )
        big_s = time.perf_counter() - t0
        assert r.status_code == 200, r.text[:300]
        rss, hwm = _rss_mb(proc.pid)
        return {
            "levels": levels,
            "body_bytes": len(body),
            "concurrency": concurrency,
            "rss_idle_mb": rss_idle,
            "rss_mb": rss,
            "rss_peak_mb": hwm,
            "batch_http_events_per_s": 3 * (2_000 - 23) / big_s,
            "batch_http_body_mb": len(big) / 1e6,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def stream() -> dict[str, Any] | None:
    data = Path(os.environ.get("FEDRISK_DATA_DIR", ROOT.parent / "shared" / "data"))
    folder = data / "bitstamp-btcusd-orderbook-events-2015-05-01"
    if not folder.is_dir():
        return None
    from fedrisk.serving.replay import replay

    report, _ = replay(folder, interval_s=60.0)
    d = report.to_dict()
    d.pop("alert_rows")
    return d


def main(quick: bool = False) -> dict[str, Any]:
    """Measure and print; return the figures."""
    quiet_and_offline()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        run, what = _run_dir(Path(tmp))
        proc = in_process(run, n_single=500 if quick else 3_000)
        rates = (50.0, 200.0) if quick else (50.0, 200.0, 500.0)
        web = http(run, rates=rates, duration=3.0 if quick else 10.0, concurrency=8)
    figures: dict[str, Any] = {
        "model": what,
        "cpus": os.cpu_count(),
        "loadavg_at_start": load,
        "in_process": proc,
        "http": web,
        "stream": stream(),
    }
    print(f"model: {what}; {os.cpu_count()} CPUs; load average at start {load[0]:.1f}")
    print("\nin process (one event = one venue-hour: a 24 h window of 4 assets -> 4 scores)")
    print("| path | p50 ms | p99 ms | CPU p50 ms | CPU p99 ms | target p99 |")
    print("|---|---|---|---|---|---|")
    for label in (
        "model_only",
        "score_request_rows",
        "parse_validate_score_rows",
        "score_request_matrix",
        "parse_validate_score_matrix",
    ):
        print(
            f"| {label} | {proc[f'single_{label}_p50_ms']:.3f} | {proc[f'single_{label}_p99_ms']:.3f} | "
            f"{proc[f'single_{label}_cpu_p50_ms']:.3f} | {proc[f'single_{label}_cpu_p99_ms']:.3f} | "
            f"{TARGETS['in_process_p99_ms']} |"
        )
    print("\nbatch throughput (events/s; target 50,000)")
    for key in (
        "batch_model_events_per_s_1t",
        "batch_model_events_per_s_2t",
        "batch_request_rows_events_per_s",
        "batch_request_matrix_events_per_s",
        "batch_reference_predict_events_per_s",
    ):
        print(f"  {key}: {proc[key]:,.0f}")
    for form in ("rows", "matrix"):
        parse, score = proc[f"batch_request_{form}_parse_s"], proc[f"batch_request_{form}_score_s"]
        print(
            f"    {form}: parse {parse:.3f} s, score {score:.3f} s, "
            f"serialise {proc[f'batch_request_{form}_serialise_s']:.3f} s"
        )
    print(
        f"  HTTP batch (3 venues x 2,000 h as matrices, {web['batch_http_body_mb']:.1f} MB JSON): "
        f"{web['batch_http_events_per_s']:,.0f} events/s"
    )
    print(
        f"\nHTTP on 127.0.0.1, one uvicorn worker, concurrency cap {web['concurrency']}, "
        f"{web['body_bytes']} B body (24 h x 4 assets of features as a matrix, latest_only)"
    )
    header = (
        "| target rps | achieved rps | requests | p50 ms | p99 ms | max ms | errors | server CPU ms/req | "
        + " | ".join(f"p99 / {k}" for k in BUDGETS_MS)
        + " |"
    )
    print(header)
    print("|" + "---|" * (8 + len(BUDGETS_MS)))
    for lv in web["levels"]:
        shares = " | ".join(f"{lv['p99_ms'] / b:.2%}" for b in BUDGETS_MS.values())
        print(
            f"| {lv['rate_target']:.0f} | {lv['achieved_rps']:.0f} | {lv['requests']} | {lv['p50_ms']:.2f} | "
            f"{lv['p99_ms']:.2f} | {lv['max_ms']:.1f} | {lv['errors']} | {lv['server_cpu_ms_per_request']:.2f} | "
            f"{shares} |"
        )
    print(
        f"\nservice RSS: idle {web['rss_idle_mb']:.0f} MB, after load {web['rss_mb']:.0f} MB, peak "
        f"{web['rss_peak_mb']:.0f} MB (target <= {TARGETS['rss_mb']:.0f} MB)"
    )
    if figures["stream"]:
        s = figures["stream"]
        print(
            f"\nstream replay (Bitstamp, {s['events']} events + {s['snapshots']} snapshots): "
            f"{s['events_per_s']:,.0f} events/s end to end, {s['process_events_per_s']:,.0f} events/s book + "
            f"features + score; push p50 {s['push_p50_us']} us, p99 {s['push_p99_us']} us"
        )
    return figures


if __name__ == "__main__":
    out = main(quick="--quick" in sys.argv)
    if "--json" in sys.argv:
        print(json.dumps(out, indent=1, default=str))
