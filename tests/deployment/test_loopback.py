"""A real deployed federation on loopback: coordinator + member nodes as separate processes, TLS, node auth.

One scenario, run once (module fixture), every process started through the CLI and killed by PID:

- ``fedrisk coordinator serve`` (SuperLink with TLS + node authentication, members' keys registered, one plan);
- four ``fedrisk node start`` members (alpha, beta, gamma, delta) with their own data dirs and keys;
- an intruder node ``eve`` whose key was never registered;
- plan: job ``three`` (alpha, beta, gamma; 2 rounds) is compared with the simulation engine on the same seed;
  job ``kill`` (all four; 2 rounds, longer local training) loses delta, killed with SIGKILL mid-round.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedrisk.federation.coordinator import JobOutcome
from fedrisk.federation.deploy import Processes, run_loopback
from fedrisk.federation.deploy_app import plan_to_json
from fedrisk.federation.pki import init_pki, write_node_key
from fedrisk.federation.plan import FederationPlan, Job, TrainSettings
from synthetic import SIM_SPLIT, SIM_VENUES, write_data_dir

pytestmark = pytest.mark.federation
VENUES = SIM_VENUES
SPLIT = SIM_SPLIT
FAST = TrainSettings(rounds=2, local_steps=5, batch_size=64, window=12, hidden=8)
THREE = Job("three", ("alpha", "beta", "gamma"), settings=FAST)
SLOW = TrainSettings(rounds=2, local_steps=150, batch_size=64, window=12, hidden=8)
KILL = Job("kill", tuple(VENUES), settings=SLOW, select_by_validation=False)
ROUND_TIMEOUT_S = 10.0


@dataclass
class Scenario:
    root: Path
    report: dict[str, Any]
    logs: dict[str, str] = field(default_factory=dict)
    killed_at_s: float | None = None


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("deploy")
    pki = init_pki(root / "pki", list(VENUES))
    eve_keys = root / "eve-keys"
    write_node_key(eve_keys, "eve")  # a valid key that the coordinator never registered
    shutil.copy(pki.ca_cert, eve_keys / "ca.crt")
    data = {m: write_data_dir(root / f"data-{m}", {m: VENUES.get(m, ("BTC",))}, n_hours=2700) for m in [*VENUES, "eve"]}
    plan = FederationPlan(members=tuple(VENUES), split=SPLIT, jobs=(THREE, KILL))
    scenario = Scenario(root=root, report={})

    def kill_delta_mid_round(out: Path, procs: Processes, elapsed: float) -> None:
        # Job "kill" starts right after job "three" is written; its members train 150 steps: kill delta 1 s in.
        if scenario.killed_at_s is None and (out / "three.npz").exists():
            time.sleep(1.0)
            procs.kill("delta", signal.SIGKILL)
            scenario.killed_at_s = elapsed + 1.0

    scenario.report = run_loopback(
        plan_to_json(plan),
        pki,
        data,
        root,
        keys_dirs={"eve": eve_keys},
        round_timeout_s=ROUND_TIMEOUT_S,
        node_retry_s={"eve": 0.0},
        timeout_s=300.0,
        watch=kill_delta_mid_round,
    )
    for name in [*data, "coordinator", "state/superlink"]:
        path = root / f"{name}.log"
        scenario.logs[name] = path.read_text(errors="replace") if path.exists() else ""
    return scenario


@pytest.fixture(scope="module")
def simulated(scenario: Scenario) -> JobOutcome:
    """Job ``three`` on the simulation engine, same seed and data (members' data dirs merged into one)."""
    from fedrisk.federation.runner import run_plan

    merged = scenario.root / "data-merged"
    for member in ("alpha", "beta", "gamma"):
        shutil.copytree(scenario.root / f"data-{member}", merged, dirs_exist_ok=True)
    plan = FederationPlan(members=("alpha", "beta", "gamma"), split=SPLIT, sim_data_dir=str(merged), jobs=(THREE,))
    return run_plan(plan)[0]


def _job(scenario: Scenario, name: str) -> dict[str, Any]:
    jobs = {j["name"]: j for j in scenario.report.get("outcome", {}).get("jobs", [])}
    assert name in jobs, f"job {name} missing; coordinator log tail: {scenario.logs.get('coordinator', '')[-2000:]}"
    job: dict[str, Any] = jobs[name]
    return job


def test_the_run_completes_with_tls_and_node_auth(scenario: Scenario) -> None:
    report = scenario.report
    assert report.get("status") == "finished:completed", scenario.logs.get("coordinator", "")[-3000:]
    assert sorted(report["registered"]) == sorted(VENUES)  # eve's key is not registered
    assert report["healthy_s"] < 30 and report["nodes_online_s"] < 120
    assert report["coordinator_rc"] == 0
    assert "SuperNode authentication is disabled" not in scenario.logs["state/superlink"]


def test_deployed_rounds_match_the_simulation(scenario: Scenario, simulated: JobOutcome) -> None:
    three = _job(scenario, "three")
    deployed_loss = [h["val_loss"] for h in three["history"]]
    simulated_loss = [float(h.val_loss or "nan") for h in simulated.history]
    assert [h["status"] for h in three["history"]] == ["committed", "committed"]
    assert [h["members"] for h in three["history"]] == [3, 3]
    assert np.allclose(deployed_loss, simulated_loss, atol=1e-5), (deployed_loss, simulated_loss)
    weights = np.load(scenario.root / "out" / "three.npz")
    deployed = [weights[k] for k in sorted(weights.files, key=lambda k: int(k.split("_")[1]))]
    assert max(float(np.abs(a - b).max()) for a, b in zip(deployed, simulated.weights, strict=True)) < 1e-5


def test_each_member_logs_what_it_sent(scenario: Scenario) -> None:
    three = _job(scenario, "three")
    for member in ("alpha", "beta", "gamma"):
        lines = (scenario.root / "outbound" / member / "three" / f"{member}.jsonl").read_text().splitlines()
        sent = [json.loads(line) for line in lines if '"sent"' in line]
        assert [s["round"] for s in sent] == [1, 2]
        assert all(s["privacy"] == {"mode": "plain"} and s["size"] == three["n_parameters"] * 4 for s in sent)
        claims = [h["claims"][member] for h in three["history"]]
        assert [c["sha256"] for c in claims] == [s["sha256"] for s in sent]


def test_a_member_killed_mid_round_is_left_out_and_the_next_round_runs(scenario: Scenario) -> None:
    assert scenario.killed_at_s is not None
    kill = _job(scenario, "kill")
    assert [h["status"] for h in kill["history"]] == ["committed", "committed"]
    assert kill["history"][-1]["members"] == 3  # delta is gone; quorum of 3 is met
    assert all(m in ("alpha", "beta", "gamma") for m in kill["history"][-1]["claims"])


def test_an_unregistered_node_is_refused(scenario: Scenario) -> None:
    assert "eve" not in scenario.report["registered"]
    assert all("eve" not in h["claims"] for j in scenario.report["outcome"]["jobs"] for h in j["history"])
    assert scenario.report["node_rc"]["eve"] not in (None, 0)  # it gave up: the SuperLink refused to activate it
    assert "Failed to activate SuperNode" in scenario.logs["eve"], scenario.logs["eve"][-2000:]


def test_sigterm_to_the_coordinator_stops_its_superlink(tmp_path: Path) -> None:
    import subprocess
    import sys

    from fedrisk.federation.deploy import free_port, offline_env

    pki = init_pki(tmp_path / "pki", ["a", "b", "c"])
    port = free_port()
    argv = [sys.executable, "-m", "fedrisk.cli.app", "coordinator", "serve", "--pki", str(pki.root),
            "--state-dir", str(tmp_path / "state"), "--port", str(port)]  # fmt: skip
    with open(tmp_path / "err.log", "wb") as err:
        proc = subprocess.Popen(argv, stderr=err, stdout=subprocess.DEVNULL, env=offline_env(), start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while "SuperLink ready" not in (tmp_path / "err.log").read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "err.log").read_text()
            time.sleep(0.2)
        link_log = (tmp_path / "state" / "superlink.log").read_text()
        link_pid = int(link_log.split("Started server process [")[1].split("]")[0])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) != 0
        time.sleep(1.0)
        assert not Path(f"/proc/{link_pid}").exists() or "zombie" in Path(f"/proc/{link_pid}/status").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
