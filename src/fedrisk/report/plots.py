"""PNG plots of a stress run, drawn from ``results.json`` and ``stress_index.csv`` only.

Colours come from the Okabe–Ito palette (colour-blind safe); every axis is labelled with its unit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

OKABE_ITO = {
    "local": "#E69F00",
    "federated": "#0072B2",
    "finetuned": "#009E73",
    "central": "#CC79A7",
    "heuristic": "#999999",
    "alarm": "#D55E00",
    "episode": "#F0E442",
    "market": "#000000",
    "BTC": "#E69F00",
    "ETH": "#56B4E9",
    "LTC": "#009E73",
    "XRP": "#CC79A7",
}


def plot_member_quality(stress: dict[str, Any], path: Path) -> Path:
    """Grouped bars: test AUPRC per member for local, federated, fine-tuned, centralised, heuristic."""
    rows = [r for r in stress["members"] if r.get("auprc_federated") is not None]
    keys = ["local", "federated", "finetuned", "central", "heuristic"]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.16
    x = np.arange(len(rows))
    for i, key in enumerate(keys):
        vals = [r.get(f"auprc_{key}") or 0.0 for r in rows]
        ax.bar(x + (i - 2) * width, vals, width, label=key, color=OKABE_ITO[key])
    rates = [r.get("test_event_rate") or 0.0 for r in rows]
    ax.scatter(x, rates, marker="_", s=400, color="black", label="event rate (random AUPRC)", zorder=3)
    ax.set_xticks(x, [r["member"] for r in rows])
    ax.set_ylabel("test AUPRC (area under precision-recall)")
    ax.set_title("Illiquid-stress warning quality per member, test period 2019H2")
    ax.legend(ncol=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_onboarding(stress: dict[str, Any], path: Path) -> Path:
    """Median AUPRC of a joining member against months of own history."""
    rows = stress.get("onboarding") or []
    fig, ax = plt.subplots(figsize=(6.5, 4))
    months = [r["months"] for r in rows]
    for key in ("local", "federated", "finetuned"):
        vals = [r.get(f"auprc_{key}_median") for r in rows]
        pts = [(m, v) for m, v in zip(months, vals, strict=True) if v is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=key, color=OKABE_ITO[key])
    ax.set_xlabel("months of the joining member's own history")
    ax.set_ylabel("median test AUPRC over members")
    ax.set_title("Onboarding: what a new member gets on day one")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_index(index: pd.DataFrame, stress: dict[str, Any], path: Path, consensus: pd.DataFrame | None = None) -> Path:
    """The stress index over the test period per asset, with the market index, episodes and alarms."""
    warning = stress.get("index", {}).get("warning", {}).get("assets", {})
    assets = [a for a in ("BTC", "ETH", "LTC", "XRP") if a in set(index["asset"])]
    fig, axes = plt.subplots(len(assets) + 1, 1, figsize=(11, 2.1 * (len(assets) + 1)), sharex=True)
    axes = np.atleast_1d(axes)
    market = index[index["asset"] == "MARKET"]
    axes[0].plot(market["ts_utc"], market["index"], color=OKABE_ITO["market"], lw=0.8)
    axes[0].set_ylabel("market\nindex (0-100)")
    axes[0].set_title("Liquidity stress index (federated model, mean of >= 3 members), test period")
    for ax, asset in zip(axes[1:], assets, strict=True):
        sub = index[index["asset"] == asset]
        ax.plot(sub["ts_utc"], sub["index"], color=OKABE_ITO[asset], lw=0.8, label=f"{asset} index")
        if consensus is not None:
            ep = consensus[(consensus["asset"] == asset) & consensus["consensus"]]
            ep = ep[(ep["ts_utc"] >= sub["ts_utc"].min()) & (ep["ts_utc"] <= sub["ts_utc"].max())]
            for ts in ep["ts_utc"]:
                ax.axvspan(ts, ts + pd.Timedelta(hours=1), color=OKABE_ITO["episode"], alpha=0.6, lw=0)
        thr = warning.get(asset, {}).get("alarm_threshold")
        if thr is not None:
            ax.axhline(thr, color=OKABE_ITO["alarm"], ls="--", lw=0.8, label="alarm level (5 % false alarms)")
        ax.set_ylabel(f"{asset}\nindex (0-100)")
        ax.legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("hour (UTC); shaded: hours most members flag illiquid stress")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_rounds(stress: dict[str, Any], path: Path) -> Path:
    """Federated validation loss per round for FedAvg and FedProx."""
    jobs = stress.get("federation", {}).get("jobs", {})
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, color in (("federated", OKABE_ITO["federated"]), ("fedprox", OKABE_ITO["finetuned"])):
        hist = jobs.get(name, {}).get("history", [])
        pts = [(h["round"], h["val_loss"]) for h in hist if h.get("val_loss") is not None]
        if pts:
            ax.plot(
                *zip(*pts, strict=True), marker="o", color=color, label="FedAvg" if name == "federated" else "FedProx"
            )
    ax.set_xlabel("round")
    ax.set_ylabel("validation log loss (members' weighted mean)")
    ax.set_title("Federated training")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
