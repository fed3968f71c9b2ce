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
    if months:
        ax.set_xticks(months)
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
    styles = (("federated", OKABE_ITO["federated"], "o", "-"), ("fedprox", OKABE_ITO["finetuned"], "s", "--"))
    rounds: set[int] = set()
    for name, color, marker, ls in styles:
        hist = jobs.get(name, {}).get("history", [])
        pts = [(h["round"], h["val_loss"]) for h in hist if h.get("val_loss") is not None]
        if pts:
            rounds.update(int(r) for r, _ in pts)
            label = "FedAvg" if name == "federated" else "FedProx"
            ax.plot(*zip(*pts, strict=True), marker=marker, ls=ls, color=color, label=label, alpha=0.85)
    if rounds:
        ax.set_xticks(sorted(rounds))
    ax.set_xlabel("round")
    ax.set_ylabel("validation log loss (members' weighted mean)")
    ax.set_title("Federated training")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- figures of the HTML report (``fedrisk report``); the functions above are the demo's PNGs ---

MEMBER_CYCLE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
"""Okabe–Ito colours for members, in order (colour-blind safe); markers differ too for greyscale prints."""
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_index_alarms(
    index: pd.DataFrame, alarm_levels: dict[str, float], path: Path, episodes: pd.DataFrame | None = None
) -> Path:
    """The index per asset and the market index, alarm levels, alarm hours (ticks) and episode onsets (lines).

    Assets with no published hour (held by fewer than 3 members) get no panel. ``episodes``: optional frame with
    ``asset`` and ``onset_utc`` columns.
    """
    from matplotlib.lines import Line2D

    published = index.dropna(subset=["index"])
    assets = [a for a in ("MARKET", "BTC", "ETH", "LTC", "XRP") if a in set(published["asset"])]
    assets += sorted(set(published["asset"]) - set(assets))
    fig, axes = plt.subplots(len(assets), 1, figsize=(11, 1.8 * len(assets) + 0.9), sharex=True, squeeze=False)
    top = float(published["index"].max()) * 1.15 if not published.empty else 100.0
    for ax, asset in zip(axes[:, 0], assets, strict=True):
        sub = published[published["asset"] == asset]
        ax.plot(sub["ts_utc"], sub["index"], color=OKABE_ITO.get(asset, OKABE_ITO["market"]), lw=0.7)
        ax.set_ylim(0, top * 1.06)
        thr = alarm_levels.get(asset)
        if thr is not None:
            ax.axhline(thr, color=OKABE_ITO["alarm"], ls="--", lw=0.9)
            hot = sub[sub["index"] >= thr]
            ax.plot(hot["ts_utc"], np.full(len(hot), top), "|", color=OKABE_ITO["alarm"], ms=7)
        if episodes is not None and not episodes.empty:
            for ts in episodes[episodes["asset"] == asset]["onset_utc"]:
                ax.axvline(ts, color="#555555", ls=":", lw=1.1)
        ax.set_ylabel(f"{'market' if asset == 'MARKET' else asset}\nindex (0-100)")
    handles = [
        Line2D([], [], color=OKABE_ITO["alarm"], ls="--", label="alarm level (5 % false alarms on validation)"),
        Line2D([], [], color=OKABE_ITO["alarm"], marker="|", ls="", ms=9, label="alarm hour (index at/above level)"),
    ]
    if episodes is not None and not episodes.empty:
        handles.append(Line2D([], [], color="#555555", ls=":", label="stress episode onset"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.07, 0.975), ncol=len(handles), fontsize=8)
    axes[-1, 0].set_xlabel("hour (UTC), test period")
    fig.suptitle("Liquidity stress index: 100 × mean stress probability over ≥ 3 members", x=0.07, y=0.998, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_lead_times(members: list[dict[str, Any]], path: Path) -> Path:
    """Episodes detected in time (share) per member, local vs federated, annotated with the median lead (hours)."""
    fig, ax = plt.subplots(figsize=(9, 3.8))
    x = np.arange(len(members))
    for i, key in enumerate(("local", "federated")):
        rates = [100 * (m.get(key, {}).get("detection_rate") or 0.0) for m in members]
        bars = ax.bar(x + (i - 0.5) * 0.38, rates, 0.38, color=OKABE_ITO[key], label=f"{key} model")
        for bar, m in zip(bars, members, strict=True):
            lead = m.get(key, {}).get("median_lead_hours")
            text = "n/a" if lead is None else f"{lead:g} h"
            ax.annotate(
                text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=7
            )
    ax.set_xticks(x, [m["member"] for m in members])
    ax.set_ylim(0, 110)
    ax.set_ylabel("episodes warned of in time (%)")
    ax.set_title(
        "Early warning per member: share of stress episodes alarmed within 24 h before onset\n"
        "(label on bar: median lead time in hours)",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_epsilon(spent: dict[str, tuple[tuple[int, float], ...]], budgets: dict[str, float], path: Path) -> Path:
    """Cumulative ε spent per member over rounds, with each member's budget ε_max (dashed)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, (member, pts) in enumerate(spent.items()):
        color = MEMBER_CYCLE[i % len(MEMBER_CYCLE)]
        rounds, eps = zip(*pts, strict=True) if pts else ((), ())
        ax.plot(rounds, eps, marker=MARKERS[i % len(MARKERS)], color=color, label=member)
        if member in budgets:
            ax.axhline(budgets[member], color=color, ls="--", lw=0.8)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("round")
    ax.set_ylabel("ε spent so far (cumulative, PLD)")
    ax.set_title("Privacy spent per member (dashed: budget ε_max)")
    ax.legend(fontsize=8, ncol=2)
    return _save(fig, path)


def plot_contribution(rows: list[dict[str, Any]], metric: str, path: Path) -> Path:
    """Left: Shapley value per member (± standard error); right: reward share (%)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    names = [r["member"] for r in rows]
    y = np.arange(len(rows))
    colors = [MEMBER_CYCLE[i % len(MEMBER_CYCLE)] for i in range(len(rows))]
    ax1.barh(y, [r["shapley"] for r in rows], xerr=[r["std_error"] for r in rows], color=colors, capsize=3)
    ax1.axvline(0, color="black", lw=0.8)
    ax1.set_yticks(y, names)
    ax1.set_xlabel(f"Shapley value ({metric} points added)")
    ax1.set_title("Contribution (Shapley value)")
    ax2.barh(y, [100 * r["reward_share"] for r in rows], color=colors)
    ax2.set_yticks(y, names)
    ax2.set_xlabel("share of the reward pool (%)")
    ax2.set_title("Reward share")
    ax1.invert_yaxis()
    ax2.invert_yaxis()
    return _save(fig, path)


def plot_loo(rows: list[dict[str, Any]], metric: str, path: Path) -> Path:
    """Leave-one-member-out delta v(N) − v(N without m) per member; withheld members are left out."""
    shown = [r for r in rows if r.get("loo") is not None]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(shown) + 1.6))
    y = np.arange(len(shown))
    vals = [r["loo"] for r in shown]
    ax.barh(y, vals, color=[OKABE_ITO["federated"] if v >= 0 else OKABE_ITO["alarm"] for v in vals])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [r["member"] for r in shown])
    ax.set_xlabel(f"{metric} lost when the member leaves (points; negative: better without it)")
    ax.invert_yaxis()
    ax.set_title("Leave-one-member-out")
    return _save(fig, path)
