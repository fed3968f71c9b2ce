"""``fedrisk stream``: order-book streams (replay of recorded order events)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedrisk.cli._common import console, print_json

app = typer.Typer(help="Order-book streams: rebuild the book, compute features, score and alert.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Order-book streams."""


@app.command()
def replay(
    events: Annotated[Path, typer.Option("--events", help="Bitstamp events folder (or a .log/.csv/LOBSTER file).")],
    interval: Annotated[float, typer.Option("--interval", help="Feature interval, seconds.")] = 60.0,
    calibration_min: Annotated[
        float, typer.Option("--calibration-min", help="Minutes at the start used to calibrate the score.")
    ] = 60.0,
    quantile: Annotated[float, typer.Option(help="Alert threshold: this quantile of calibration scores.")] = 0.99,
    seed_snapshot: Annotated[
        bool, typer.Option("--seed-snapshot", help="Seed the book with the first exchange snapshot.")
    ] = False,
    speed: Annotated[
        float | None, typer.Option(help="Replay at this multiple of real time (default: as fast as possible).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write every interval's features and score (CSV).")] = None,
    every: Annotated[bool, typer.Option("--every", help="Print every interval, not only alerts.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Rebuild the order book from real order events, score each interval as it closes, print alerts."""
    from fedrisk.errors import ConfigError
    from fedrisk.serving.book_features import Scored
    from fedrisk.serving.replay import alert_line, scored_frame
    from fedrisk.serving.replay import replay as run_replay

    if interval <= 0 or calibration_min < 0 or not 0 < quantile < 1:
        raise ConfigError("--interval must be > 0, --calibration-min >= 0 and 0 < --quantile < 1")

    def show(s: Scored) -> None:
        if json_out:
            return
        if s.alert:
            a = alert_line(s)
            console.print(
                f"[bold red]ALERT[/] {a['start']} liquidity stress {a['score']:.2f} > {a['threshold']:.2f} "
                f"(drivers: {', '.join(a['drivers'])}) spread {a['spread_bps']} bps, depth±1% {a['depth_100bps']} "
                f"BTC, imbalance {a['imbalance_10']}, OFI {a['ofi_btc']} BTC, cancel rate {a['cancel_rate']}"
            )
        elif every:
            state = "calibrating" if s.calibrating else f"threshold {s.threshold:.2f}"
            console.print(f"{int(s.row['start_ms'])} score {s.score:.2f} ({state})")

    report, scored = run_replay(
        events,
        interval_s=interval,
        calibration_s=calibration_min * 60.0,
        quantile=quantile,
        seed_snapshot=seed_snapshot,
        speed=speed,
        on_interval=show,
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        scored_frame(scored).to_csv(out, index=False)
    summary = report.to_dict()
    if json_out:
        print_json(summary)
        return
    book = report.book
    console.print(
        f"{report.source}: {report.events} events + {report.snapshots} snapshots, {report.first_ts} → "
        f"{report.last_ts}; {report.intervals} intervals of {interval:g} s, {report.alerts} alert(s) "
        f"(threshold {report.threshold:.3f} from the first {calibration_min:g} min)"
    )
    console.print(
        f"throughput: {report.events_per_s:,.0f} events/s end to end (read + parse + book + features + score), "
        f"{report.process_events_per_s:,.0f} events/s book + features + score; per event p50 "
        f"{report.push_p50_us} µs, p99 {report.push_p99_us} µs"
    )
    console.print(
        f"book vs exchange snapshots: top of book agrees {book['top_of_book_agreement']:.1%}, top 5 levels "
        f"{book['top5_agreement']:.1%} of {book['snapshots_compared']} snapshots; {book['stale_orders_purged']} stale "
        f"order(s) purged, {book['unknown_deletes']} deletions of orders from before the recording"
    )
    if out is not None:
        console.print(f"features and scores: {out}")
