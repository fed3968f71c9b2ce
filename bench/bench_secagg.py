"""SecAgg+ vs plain round time (5 and 10 members, 100k and 1M parameters), on the same legacy Flower path.

Run: ``.venv/bin/python -m bench.bench_secagg`` (two simulation starts; a few minutes on 2 cores).

Synthetic members train an MLP of the given size for ``LOCAL_STEPS`` SGD steps on their own random data and send
the update, through exactly the coordinator code of the stress federation (:mod:`fedrisk.federation.secagg`:
roll call, preflight, guarded ``SecAggPlusWorkflow`` or plain ``default_fit_workflow``). Plain and SecAgg+ jobs
run in the same simulation, alternating; the figure is the median over committed rounds of the fit stage
(training + aggregation). DP-SGD vs plain local training time is measured by ``bench_privacy`` (not repeated).
"""

from __future__ import annotations

import logging
import sys
import warnings

import cloudpickle  # type: ignore[import-untyped]
import numpy as np
import torch
from flwr.app import Context
from flwr.client import Client, NumPyClient
from flwr.clientapp import ClientApp
from flwr.common import Scalar
from torch import nn

from fedrisk.federation.secagg import SecureJob, SecureOutcome, optional_secaggplus_mod, run_secure
from fedrisk.privacy.secagg import SecAggParams

LOCAL_STEPS, BATCH, ROUNDS = 5, 64, 4
SIZES = {"100k": (100, 495), "1M": (1000, 500)}  # (d, hidden): 2*d*h + h + d parameters
_log = logging.getLogger(__name__)


def _mlp(d: int, h: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, d))


class _SyntheticMember(NumPyClient):
    def __init__(self, context: Context) -> None:
        self.pid = int(context.node_config["partition-id"])

    def get_properties(self, config: dict[str, Scalar]) -> dict[str, Scalar]:
        return {"member": f"m{self.pid:02d}", "n-train": 1000}

    def fit(
        self, parameters: list[np.ndarray], config: dict[str, Scalar]
    ) -> tuple[list[np.ndarray], int, dict[str, Scalar]]:
        torch.set_num_threads(1)
        d, h = int(config["d"]), int(config["h"])
        model = _mlp(d, h)
        with torch.no_grad():
            for p, w in zip(model.parameters(), parameters, strict=True):
                p.copy_(torch.from_numpy(np.asarray(w)))
        gen = torch.Generator().manual_seed(self.pid * 1000 + int(config["server-round"]))
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        for _ in range(LOCAL_STEPS):
            x = torch.randn(BATCH, d, generator=gen)
            loss = ((model(x) - x) ** 2).mean()
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        new = [p.detach().numpy().copy() for p in model.parameters()]
        return [n - o for n, o in zip(new, parameters, strict=True)], 1000, {"train-loss": float(loss)}


def _client_fn(context: Context) -> Client:
    return _SyntheticMember(context).to_client()


def _jobs(size: str, members: int) -> list[SecureJob]:
    d, h = SIZES[size]
    init = [p.detach().numpy().copy() for p in _mlp(d, h).parameters()]
    cfg: dict[str, str | int | float | bool | list[str] | list[float] | list[int]] = {"d": d, "h": h}
    jobs = [
        SecureJob(f"plain-{size}", cfg, init, rounds=ROUNDS, secagg=None),
        SecureJob(f"secagg-{size}", cfg, init, rounds=ROUNDS, secagg=SecAggParams()),
    ]
    if members >= 10:  # tuned: smaller neighbourhoods (5 shares, threshold 3, tolerates 2 dropouts)
        jobs.append(
            SecureJob(
                f"secagg5-{size}",
                cfg,
                init,
                rounds=ROUNDS,
                secagg=SecAggParams(num_shares=5, reconstruction_threshold=3),
            )
        )
    return jobs


def _median_fit(outcome: SecureOutcome) -> float:
    times = [h.fit_s for h in outcome.history if h.status == "committed"][1:]  # round 1 warms the actors up
    return float(np.median(times))


def main() -> dict[str, float]:
    """Measure, print a small table, return the figures."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers need not import bench/
    client = ClientApp(client_fn=_client_fn, mods=[optional_secaggplus_mod])
    figures: dict[str, float] = {}
    for members in (5, 10):
        jobs = [j for size in SIZES for j in _jobs(size, members)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcomes = {o.job.name: o for o in run_secure(jobs, num_members=members, client=client)}
        for size in SIZES:
            plain = _median_fit(outcomes[f"plain-{size}"])
            figures[f"plain_{members}m_{size}_s"] = plain
            for kind in ("secagg", "secagg5"):
                if f"{kind}-{size}" in outcomes:
                    sec = _median_fit(outcomes[f"{kind}-{size}"])
                    figures[f"{kind}_{members}m_{size}_s"] = sec
                    figures[f"{kind}_{members}m_{size}_ratio"] = sec / plain
    print(f"{'members':>7} {'params':>6} {'plain s':>8} {'SecAgg+ s':>9} {'ratio':>6} {'5-share s':>9} {'ratio':>6}")
    for members in (5, 10):
        for size in SIZES:
            row = f"{members:>7} {size:>6} {figures[f'plain_{members}m_{size}_s']:>8.2f} "
            row += f"{figures[f'secagg_{members}m_{size}_s']:>9.2f} {figures[f'secagg_{members}m_{size}_ratio']:>6.2f}"
            if f"secagg5_{members}m_{size}_s" in figures:
                tuned = figures[f"secagg5_{members}m_{size}_s"], figures[f"secagg5_{members}m_{size}_ratio"]
                row += f" {tuned[0]:>9.2f} {tuned[1]:>6.2f}"
            print(row)
    return figures


if __name__ == "__main__":
    main()
