"""``aggregation = "he"`` in the stress federation: one Flower simulation, plain and HE jobs side by side.

Synthetic data (tests/synthetic.py), 2 rounds; the HE job must give the plain FedAvg model within CKKS precision.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fedrisk.errors import ConfigError, PrivacyError, QuorumError
from fedrisk.federation.coordinator import JobOutcome
from fedrisk.federation.he_aggregation import (
    apply_mean_update,
    coordinator_aggregator,
    decode_vector,
    decrypt_sum,
    encode_vector,
    encrypt_weighted_update,
    member_key_path,
)
from fedrisk.federation.plan import FederationPlan, Job, TrainSettings, job_config
from fedrisk.federation.runner import run_plan
from fedrisk.privacy.he import CkksAggregator, CkksMember, ckks_keygen, load_ckks_member, write_ckks_keys
from synthetic import SIM_SPLIT, SIM_VENUES, write_data_dir

pytestmark = pytest.mark.federation
VENUES = SIM_VENUES
SPLIT = SIM_SPLIT
FAST = TrainSettings(rounds=2, local_steps=5, batch_size=64, window=12, hidden=8)
THREE = ("alpha", "beta", "gamma")


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("he-keys")
    write_ckks_keys(out, list(VENUES), ckks_keygen())
    return out


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> dict[str, JobOutcome]:
    data = write_data_dir(tmp_path_factory.mktemp("data"), VENUES, n_hours=2700)
    everyone = tuple(VENUES)
    plan = FederationPlan(
        members=everyone,
        split=SPLIT,
        sim_data_dir=str(data),
        outbound_dir=str(tmp_path_factory.mktemp("outbound")),
        he_keys_dir=str(keys_dir),
        jobs=(
            Job("plain", THREE, settings=FAST),
            Job("he", THREE, settings=FAST, aggregation="he"),
            Job("he-drop", everyone, settings=FAST, aggregation="he", drill_drop=("delta",), drill_from_round=2),
        ),
    )
    return {o.job.name: o for o in run_plan(plan)}


def _max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) for x, y in zip(a, b, strict=True))


def test_he_federation_gives_the_plain_fedavg_model(outcomes: dict[str, JobOutcome]) -> None:
    # Arrange
    plain, he = outcomes["plain"], outcomes["he"]
    # Act
    diff = _max_abs_diff(plain.weights, he.weights)
    # Assert
    assert [h.status for h in he.history] == ["committed"] * 2
    assert all(h.members == 3 for h in he.history)
    assert he.best_round == plain.best_round
    assert diff < 1e-5, diff  # CKKS error ~1e-8 per value, float32 weights
    for p, h in zip(plain.history, he.history, strict=True):
        assert p.val_auprc is not None and h.val_auprc is not None
        assert abs(p.val_auprc - h.val_auprc) < 1e-4
        assert abs((p.val_loss or 0) - (h.val_loss or 0)) < 1e-5
    ratio = np.median([h.wall_s for h in he.history]) / np.median([p.wall_s for p in plain.history])
    print(f"HE/plain round wall time: {ratio:.2f}")


def test_he_federation_survives_a_dropout(outcomes: dict[str, JobOutcome]) -> None:
    he = outcomes["he-drop"]
    assert [h.members for h in he.history] == [4, 3]  # round 2: the three survivors' encrypted sum
    assert [h.status for h in he.history] == ["committed", "committed"]
    assert all(np.isfinite(w).all() for w in he.weights)


def test_he_claims_hash_the_ciphertext_not_the_weights(outcomes: dict[str, JobOutcome]) -> None:
    he, plain = outcomes["he"], outcomes["plain"]
    claims = he.history[0].claims
    assert sorted(claims) == sorted(THREE)
    assert all(c["privacy-mode"] == "he" for c in claims.values())
    n_bytes = plain.n_parameters * 4
    assert all(int(c["size"]) > 5 * n_bytes for c in claims.values())  # ciphertexts, much larger than float32


def test_the_coordinator_code_path_cannot_decrypt(keys_dir: Path, tmp_path: Path) -> None:
    # Arrange: the coordinator gets public.json only
    public_only = tmp_path / "coordinator"
    public_only.mkdir()
    shutil.copy(keys_dir / "public.json", public_only / "public.json")
    aggregator = coordinator_aggregator(public_only)
    secret, params = load_ckks_member(member_key_path(keys_dir, "alpha"))
    member = CkksMember(secret, params)
    rng = np.random.default_rng(0)
    g = [rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=4).astype(np.float32)]
    updates = [[w + rng.normal(scale=0.1, size=w.shape).astype(np.float32) for w in g] for _ in range(3)]
    encrypted = [
        encrypt_weighted_update(member, g, u, weight=float(n)) for u, n in zip(updates, (10, 20, 30), strict=True)
    ]
    # Act
    total = aggregator.aggregate([decode_vector(encode_vector(e)) for e in encrypted])
    # Assert
    assert not aggregator.can_decrypt
    with pytest.raises(PrivacyError, match="cannot decrypt"):
        aggregator.try_decrypt(encrypted[0])
    with pytest.raises(PrivacyError, match="cannot decrypt"):
        aggregator.try_decrypt(total)
    with pytest.raises(PrivacyError, match="secret key"):
        CkksAggregator(secret)
    new = apply_mean_update(g, decrypt_sum(member, total))
    expected = [np.asarray(sum(n * u[k] for u, n in zip(updates, (10, 20, 30), strict=True)) / 60) for k in range(2)]
    assert _max_abs_diff(new, expected) < 1e-6
    assert all(w.dtype == np.float32 for w in new)


def test_the_decryptor_refuses_a_sum_of_fewer_than_three(keys_dir: Path) -> None:
    secret, params = load_ckks_member(member_key_path(keys_dir, "beta"))
    member = CkksMember(secret, params)
    g = [np.zeros(4, np.float32)]
    single = encrypt_weighted_update(member, g, [np.ones(4, np.float32)], weight=5.0)
    with pytest.raises(QuorumError, match="at least 3"):
        decrypt_sum(member, single)


def test_bad_he_inputs_are_refused(keys_dir: Path, tmp_path: Path) -> None:
    secret, params = load_ckks_member(member_key_path(keys_dir, "beta"))
    member = CkksMember(secret, params)
    g = [np.zeros(4, np.float32)]
    with pytest.raises(ConfigError, match="weight"):
        encrypt_weighted_update(member, g, g, weight=0.0)
    with pytest.raises(ConfigError, match="shapes"):
        encrypt_weighted_update(member, g, [np.zeros(5, np.float32)], weight=1.0)
    with pytest.raises(ConfigError, match="malformed"):
        decode_vector(encode_vector(encrypt_weighted_update(member, g, g, weight=1.0)).__class__({"chunks": []}))
    with pytest.raises(PrivacyError, match="weight sum"):
        apply_mean_update(g, np.zeros(5))
    with pytest.raises(ConfigError, match="he_keys_dir"):
        FederationPlan(members=THREE, jobs=(Job("x", THREE, aggregation="he"),))
    with pytest.raises(ConfigError, match="unknown aggregation"):
        Job("x", THREE, aggregation="secret")  # type: ignore[arg-type]
    write_dir = tmp_path / "paillier"
    write_dir.mkdir()
    (write_dir / "public.json").write_text('{"scheme": "threshold-paillier"}')
    with pytest.raises((ConfigError, KeyError)):
        coordinator_aggregator(write_dir)


def test_job_config_carries_the_aggregation(keys_dir: Path) -> None:
    plan = FederationPlan(members=THREE, jobs=(Job("x", THREE, aggregation="he"),), he_keys_dir=str(keys_dir))
    config = job_config(plan, plan.jobs[0])
    assert config["aggregation"] == "he" and config["he-keys-dir"] == str(keys_dir) and config["he-clip-norm"] == 0.0
