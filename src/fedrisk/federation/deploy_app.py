"""The coordinator's ServerApp on Flower's deployment engine (SuperLink), and the plan codec it reads.

``flwr run deploy/flower-app`` submits a Flower app whose components are this module's ``server`` and
``member`` (:data:`fedrisk.federation.member_node.app` behind the packed transport): the same coordinator
(:func:`~fedrisk.federation.coordinator.coordinate`) and member node the simulation runs. The run config carries:

- ``plan``: the :class:`~fedrisk.federation.plan.FederationPlan` as JSON (:func:`plan_to_json`);
- ``out-dir``: a directory on the coordinator's host where each finished job is written
  (``outcome.json`` with the round history and ``<job>.npz`` with the chosen weights);
- ``poll-s``: how often the coordinator polls the SuperLink for replies (Flower's own grid polls every 3 s);
- ``round-timeout-s``: the longest a phase of a round waits for replies; members that have not replied by
  then are left out and the minimum-cohort rule decides whether the round publishes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict
from logging import INFO, WARNING
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from flwr.app import Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp
from flwr.supercore import log as flwr_log

from fedrisk._env import quiet_and_offline
from fedrisk.errors import ConfigError
from fedrisk.features.panel import Split
from fedrisk.federation.coordinator import JobOutcome, coordinate
from fedrisk.federation.member_node import app as member_app
from fedrisk.federation.plan import FederationPlan, Job, TrainSettings
from fedrisk.federation.wire import PackedClientApp, pack_message, tune_object_pulls, unpack_message

quiet_and_offline()
_log = logging.getLogger(__name__)

DEFAULT_POLL_S = 0.1
DEFAULT_ROUND_TIMEOUT_S = 600.0


def plan_to_json(plan: FederationPlan) -> str:
    """A plan as compact JSON (what travels in the run config)."""
    doc: dict[str, Any] = {
        "members": list(plan.members),
        "split": {**plan.split.as_dict(), "horizon": plan.split.horizon},
        "outbound_dir": plan.outbound_dir,
        "jobs": [
            {
                "name": j.name,
                "cohort": list(j.cohort),
                "strategy": j.strategy,
                "settings": asdict(j.settings),
                "months": [[m, k] for m, k in j.months],
                "init_from": j.init_from,
                "select_by_validation": j.select_by_validation,
                "drill_drop": list(j.drill_drop),
                "drill_from_round": j.drill_from_round,
            }
            for j in plan.jobs
        ],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def plan_from_json(text: str) -> FederationPlan:
    """The plan of :func:`plan_to_json` (``sim_data_dir`` is always empty: deployed members use their own)."""
    try:
        doc = json.loads(text)
        split = doc["split"]
        jobs = tuple(
            Job(
                name=str(j["name"]),
                cohort=tuple(str(m) for m in j["cohort"]),
                strategy=j["strategy"],
                settings=TrainSettings(**j["settings"]),
                months=tuple((str(m), float(k)) for m, k in j["months"]),
                init_from=j["init_from"],
                select_by_validation=bool(j["select_by_validation"]),
                drill_drop=tuple(str(m) for m in j["drill_drop"]),
                drill_from_round=int(j["drill_from_round"]),
            )
            for j in doc["jobs"]
        )
        return FederationPlan(
            members=tuple(str(m) for m in doc["members"]),
            jobs=jobs,
            split=Split(
                train_start=pd.Timestamp(split["train_start"]),
                val_start=pd.Timestamp(split["val_start"]),
                test_start=pd.Timestamp(split["test_start"]),
                test_end=pd.Timestamp(split["test_end"]),
                horizon=int(split["horizon"]),
            ),
            outbound_dir=str(doc.get("outbound_dir", "")),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"the run config's plan is not a valid fedrisk plan: {err!r}") from err


class FastGrid(Grid):
    """A Grid that polls for replies every ``poll_s`` seconds and waits at most ``timeout_s`` per phase.

    Flower's deployment Grid polls the SuperLink every 3 s, which alone adds up to 6 s to a round with a
    training and an evaluation phase. Models travel packed into one array (:mod:`fedrisk.federation.wire`).
    Everything else is delegated to the wrapped Grid.
    """

    def __init__(self, inner: Grid, *, poll_s: float = DEFAULT_POLL_S, timeout_s: float = DEFAULT_ROUND_TIMEOUT_S):
        if poll_s <= 0 or timeout_s <= 0:
            raise ConfigError(f"poll_s and timeout_s must be > 0, got {poll_s}, {timeout_s}")
        self.inner, self.poll_s, self.timeout_s = inner, poll_s, timeout_s

    def set_run(self, run: Any) -> None:
        """Delegate."""
        self.inner.set_run(run)

    @property
    def run(self) -> Any:
        """Delegate."""
        return self.inner.run

    def create_message(
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str, ttl: float | None = None
    ) -> Message:
        """Delegate."""
        return self.inner.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        """Delegate."""
        return self.inner.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Send messages with their models packed into one array each (:mod:`fedrisk.federation.wire`)."""
        return self.inner.push_messages([pack_message(m) for m in messages])

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """Replies, unpacked."""
        return [unpack_message(m) for m in self.inner.pull_messages(message_ids)]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        """Push, then poll every ``poll_s`` until every reply is in or the (capped) timeout passes."""
        wait = self.timeout_s if timeout is None else min(timeout, self.timeout_s)
        pending = set(self.push_messages(messages))
        deadline = time.monotonic() + wait
        replies: list[Message] = []
        while pending:
            got = list(self.pull_messages(pending))
            replies.extend(got)
            pending -= {m.metadata.reply_to_message_id for m in got}
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(self.poll_s)
        if pending:
            flwr_log(WARNING, "%s message(s) got no reply within %.0f s; those nodes are left out", len(pending), wait)
        flwr_log(INFO, "fedrisk phase: %s replies in %.2f s", len(replies), wait - (deadline - time.monotonic()))
        return replies


def _sha256(weights: list[np.ndarray]) -> str:
    return hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in weights)).hexdigest()


def write_outcome(out_dir: Path, outcome: JobOutcome) -> None:
    """Add a finished job to ``out_dir/outcome.json`` and save its weights as ``<job>.npz``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out_dir / f"{outcome.job.name}.npz", *outcome.weights)
    path = out_dir / "outcome.json"
    doc = json.loads(path.read_text()) if path.exists() else {"jobs": []}
    doc["jobs"].append(
        {
            "name": outcome.job.name,
            "best_round": outcome.best_round,
            "n_parameters": outcome.n_parameters,
            "weights_sha256": _sha256(outcome.weights),
            "history": [asdict(h) for h in outcome.history],
        }
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=float))
    tmp.replace(path)


def run_config_value(context: Context, key: str, default: object = None) -> Any:
    """A run-config value, or ``default``; a missing required value is a clear error."""
    if key in context.run_config:
        return context.run_config[key]
    if default is None:
        raise ConfigError(f"the run config has no '{key}' (submit with `fedrisk coordinator serve` or set it)")
    return default


server = ServerApp()
member = PackedClientApp(member_app)
"""The member ClientApp as deployed: :data:`fedrisk.federation.member_node.app` behind the packed transport."""


@server.main()
def main(grid: Grid, context: Context) -> None:
    """Run the plan of the run config on the connected member nodes and write each job's outcome."""
    plan = plan_from_json(str(run_config_value(context, "plan")))
    out_dir = Path(str(run_config_value(context, "out-dir")))
    fast = FastGrid(
        grid,
        poll_s=float(run_config_value(context, "poll-s", DEFAULT_POLL_S)),
        timeout_s=float(run_config_value(context, "round-timeout-s", DEFAULT_ROUND_TIMEOUT_S)),
    )
    tune_object_pulls()
    started = time.perf_counter()
    coordinate(fast, plan, lambda outcome: write_outcome(out_dir, outcome))
    _log.info("plan finished in %.1f s", time.perf_counter() - started)
