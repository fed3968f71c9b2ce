"""The plain-language summary at the top of the report, written from the run's own numbers.

It says where federation does not pay as plainly as where it does; nothing here is tuned or rounded up.
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import median
from typing import Any

from fedrisk.report.rundir import as_float, as_list, as_mapping

MODEL_NAMES = {
    "local": "local-only model",
    "federated": "federated model",
    "finetuned": "federated model fine-tuned locally",
    "central": "centralised model (pooled data, reference only)",
    "fedprox": "FedProx model",
    "heuristic": "no-training heuristic",
    "logreg_local": "local logistic regression",
    "logreg_central": "centralised logistic regression",
    "lgbm_local": "local LightGBM",
    "lgbm_central": "centralised LightGBM",
}


def _names(members: list[str]) -> str:
    if not members:
        return "none"
    return members[0] if len(members) == 1 else ", ".join(members[:-1]) + " and " + members[-1]


def _evaluated(stress: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rows = [as_mapping(r) for r in as_list(stress.get("members"))]
    return [r for r in rows if as_float(r.get("auprc_federated")) is not None and as_float(r.get("auprc_local"))]


def _gain_sentences(rows: list[Mapping[str, Any]], summary: Mapping[str, Any]) -> list[str]:
    gains = {str(r["member"]): float(r["auprc_federated"]) - float(r["auprc_local"]) for r in rows}
    better = [m for m, g in gains.items() if g > 0]
    n = len(gains)
    med = median(gains.values())
    worse_sig = [str(m) for m in as_list(summary.get("members_significantly_worse"))]
    better_sig = [str(m) for m in as_list(summary.get("members_significantly_better"))]
    if not better:
        head = (
            f"Federation did not pay in this run: none of the {n} members got a better warning quality "
            f"(AUPRC) from the federated model than from a model trained on its own data alone "
            f"(median change {med:+.3f})."
        )
    elif len(better) == n:
        head = f"Federation paid for every member: all {n} gained AUPRC over training alone (median {med:+.3f})."
    else:
        head = (
            f"Federation paid for {len(better)} of {n} members ({_names(better)}); the others did not gain "
            f"(median change {med:+.3f} AUPRC)."
        )
    out = [head]
    if worse_sig:
        out.append(f"The loss is beyond bootstrap noise for {_names(worse_sig)}.")
    if better_sig:
        out.append(f"The gain is beyond bootstrap noise for {_names(better_sig)}.")
    return out


def _finetune_sentence(rows: list[Mapping[str, Any]]) -> str | None:
    pairs = [(r, as_float(r.get("auprc_finetuned"))) for r in rows]
    scored = [(str(r["member"]), ft - float(r["auprc_local"])) for r, ft in pairs if ft is not None]
    if not scored:
        return None
    ahead = [m for m, g in scored if g > 0]
    return (
        f"Fine-tuning the federated model on each member's own data beat training alone for "
        f"{len(ahead)} of {len(scored)} members" + (f" ({_names(ahead)})." if ahead else ".")
    )


def _heuristic_sentence(rows: list[Mapping[str, Any]], summary: Mapping[str, Any]) -> str | None:
    if "federated_beats_heuristic" not in summary or not rows:
        return None
    beats = [str(m) for m in as_list(summary.get("federated_beats_heuristic"))]
    return (
        f"The federated model beat a no-training heuristic (recent price range) for {len(beats)} of {len(rows)} "
        "members" + (f" ({_names(beats)})." if beats else ".")
    )


def _undefined_sentence(stress: Mapping[str, Any]) -> str | None:
    rows = [as_mapping(r) for r in as_list(stress.get("members"))]
    none = [str(r.get("member")) for r in rows if as_float(r.get("auprc_federated")) is None]
    if not none:
        return None
    return f"No quality can be measured for {_names(none)}: no stress event in its test period (AUPRC undefined)."


def _central_sentence(summary: Mapping[str, Any]) -> str | None:
    pct = as_float(summary.get("federated_pct_of_central"))
    if pct is None:
        return None
    return (
        f"On average the federated model reached {pct:.0f} % of the AUPRC of a centralised model trained on "
        "everyone's pooled data (a reference no real federation may build)."
    )


def _best_model_sentence(summary: Mapping[str, Any]) -> str | None:
    means = {k: as_float(v) for k, v in as_mapping(summary.get("mean_auprc")).items()}
    scored = {k: v for k, v in means.items() if v is not None}
    if not scored:
        return None
    best = max(scored, key=lambda k: scored[k])
    if best == "federated":
        return f"The federated model has the highest mean AUPRC of all models compared ({scored[best]:.3f})."
    fed = scored.get("federated")
    fed_text = f", against {fed:.3f} for the federated model" if fed is not None else ""
    return f"The best model by mean AUPRC is the {MODEL_NAMES.get(best, best)} ({scored[best]:.3f}{fed_text})."


def _onboarding_sentence(stress: Mapping[str, Any]) -> str | None:
    rows = [as_mapping(r) for r in as_list(stress.get("onboarding"))]
    for r in rows:
        months, fed = as_float(r.get("months")), as_float(r.get("auprc_federated_median"))
        loc = as_float(r.get("auprc_local_median"))
        if months and fed is not None and loc is not None:
            n = len(as_list(r.get("members")))
            above = r.get("members_federated_above_local")
            verdict = "better" if fed > loc else "worse"
            return (
                f"A newcomer with {months:g} month(s) of its own history does {verdict} by joining "
                f"(median AUPRC {fed:.3f} federated vs {loc:.3f} alone; {above} of {n} members better off)."
            )
    return None


def _warning_sentence(stress: Mapping[str, Any]) -> str | None:
    assets = as_mapping(as_mapping(as_mapping(stress.get("index")).get("warning")).get("assets"))
    episodes = sum(int(as_float(as_mapping(v).get("episodes")) or 0) for v in assets.values())
    detected = sum(int(as_float(as_mapping(v).get("detected")) or 0) for v in assets.values())
    if not episodes:
        return None
    leads = [x for v in assets.values() if (x := as_float(as_mapping(v).get("median_lead_hours"))) is not None]
    lead = f", with a median lead of {median(leads):.0f} h across assets" if leads else ""
    return (
        f"The published stress index raised an alarm before {detected} of {episodes} market-wide stress "
        f"episodes in the test period{lead} (alarm level set for 5 % false alarms on validation)."
    )


def _absent_sentence(results: Mapping[str, Any]) -> str | None:
    labels = {
        "privacy": "privacy spent (ε)",
        "contribution": "contribution values and rewards",
        "audit": "audit verification",
        "attacks": "attack results",
    }
    present = set(results) | ({"attacks"} if "redteam" in results else set())
    missing = [label for key, label in labels.items() if key not in present]
    if not missing:
        return None
    return f"Not in this run: {_names(missing)}; their sections below say so."


def summarise(results: Mapping[str, Any]) -> tuple[str, ...]:
    """Sentences for the top of the report, from ``results.json`` (empty sections give fewer sentences)."""
    stress = as_mapping(results.get("stress"))
    summary = as_mapping(stress.get("summary"))
    rows = _evaluated(stress)
    out: list[str] = []
    if rows:
        out += _gain_sentences(rows, summary)
    else:
        out.append("No member has a federated-versus-local comparison in this run (no stress results).")
    for sentence in (
        _finetune_sentence(rows),
        _heuristic_sentence(rows, summary),
        _undefined_sentence(stress),
        _central_sentence(summary),
        _best_model_sentence(summary),
        _onboarding_sentence(stress),
        _warning_sentence(stress),
        _absent_sentence(results),
    ):
        if sentence:
            out.append(sentence)
    return tuple(out)
