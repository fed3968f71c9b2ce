"""The tabular federations (fraud, credit) under Flower SecAgg+ and member-level DP-FedAvg.

This reuses the stress task's secure runner (:func:`fedrisk.federation.secagg.run_secure`: the legacy
``DefaultWorkflow`` with the guarded ``SecAggPlusWorkflow``, the DP budget gate and ledger commits, the preflight)
and only swaps the member: :class:`TabularClient` is a legacy ``NumPyClient`` whose every computation is a
:mod:`fedrisk.federation.tabular` function (``local_fit``, ``validation_metrics``, ``read_member_table``), exactly
as the stress ``MemberClient`` wraps ``member_node``. There is no second copy of the model, training or protocol.

Modes (``PrivacyMode``):

* ``plain``: the Message-API federation of :mod:`fedrisk.federation.tabular` (the coordinator sees each update);
* ``secagg``: members send their update (new − global weights, weighted by training rows) masked by SecAgg+;
  the coordinator only unmasks the weighted mean;
* ``dp``: member-level DP-FedAvg under SecAgg+: each member clips its update to ``C`` and adds its share of the
  Gaussian noise (:mod:`fedrisk.federation.dp`), updates weighted equally; ε per member is charged in the privacy
  ledger and a member over budget is refused for the round.

Only the MLP runs under ``secagg``/``dp``. Gradient-boosted trees (FedXgbBagging) cannot: a round's result is a
*set of trees*, which is not a sum, so neither masking nor Gaussian noise on a sum applies (see
``docs/fraud-credit.md``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from flwr.app import ArrayRecord, Context
from flwr.client import Client, NumPyClient
from flwr.clientapp import ClientApp
from flwr.common import Scalar

from fedrisk._env import quiet_and_offline
from fedrisk.errors import ConfigError
from fedrisk.federation.dp import MemberDP, noise_source, private_update
from fedrisk.federation.secagg import (
    ConfigValue,
    SecureJob,
    SecureOutcome,
    from_legacy_config,
    optional_secaggplus_mod,
    run_secure,
)
from fedrisk.federation.tabular import (
    TabularJob,
    TabularPlan,
    _identify,
    initial_arrays,
    job_config,
    local_fit,
    read_member_table,
    validation_metrics,
)
from fedrisk.privacy.ledger import PrivacyLedger
from fedrisk.privacy.secagg import SecAggParams

__all__ = ["PRIVACY_MODES", "PrivacyMode", "TabularClient", "run_tabular_secure", "secure_jobs", "tabular_client_app"]

PrivacyMode = Literal["plain", "secagg", "dp"]
PRIVACY_MODES: tuple[PrivacyMode, ...] = ("plain", "secagg", "dp")


class TabularClient(NumPyClient):
    """A tabular member on Flower's legacy path (the only path with SecAgg+ in flwr 1.42)."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def get_properties(self, config: dict[str, Scalar]) -> dict[str, Scalar]:
        """Roll call: the member id and its number of training rows."""
        member, path = _identify(self.context, from_legacy_config(config))
        return {"member": member, "n-train": len(read_member_table(path).y_train)}

    def fit(
        self, parameters: list[np.ndarray], config: dict[str, Scalar]
    ) -> tuple[list[np.ndarray], int, dict[str, Scalar]]:
        """Train locally; return the update (weighted by rows), or the clipped and noised update (weight 1)."""
        torch.set_num_threads(1)
        record = from_legacy_config(config)
        if str(record["model"]) != "mlp":
            raise ConfigError("only the MLP runs under SecAgg+/DP: trees are not a sum (see docs/fraud-credit.md)")
        member, path = _identify(self.context, record)
        data = read_member_table(path)
        start = time.perf_counter()
        weights, loss = local_fit(record, member, data, ArrayRecord(parameters))
        update = [new - old for new, old in zip(weights, parameters, strict=True)]
        metrics: dict[str, Scalar] = {"train-loss": loss, "train-time-s": time.perf_counter() - start}
        share_std = float(record.get("dp-share-std", 0.0))  # type: ignore[arg-type]
        if share_std <= 0:
            return update, len(data.y_train), metrics
        source = noise_source(
            secure_mode=bool(record["dp-secure-mode"]),
            seed=int(record["seed"]),  # type: ignore[arg-type]
            member=member,
            server_round=int(record["server-round"]),  # type: ignore[arg-type]
        )
        clip = float(record["dp-clip-norm"])  # type: ignore[arg-type]
        noised, _ = private_update(update, clip_norm=clip, share_std=share_std, source=source)
        return noised, 1, metrics

    def evaluate(self, parameters: list[np.ndarray], config: dict[str, Scalar]) -> tuple[float, int, dict[str, Scalar]]:
        """Validation loss and AUPRC on the member's own validation rows."""
        torch.set_num_threads(1)
        record = from_legacy_config(config)
        _, path = _identify(self.context, record)
        data = read_member_table(path)
        loss, ap = validation_metrics(record, data, ArrayRecord(parameters))
        return loss, len(data.y_val), {"val-auprc": ap}


def _client_fn(context: Context) -> Client:
    return TabularClient(context).to_client()


quiet_and_offline()
tabular_client_app = ClientApp(client_fn=_client_fn, mods=[optional_secaggplus_mod])


def secure_jobs(
    plan: TabularPlan,
    job: TabularJob,
    mode: PrivacyMode,
    *,
    dp: MemberDP | None = None,
    secagg: SecAggParams | None = None,
    reference: bool = True,
) -> list[SecureJob]:
    """The secure run of an MLP job: the job under ``mode`` and (``reference``) the same rounds on plain legacy
    FedAvg over the same members, for the side-by-side round time.

    Non-DP jobs ask members for their validation loss every round (history only: the secure runner publishes the
    last round's model). DP jobs do not: validation metrics are releases the ledger does not count.
    """
    if job.model != "mlp":
        raise ConfigError(f"job '{job.name}': only the MLP runs under SecAgg+/DP (trees are not a sum)")
    if mode == "plain":
        raise ConfigError("mode 'plain' runs on the Message-API federation (fedrisk.federation.tabular)")
    if mode == "dp" and dp is None:
        raise ConfigError("mode 'dp' needs MemberDP settings")
    config: dict[str, ConfigValue] = dict(job_config(plan, job))
    init = initial_arrays(job)
    params = secagg or SecAggParams()
    main = SecureJob(
        f"{job.name}-{mode}",
        config,
        init,
        rounds=job.rounds,
        secagg=params,
        dp=dp if mode == "dp" else None,
        evaluate=mode != "dp",
    )
    jobs = [main]
    if reference:
        jobs.append(SecureJob(f"{job.name}-plain-legacy", config, init, rounds=job.rounds, secagg=None, evaluate=True))
    return jobs


def run_tabular_secure(
    jobs: Sequence[SecureJob], *, num_members: int, ledger: PrivacyLedger | None = None, num_cpus: int | None = None
) -> list[SecureOutcome]:
    """Run secure tabular jobs in ONE start of the simulation engine (the stress task's secure runner)."""
    return run_secure(jobs, num_members=num_members, ledger=ledger, num_cpus=num_cpus, client=tabular_client_app)
