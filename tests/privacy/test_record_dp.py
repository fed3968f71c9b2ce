"""Record-level DP-SGD in the member node (no Flower simulation): gradients, ledger, budget gate, noise source."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.app import ConfigRecord, Context, RecordDict

from fedrisk.errors import ConfigError, PrivacyBudgetExhausted
from fedrisk.federation import record_dp
from fedrisk.federation.member_node import (
    MemberJob,
    build_model,
    load_member,
    local_train,
    member_rng,
    parse_job,
    record_outbound,
)
from fedrisk.federation.plan import FederationPlan, Job, TrainSettings, job_config
from fedrisk.federation.record_dp import (
    RECORD_MODE,
    RecordDP,
    member_ledger,
    per_example_grads,
    private_train_steps,
    record_noise_source,
    sample_rate,
    train_record_dp,
)
from fedrisk.models.stgraph import STGraphNet, TorchMember, get_weights, train_steps
from fedrisk.privacy.accounting import GaussianStep, epsilon_for_history
from fedrisk.privacy.dp import NoiseSource
from synthetic import SIM_SPLIT, write_data_dir

VENUES = {"alpha": ("BTC", "ETH"), "beta": ("BTC",), "gamma": ("BTC", "ETH")}
SPLIT = SIM_SPLIT
FAST = TrainSettings(rounds=2, local_steps=4, batch_size=64, window=12, hidden=8)
DELTA = 1e-5


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_data_dir(tmp_path_factory.mktemp("data"), VENUES, n_hours=2700)


def _config(data_dir: Path, settings: RecordDP | None) -> dict[str, object]:
    job = Job("rdp", tuple(VENUES), settings=FAST, record_dp=settings)
    plan = FederationPlan(members=tuple(VENUES), jobs=(job,), split=SPLIT, sim_data_dir=str(data_dir))
    return dict(job_config(plan, job))


def _member_job(config: dict[str, object], member: str) -> MemberJob:
    context = Context(run_id=0, node_id=0, node_config={"member": member}, state=RecordDict(), run_config={})
    return parse_job(context, ConfigRecord(config))  # type: ignore[arg-type]


def _setup(config: dict[str, object], member: str = "alpha") -> tuple[MemberJob, TorchMember, STGraphNet]:
    job = _member_job(config, member)
    data = load_member(job.member, str(job.data_dir), job.split, job.window, job.months)
    from fedrisk.federation.coordinator import initial_weights

    init = initial_weights(Job("x", tuple(VENUES), settings=FAST))
    return job, data, build_model(job, init)


def _settings(tmp_path: Path, **changes: object) -> RecordDP:
    base: dict[str, object] = {
        "epsilon_max": 50.0,
        "noise_multiplier": 1.1,
        "clip_norm": 1.0,
        "secure_mode": False,
        "period": "test",
        "ledger_dir": str(tmp_path / "ledgers"),
    }
    base.update(changes)
    return RecordDP(**base)  # type: ignore[arg-type]


def test_settings_round_trip_through_the_job_config(tmp_path: Path, data_dir: Path) -> None:
    # Arrange
    settings = _settings(tmp_path, noise_multiplier=None, target_epsilon=8.0, epsilon_max=8.0, planned_rounds=3)
    # Act
    config = _config(data_dir, settings)
    # Assert
    assert config["dp-level"] == "record"
    assert config["privacy-mode"] == RECORD_MODE
    assert RecordDP.from_config(config) == settings
    assert _member_job(config, "beta").record_dp == settings


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epsilon_max": 0.0}, "epsilon_max"),
        ({"clip_norm": -1.0}, "clip_norm"),
        ({"noise_multiplier": None}, "exactly one"),
        ({"target_epsilon": 3.0}, "exactly one"),
        ({"noise_multiplier": 0.0}, "noise_multiplier"),
        ({"noise_multiplier": None, "target_epsilon": 80.0}, "target_epsilon"),
        ({"planned_rounds": 0}, "planned_rounds"),
        ({"delta": 1.5}, "delta"),
    ],
)
def test_bad_settings_are_refused_with_the_parameter_named(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    # Act / Assert
    with pytest.raises(ConfigError, match=message):
        _settings(tmp_path, **changes)


def test_sample_rate_is_batch_over_training_examples() -> None:
    # Act / Assert
    assert sample_rate(64, 1000) == pytest.approx(0.064)
    assert sample_rate(5000, 1000) == 1.0
    with pytest.raises(ConfigError, match="at least one training example"):
        sample_rate(64, 0)


def test_a_ledger_needs_a_directory(tmp_path: Path) -> None:
    # Act / Assert
    with pytest.raises(ConfigError, match="record-dp-ledger-dir"):
        member_ledger(_settings(tmp_path, ledger_dir=""), "alpha")


def test_per_example_gradients_equal_one_backward_pass_per_hour(data_dir: Path) -> None:
    # Arrange
    _, data, model = _setup(_config(data_dir, None))
    idx = data.train_idx[:5]
    # Act
    grads, _ = per_example_grads(model, data, idx)
    # Assert: each hour's gradient equals autograd on that hour alone
    for i, hour in enumerate(idx):
        model.zero_grad()
        t = torch.tensor([hour])
        logits = model(data.windows(np.array([hour])), data.adj)
        mask = data.label_mask[t].float()
        cell = torch.nn.functional.binary_cross_entropy_with_logits(logits, data.y[t], reduction="none")
        ((cell * mask).sum() / mask.sum().clamp(min=1.0)).backward()  # type: ignore[no-untyped-call]
        for name, p in model.named_parameters():
            assert p.grad is not None
            torch.testing.assert_close(grads[name][i], p.grad, rtol=1e-4, atol=1e-6)


def test_opacus_per_layer_grad_samples_disagree_on_what_a_sample_is(data_dir: Path) -> None:
    # Arrange: the reason record_dp uses torch.func over the whole model instead of Opacus' GradSampleModule
    from opacus import GradSampleModule

    _, data, model = _setup(_config(data_dir, None), member="alpha")
    gsm = GradSampleModule(model)
    idx = data.train_idx[:6]
    # Act
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gsm(data.windows(idx), data.adj).sum().backward()
    firsts = {n: p.grad_sample.shape[0] for n, p in gsm.named_parameters() if p.grad_sample is not None}
    # Assert: convolutions see (hour, asset) pairs, the head sees hours
    assert firsts["_module.conv1.weight"] == 6 * data.X.shape[1]
    assert firsts["_module.head.weight"] == 6


def test_clipping_bounds_each_hours_influence_and_noise_is_added(data_dir: Path) -> None:
    # Arrange: one step at lr so large that Adam's first step shows the sign of the gradient
    _, data, model = _setup(_config(data_dir, None))
    grads, _ = per_example_grads(model, data, data.train_idx[:64])
    # Act
    summed = record_dp._clipped_sum(grads, 0.01)
    # Assert: a sum of 64 gradients, each clipped to 0.01, has norm at most 0.64
    norm = float(torch.sqrt(sum((g**2).sum() for g in summed.values())))  # type: ignore[arg-type]
    assert 0.0 < norm <= 0.64 + 1e-6


def test_seeded_dp_sgd_is_reproducible_and_secure_dp_sgd_is_not(data_dir: Path) -> None:
    # Arrange
    _, data, _ = _setup(_config(data_dir, None))
    outs: dict[str, list[list[np.ndarray]]] = {"seeded": [], "secure": []}
    # Act
    for kind in ("seeded", "seeded", "secure", "secure"):
        _, _, model = _setup(_config(data_dir, None))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source = NoiseSource(secure_mode=False, rng=3) if kind == "seeded" else NoiseSource(secure_mode=True)
        private_train_steps(
            model, data, steps=3, batch_size=64, lr=1e-2, weight_decay=0.0, clip_norm=1.0,
            noise_multiplier=1.0, source=source,
        )  # fmt: skip
        outs[kind].append(get_weights(model))
    # Assert
    assert all(np.array_equal(a, b) for a, b in zip(*outs["seeded"], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(*outs["secure"], strict=True))


def test_the_ledger_grows_each_round_as_the_accountant_says(tmp_path: Path, data_dir: Path) -> None:
    # Arrange
    settings = _settings(tmp_path)
    _, data, model = _setup(_config(data_dir, settings))
    q = FAST.batch_size / data.n_train
    seen = []
    # Act
    for rnd in (1, 2, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, report = train_record_dp(
                model, data, settings=settings, member="alpha", server_round=rnd, seed=7,
                steps=FAST.local_steps, batch_size=FAST.batch_size, lr=1e-3, weight_decay=0.0,
            )  # fmt: skip
        seen.append(report)
    # Assert
    for rnd, report in enumerate(seen, start=1):
        history = [GaussianStep(1.1, q, FAST.local_steps * rnd)]
        assert report.sample_rate == pytest.approx(q)
        assert report.steps == FAST.local_steps
        assert report.epsilon == pytest.approx(epsilon_for_history(history, delta=DELTA), rel=1e-9)
        assert report.epsilon_rdp == pytest.approx(epsilon_for_history(history, delta=DELTA, accountant="rdp"))
        assert report.epsilon < report.epsilon_rdp  # PLD is the tighter accountant
    assert seen[0].epsilon < seen[1].epsilon < seen[2].epsilon
    ledger = member_ledger(settings, "alpha")
    assert [e.round for e in ledger.entries(member="alpha", level="record", period="test")] == [1, 2, 3]
    assert ledger.spent("alpha", level="record", period="test") == pytest.approx(seen[2].epsilon)
    assert ledger.spent("alpha", level="member", period="test") == 0.0  # levels are accounted apart


def test_the_budget_gate_refuses_a_round_naming_member_spent_and_requested(tmp_path: Path, data_dir: Path) -> None:
    # Arrange: a budget that fits one round of 4 steps but not two
    probe = _settings(tmp_path)
    _, data, model = _setup(_config(data_dir, probe))
    q = FAST.batch_size / data.n_train
    one = epsilon_for_history([GaussianStep(1.1, q, 4)], delta=DELTA)
    two = epsilon_for_history([GaussianStep(1.1, q, 8)], delta=DELTA)
    settings = _settings(tmp_path, epsilon_max=(one + two) / 2, ledger_dir=str(tmp_path / "tight"))
    kwargs = {"member": "beta", "seed": 7, "steps": 4, "batch_size": FAST.batch_size, "lr": 1e-3, "weight_decay": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_record_dp(model, data, settings=settings, server_round=1, **kwargs)  # type: ignore[arg-type]
    before = get_weights(model)
    # Act
    with pytest.raises(PrivacyBudgetExhausted) as err:
        train_record_dp(model, data, settings=settings, server_round=2, **kwargs)  # type: ignore[arg-type]
    # Assert
    text = str(err.value)
    assert "'beta'" in text and "record-level" in text
    assert f"spent ε={one:.4g}" in text and f"bring it to ε={two:.4g}" in text
    assert all(np.array_equal(a, b) for a, b in zip(before, get_weights(model), strict=True))  # no training
    assert len(member_ledger(settings, "beta").entries(member="beta")) == 1  # nothing charged


def test_calibrated_noise_spends_at_most_the_target_over_the_planned_rounds(tmp_path: Path, data_dir: Path) -> None:
    # Arrange
    settings = _settings(tmp_path, noise_multiplier=None, target_epsilon=4.0, epsilon_max=4.0, planned_rounds=2)
    _, data, model = _setup(_config(data_dir, settings), member="gamma")
    reports = []
    # Act
    for rnd in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reports.append(
                train_record_dp(
                    model, data, settings=settings, member="gamma", server_round=rnd, seed=7,
                    steps=FAST.local_steps, batch_size=FAST.batch_size, lr=1e-3, weight_decay=0.0,
                )[1]
            )  # fmt: skip
    # Assert: the planned rounds land just under the target, and a third round is refused
    assert 3.9 < reports[-1].epsilon <= 4.0
    with pytest.raises(PrivacyBudgetExhausted, match="'gamma'"):
        train_record_dp(
            model, data, settings=settings, member="gamma", server_round=3, seed=7,
            steps=FAST.local_steps, batch_size=FAST.batch_size, lr=1e-3, weight_decay=0.0,
        )  # fmt: skip


def test_secure_mode_draws_from_the_os_csprng_and_insecure_mode_warns(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    used: list[NoiseSource] = []
    real = record_dp.record_noise_source

    def spy(**kwargs: object) -> NoiseSource:
        source = real(**kwargs)  # type: ignore[arg-type]
        used.append(source)
        return source

    monkeypatch.setattr(record_dp, "record_noise_source", spy)
    _, data, model = _setup(_config(data_dir, None))
    # Act
    train_record_dp(
        model, data, settings=_settings(tmp_path, secure_mode=True), member="alpha", server_round=1, seed=7,
        steps=1, batch_size=64, lr=1e-3, weight_decay=0.0,
    )  # fmt: skip
    # Assert
    assert [s.secure_mode for s in used] == [True]
    with pytest.raises(ConfigError, match="secure"):
        NoiseSource(secure_mode=True, rng=1)
    with pytest.warns(UserWarning, match="VOID"):
        insecure = record_noise_source(secure_mode=False, seed=7, member="alpha", server_round=1)
    assert not insecure.secure_mode


def test_the_non_private_path_is_unchanged(data_dir: Path) -> None:
    # Arrange
    config = _config(data_dir, None)
    job, data, model = _setup(config)
    _, _, reference = _setup(config)
    # Act
    local_train(job, data, model, 2)
    train_steps(
        reference, [data], steps=job.local_steps, batch_size=job.batch_size, lr=job.lr,
        weight_decay=job.weight_decay, proximal_mu=job.proximal_mu, rng=member_rng(job.seed, "alpha", 2),
    )  # fmt: skip
    # Assert
    assert job.record_dp is None
    assert "dp-level" not in config and config["privacy-mode"] == "plain"
    assert all(np.array_equal(a, b) for a, b in zip(get_weights(model), get_weights(reference), strict=True))


def test_the_outbound_log_records_the_privacy_parameters_applied(tmp_path: Path, data_dir: Path) -> None:
    # Arrange
    settings = _settings(tmp_path)
    config = {**_config(data_dir, settings), "outbound-dir": str(tmp_path / "outbound")}
    job, data, model = _setup(config, member="gamma")
    # Act
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss, _ = local_train(job, data, model, 1)
    claim = record_outbound(ConfigRecord(config), "gamma", 1, get_weights(model))  # type: ignore[arg-type]
    plain_claim = record_outbound(ConfigRecord(_config(data_dir, None)), "gamma", 1, get_weights(model))  # type: ignore[arg-type]
    # Assert
    logged = json.loads((tmp_path / "outbound" / "rdp" / "gamma.jsonl").read_text().splitlines()[-1])["privacy"]
    assert loss == 0.0  # the DP-SGD loss is not private: it stays with the member
    assert logged["mode"] == RECORD_MODE and logged["z"] == 1.1 and logged["clip"] == 1.0 and logged["steps"] == 4
    assert logged["q"] == pytest.approx(FAST.batch_size / data.n_train, rel=1e-6)
    assert logged["epsilon"] == pytest.approx(
        member_ledger(settings, "gamma").spent("gamma", level="record", period="test"), rel=1e-5
    )
    assert json.loads(str(claim["privacy-json"])) == logged
    assert "privacy-json" not in plain_claim and plain_claim["privacy-mode"] == "plain"
