"""Deployment building blocks without processes: PKI, plan codec, packed transport, FastGrid, argv, CLI, outbound."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_ssh_private_key
from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict
from typer.testing import CliRunner

from fedrisk.cli.app import app
from fedrisk.errors import ConfigError, FederationError
from fedrisk.features.panel import Split
from fedrisk.federation.deploy import CoordinatorConfig, NodeConfig, node_argv, superlink_argv, write_run_config
from fedrisk.federation.deploy_app import FastGrid, plan_from_json, plan_to_json
from fedrisk.federation.member_node import record_outbound
from fedrisk.federation.node_runtime import MEMBER_APP_REF, declared_client_app
from fedrisk.federation.pki import (
    PkiPaths,
    certificate_hosts,
    init_pki,
    read_node_key,
    read_registry,
    write_node_key,
)
from fedrisk.federation.plan import FederationPlan, Job, TrainSettings
from fedrisk.federation.wire import SUFFIX, pack, unpack

APP_TOML = Path(__file__).resolve().parents[2] / "deploy" / "flower-app" / "pyproject.toml"


def test_pki_init_writes_a_ca_a_server_cert_and_node_keys(tmp_path: Path) -> None:
    # Arrange / Act
    paths = init_pki(tmp_path / "pki", ["alpha", "beta", "gamma"], hosts=("coord.example.org", "10.0.0.5"))
    # Assert
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    assert server.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert certificate_hosts(paths.server_cert) == ["127.0.0.1", "10.0.0.5", "localhost", "coord.example.org"]
    for member in ("alpha", "beta", "gamma"):
        key_file = paths.member_dir(member) / "auth.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = load_ssh_private_key(key_file.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"
        assert (paths.member_dir(member) / "ca.crt").read_bytes() == paths.ca_cert.read_bytes()
    assert stat.S_IMODE(paths.ca_key.stat().st_mode) == 0o600
    registry = read_registry(paths)
    assert sorted(registry) == ["alpha", "beta", "gamma"]
    assert registry["alpha"].public_key.startswith("ecdsa-sha2-nistp384 ")
    assert len({k.fingerprint for k in registry.values()}) == 3


def test_pki_refuses_bad_input_and_overwriting_a_ca(tmp_path: Path) -> None:
    init_pki(tmp_path, ["a", "b", "c"])
    with pytest.raises(ConfigError, match="refusing to replace"):
        init_pki(tmp_path, ["a", "b", "c"])
    with pytest.raises(ConfigError, match="lower-case"):
        init_pki(tmp_path / "x", ["Alpha"])
    with pytest.raises(ConfigError, match="distinct"):
        init_pki(tmp_path / "y", ["a", "a"])
    with pytest.raises(ConfigError, match="days"):
        init_pki(tmp_path / "z", ["a"], days=0)


def test_a_member_key_is_read_back_and_a_non_ec_key_refused(tmp_path: Path) -> None:
    written = write_node_key(tmp_path / "k", "delta")
    assert read_node_key(tmp_path / "k" / "auth.pub", "delta") == written
    (tmp_path / "rsa.pub").write_text(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    with pytest.raises(ConfigError, match="EC"):
        read_node_key(tmp_path / "rsa.pub", "delta")
    with pytest.raises(ConfigError, match="no public node key"):
        read_node_key(tmp_path / "missing.pub", "delta")


def test_the_plan_survives_the_run_config() -> None:
    split = Split(
        train_start=pd.Timestamp("2018-01-01", tz="UTC"),
        val_start=pd.Timestamp("2018-03-10", tz="UTC"),
        test_start=pd.Timestamp("2018-04-01", tz="UTC"),
        test_end=pd.Timestamp("2018-04-25", tz="UTC"),
        horizon=6,
    )
    jobs = (
        Job("main", ("a", "b", "c"), settings=TrainSettings(rounds=3, hidden=8)),
        Job("join", ("a", "b", "c", "d"), strategy="fedprox", months=(("d", 1.0),), init_from="main"),
    )
    plan = FederationPlan(members=("a", "b", "c", "d"), jobs=jobs, split=split, sim_data_dir="/secret/path")
    back = plan_from_json(plan_to_json(plan))
    assert back.jobs == plan.jobs and back.split == plan.split and back.members == plan.members
    assert back.sim_data_dir == ""  # a deployed member never receives a data path from the coordinator
    with pytest.raises(ConfigError, match="not a valid fedrisk plan"):
        plan_from_json('{"members": ["a"]}')


def test_pack_round_trips_every_array_exactly() -> None:
    rng = np.random.default_rng(0)
    arrays: list[np.ndarray] = [
        rng.normal(size=(3, 4)).astype(np.float32),
        np.arange(5),
        np.zeros((0, 2)),
        np.full((), 2.5),
    ]
    content = RecordDict({"arrays": ArrayRecord(arrays), "config": ConfigRecord({"x": 1})})
    packed = pack(content)
    assert len(packed["arrays"]) == 1 and "arrays" + SUFFIX in packed  # type: ignore[arg-type]
    back = unpack(packed)["arrays"].to_numpy_ndarrays()  # type: ignore[union-attr]
    assert all(
        a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b) for a, b in zip(back, arrays, strict=True)
    )
    assert unpack(content) is content  # nothing packed: unchanged


def test_unpack_refuses_a_layout_that_does_not_match() -> None:
    packed = pack(RecordDict({"arrays": ArrayRecord([np.ones(4, np.float32), np.ones(2, np.float32)])}))
    packed["arrays" + SUFFIX] = ConfigRecord({"layout": json.dumps([["0", "<f4", [4]]])})
    with pytest.raises(FederationError, match="layout does not describe"):
        unpack(packed)


class _FakeGrid:
    """Replies to each pushed message after ``delay_polls`` pulls, except for node ``silent``."""

    def __init__(self, delay_polls: int, silent: int | None = None) -> None:
        self.delay, self.silent, self.polls = delay_polls, silent, 0
        self.pushed: list[Message] = []

    def push_messages(self, messages: Iterable[Message]) -> list[str]:
        self.pushed = list(messages)
        return [str(i) for i, _ in enumerate(self.pushed)]

    def pull_messages(self, ids: Iterable[str]) -> list[Message]:
        self.polls += 1
        if self.polls < self.delay:
            return []
        out = []
        for i in ids:
            msg = self.pushed[int(i)]
            if msg.metadata.dst_node_id == self.silent:
                continue
            reply = Message(msg.content, reply_to=msg)  # echo the (packed) content
            reply.metadata.__dict__["_reply_to_message_id"] = i
            out.append(reply)
        return out


@pytest.fixture
def task_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages built outside a Flower process need a run and node id (Flower sets them per task)."""
    from flwr.supercore.task_identity import TaskIdentity

    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 0)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)


def _messages() -> list[Message]:
    record = RecordDict({"arrays": ArrayRecord([np.ones(3, np.float32), np.zeros(2, np.float32)])})
    return [Message(content=record, dst_node_id=node, message_type="train") for node in (1, 2, 3)]


def test_fast_grid_packs_what_it_sends_and_unpacks_replies(task_identity: None) -> None:
    fake = _FakeGrid(delay_polls=3)
    grid = FastGrid(fake, poll_s=0.01, timeout_s=5.0)  # type: ignore[arg-type]
    replies = list(grid.send_and_receive(_messages()))
    assert len(replies) == 3 and fake.polls == 3
    assert all("arrays" + SUFFIX in m.content for m in fake.pushed)  # what travelled was packed
    assert [len(r.content["arrays"]) for r in replies] == [2, 2, 2]  # type: ignore[arg-type]


def test_fast_grid_stops_waiting_for_a_silent_node_at_its_timeout(task_identity: None) -> None:
    fake = _FakeGrid(delay_polls=1, silent=2)
    grid = FastGrid(fake, poll_s=0.01, timeout_s=0.2)  # type: ignore[arg-type]
    replies = list(grid.send_and_receive(_messages(), timeout=3600))
    assert len(replies) == 2
    assert fake.polls >= 5
    with pytest.raises(ConfigError):
        FastGrid(fake, poll_s=0)  # type: ignore[arg-type]


def test_the_shipped_flower_app_declares_fedrisk_apps_only() -> None:
    import tomllib

    components = tomllib.loads(APP_TOML.read_text())["tool"]["flwr"]["app"]["components"]
    assert components == {"serverapp": "fedrisk.federation.deploy_app:server", "clientapp": MEMBER_APP_REF}


def test_a_fab_declaring_another_client_app_is_recognised(tmp_path: Path) -> None:
    import io
    import zipfile

    def fab(clientapp: str) -> bytes:
        text = APP_TOML.read_text().replace(MEMBER_APP_REF, clientapp)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("pyproject.toml", text)
        return buf.getvalue()

    assert declared_client_app(fab(MEMBER_APP_REF)) == MEMBER_APP_REF
    assert declared_client_app(fab("evil.module:app")) == "evil.module:app"


def test_process_argv_carry_tls_auth_and_the_nodes_own_config(tmp_path: Path) -> None:
    paths = init_pki(tmp_path / "pki", ["alpha", "beta", "gamma"])
    link = superlink_argv(CoordinatorConfig(pki=paths, state_dir=tmp_path / "s", port=9555))
    assert "--enable-supernode-auth" in link and "--insecure" not in link
    assert link[link.index("--ssl-certfile") + 1] == str(paths.server_cert)
    assert "--enable-supernode-auth" not in superlink_argv(CoordinatorConfig(pki=paths, state_dir=tmp_path, auth=False))
    node = NodeConfig(
        "alpha", tmp_path / "data", paths.member_dir("alpha"), "127.0.0.1:9555", outbound_dir=tmp_path / "o"
    )
    argv = node_argv(node)
    assert argv[argv.index("--auth-supernode-private-key") + 1] == str(paths.member_dir("alpha") / "auth.key")
    assert argv[argv.index("--isolation") + 1] == "process"
    assert 'member="alpha"' in argv[argv.index("--node-config") + 1]
    with pytest.raises(ConfigError, match="no CA certificate"):
        node_argv(NodeConfig("alpha", tmp_path, tmp_path / "nowhere", "127.0.0.1:9555"))


def test_run_config_file_is_valid_toml(tmp_path: Path) -> None:
    import tomllib

    plan = '{"a": "q\\"uote", "b": [1, 2]}'
    path = write_run_config(tmp_path / "rc.toml", {"plan": plan, "poll-s": 0.1, "n": 3})
    assert tomllib.loads(path.read_text()) == {"plan": plan, "poll-s": 0.1, "n": 3}


def test_a_deployed_node_logs_under_its_own_outbound_dir_only(tmp_path: Path) -> None:
    config = ConfigRecord({"job": "main", "outbound-dir": str(tmp_path / "coordinator-chose-this")})
    weights = [np.ones((2, 2), np.float32)]
    node = {"member": "alpha", "outbound-dir": str(tmp_path / "mine")}
    claim = record_outbound(config, "alpha", 1, weights, node_config=node)
    entry = json.loads((tmp_path / "mine" / "main" / "alpha.jsonl").read_text())
    assert entry["sha256"] == claim["sha256"] and entry["size"] == 16 and entry["privacy"] == {"mode": "plain"}
    assert not (tmp_path / "coordinator-chose-this").exists()
    with pytest.raises(ConfigError, match="safe file name"):
        record_outbound(ConfigRecord({"job": "../../etc"}), "alpha", 1, weights, node_config=node)


def test_cli_pki_init_and_add_node(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app, ["pki", "init", "--dir", str(tmp_path / "p"), "--members", "a,b,c", "--host", "h.example", "--json"]
    )
    assert res.exit_code == 0, res.output
    doc: dict[str, Any] = json.loads(res.stdout)
    assert "h.example" in doc["coordinator_hosts"] and sorted(doc["members"]) == ["a", "b", "c"]
    res = runner.invoke(app, ["pki", "node-key", "--member", "d", "--keys-dir", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        [
            "pki",
            "add-node",
            "--dir",
            str(tmp_path / "p"),
            "--member",
            "d",
            "--public-key",
            str(tmp_path / "d" / "auth.pub"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert sorted(read_registry(PkiPaths(tmp_path / "p"))) == ["a", "b", "c", "d"]
    res = runner.invoke(app, ["pki", "init", "--dir", str(tmp_path / "q")])
    assert res.exit_code != 0  # neither --members nor --constitution
