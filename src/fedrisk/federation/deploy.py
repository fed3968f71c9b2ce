"""Process wrappers for a deployed federation: the coordinator's SuperLink and the members' nodes.

The coordinator (:func:`serve`) runs Flower's ``flower-superlink`` with TLS from the federation's PKI and
SuperNode authentication, registers the public node keys of the federation's members, and, given a plan,
submits the fedrisk Flower app (``deploy/flower-app``) with ``flwr run`` once every member's node is online,
then waits for the run and leaves the outcome in ``out_dir``. A member (:func:`node_argv` +
:func:`fedrisk.federation.node_runtime.run_supernode`) runs ``flower-supernode`` with the CA certificate and its
node key, its member id and data dir as node config, and a warm ClientApp executor.

Every process gets the offline switches (:data:`fedrisk._env.OFFLINE_ENV`) in its environment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stdout, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedrisk._env import OFFLINE_ENV
from fedrisk.errors import ConfigError, FederationError
from fedrisk.federation.pki import PkiPaths, read_registry

APP_DIR = Path(__file__).resolve().parents[3] / "deploy" / "flower-app"
"""The Flower app submitted to the SuperLink (only a pyproject naming fedrisk's apps)."""
CONNECTION = "fedrisk"
"""Name of the SuperLink connection in ``$FLWR_HOME/config.toml``."""


def offline_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus the offline switches (and ``extra``)."""
    env = dict(os.environ)
    if os.environ.get("FEDRISK_ALLOW_TELEMETRY", "0") != "1":
        env.update(OFFLINE_ENV)
    env.setdefault("PYTHONUNBUFFERED", "1")
    bin_dir = str(Path(sys.executable).parent)  # Flower spawns flower-superexec / flwr-serverapp by name
    if bin_dir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env.update(extra or {})
    return env


def flower_bin(name: str) -> str:
    """Path of a Flower executable next to this Python (the venv), else on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ConfigError(f"`{name}` not found next to {sys.executable} or on PATH: install flwr==1.42")
    return found


@dataclass(frozen=True, slots=True)
class CoordinatorConfig:
    """Where and how the coordinator's SuperLink serves."""

    pki: PkiPaths
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 9091
    auth: bool = True
    members: tuple[str, ...] | None = None
    """Register only these members' node keys (default: every key in ``nodes.json``)."""
    revoked: tuple[str, ...] = ()
    """Members whose node keys are never registered (a revoked member's node is refused)."""
    connect_host: str = "127.0.0.1"
    """How the coordinator's own CLI reaches the SuperLink (its certificate must name it)."""

    @property
    def address(self) -> str:
        """``host:port`` the coordinator's CLI uses."""
        return f"{self.connect_host}:{self.port}"

    @property
    def flwr_home(self) -> Path:
        """The Flower CLI's home (connection config) inside the state dir."""
        return self.state_dir / "flwr-home"


def superlink_argv(cfg: CoordinatorConfig) -> list[str]:
    """The ``flower-superlink`` command line for ``cfg`` (TLS always; node auth unless ``auth=False``)."""
    argv = [
        flower_bin("flower-superlink"),
        "--ssl-ca-certfile",
        str(cfg.pki.ca_cert),
        "--ssl-certfile",
        str(cfg.pki.server_cert),
        "--ssl-keyfile",
        str(cfg.pki.server_key),
        "--host",
        cfg.host,
        "--port",
        str(cfg.port),
        "--database",
        str(cfg.state_dir / "superlink.db"),
        "--disable-runtime-dependency-installation",
    ]
    if cfg.auth:
        argv.append("--enable-supernode-auth")
    return argv


def write_flwr_home(cfg: CoordinatorConfig) -> Path:
    """Write the Flower CLI's ``config.toml`` naming the SuperLink and the CA that signs its certificate."""
    cfg.flwr_home.mkdir(parents=True, exist_ok=True)
    text = (
        f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
        f"address = {json.dumps(cfg.address)}\nroot-certificates = {json.dumps(str(cfg.pki.ca_cert.resolve()))}\n"
    )
    path = cfg.flwr_home / "config.toml"
    path.write_text(text)
    return path


def flwr_cli(cfg: CoordinatorConfig, args: list[str], *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run the ``flwr`` CLI against the coordinator's SuperLink connection."""
    env = offline_env({"FLWR_HOME": str(cfg.flwr_home)})
    return subprocess.run(
        [flower_bin("flwr"), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _json_out(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                doc: dict[str, Any] = json.loads(line)
                return doc
            except ValueError:
                break
    try:
        whole: dict[str, Any] = json.loads(proc.stdout)
        return whole
    except ValueError as err:
        raise FederationError(
            f"flwr printed no JSON (rc {proc.returncode}): {proc.stdout[-400:]} {proc.stderr[-400:]}"
        ) from err


def wait_healthy(
    cfg: CoordinatorConfig, *, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> float:
    """Wait until the SuperLink answers ``GET /health`` over TLS; return the seconds it took."""
    import httpx

    start = time.monotonic()
    url = f"https://{cfg.address}/health"
    while time.monotonic() - start < timeout:
        if proc is not None and proc.poll() is not None:
            raise FederationError(f"the SuperLink exited with code {proc.returncode}; see its log")
        try:
            if httpx.get(url, verify=str(cfg.pki.ca_cert), timeout=2.0).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise FederationError(f"the SuperLink at {url} was not healthy within {timeout:.0f} s")


@contextmanager
def control_client(cfg: CoordinatorConfig) -> Iterator[Any]:
    """A Flower Control API client (as the ``flwr`` CLI builds it) for the coordinator's SuperLink."""
    from flwr.cli.typing import SuperLinkConnection
    from flwr.cli.utils import init_http_client_from_connection

    os.environ["FLWR_HOME"] = str(cfg.flwr_home)  # where the CLI side keeps (no) account credentials
    conn = SuperLinkConnection(CONNECTION, address=cfg.address, root_certificates=str(cfg.pki.ca_cert.resolve()))
    with redirect_stdout(sys.stderr):  # Flower prints "Using SuperLink: ..." on stdout
        client = init_http_client_from_connection(conn)
    try:
        yield client
    finally:
        client.close()


def register_members(cfg: CoordinatorConfig) -> dict[str, int]:
    """Register the node keys of the federation's members; return member -> Flower node id.

    Members not in ``cfg.members`` (when given) and members in ``cfg.revoked`` are not registered, so
    their nodes are refused by the SuperLink. Same Control API call as ``flwr supernode register``.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from flwr.proto.control_pb2 import RegisterNodeRequest
    from flwr.supercore.primitives.asymmetric import public_key_to_bytes

    keys = read_registry(cfg.pki)
    wanted = [m for m in (cfg.members or tuple(keys)) if m not in cfg.revoked]
    missing = [m for m in wanted if m not in keys]
    if missing:
        raise ConfigError(f"no node key for members {missing} in {cfg.pki.registry}")
    registered: dict[str, int] = {}
    with control_client(cfg) as client:
        for member in wanted:
            key = serialization.load_ssh_public_key(keys[member].public_key.encode())
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise ConfigError(f"{member}'s node key is not an EC key (Flower node auth needs NIST EC)")
            res = client.RegisterNode(RegisterNodeRequest(public_key=public_key_to_bytes(key), name=member))
            if not res.node_id:
                raise FederationError(f"the SuperLink did not register {member}'s node key")
            registered[member] = int(res.node_id)
    return registered


def list_nodes(cfg: CoordinatorConfig) -> list[dict[str, Any]]:
    """The SuperLink's nodes: ``node_id``, ``name``, ``status`` (as ``flwr supernode ls``)."""
    from flwr.proto.control_pb2 import ListNodesRequest

    with control_client(cfg) as client:
        res = client.ListNodes(ListNodesRequest())
    return [{"node_id": int(n.node_id), "name": n.name, "status": n.status} for n in res.nodes_info]


def wait_nodes_online(cfg: CoordinatorConfig, n: int, *, timeout: float = 120.0) -> float:
    """Wait until ``n`` nodes are online; return the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        online = [x for x in list_nodes(cfg) if str(x.get("status", "")).lower() == "online"]
        if len(online) >= n:
            return time.monotonic() - start
        time.sleep(0.2)
    raise FederationError(f"fewer than {n} member nodes came online within {timeout:.0f} s")


def write_run_config(path: Path, values: Mapping[str, str | int | float]) -> Path:
    """A TOML run-config file (what ``flwr run --run-config FILE.toml`` reads)."""
    lines = []
    for key, value in values.items():
        lines.append(f"{key} = {json.dumps(value) if isinstance(value, str) else repr(value)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def submit_run(cfg: CoordinatorConfig, run_config: Mapping[str, str | int | float]) -> int:
    """Submit the fedrisk Flower app with ``run_config``; return the run id."""
    toml = write_run_config(cfg.state_dir / "run-config.toml", run_config)
    proc = flwr_cli(cfg, ["run", str(APP_DIR), CONNECTION, "--run-config", str(toml), "--format", "json"], timeout=120)
    doc = _json_out(proc)
    if not doc.get("success") or doc.get("run-id") is None:
        raise FederationError(f"`flwr run` did not start the run: {doc}")
    return int(doc["run-id"])


def run_status(cfg: CoordinatorConfig, run_id: int) -> str:
    """A run's status text, e.g. ``running`` or ``finished:completed`` (``flwr ls --run-id``)."""
    doc = _json_out(flwr_cli(cfg, ["ls", CONNECTION, "--run-id", str(run_id), "--format", "json"]))
    runs = doc.get("runs", [])
    return str(runs[0].get("status", "")) if runs else ""


def run_logs(cfg: CoordinatorConfig, run_id: int) -> str:
    """The ServerApp's log of a run (``flwr log RUN_ID --show``)."""
    proc = flwr_cli(cfg, ["log", str(run_id), CONNECTION, "--show"])
    return proc.stdout + proc.stderr


def wait_run(cfg: CoordinatorConfig, run_id: int, *, timeout: float = 3600.0, poll_s: float = 1.0) -> str:
    """Wait until the run finishes; return its final status (``finished:completed`` when it succeeded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = run_status(cfg, run_id)
        if status.startswith("finished"):
            return status
        time.sleep(poll_s)
    raise FederationError(f"run {run_id} did not finish within {timeout:.0f} s")


@dataclass
class Processes:
    """Child processes started by this process, each in its own process group, stopped by PID."""

    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(
        self, name: str, argv: list[str], *, log: Path, env: dict[str, str] | None = None, stdout: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in its own process group with stderr (and stdout, unless ``stdout``) to ``log``."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh, open(stdout or os.devnull, "wb") as out:
            proc = subprocess.Popen(
                argv,
                stdout=out if stdout else fh,
                stderr=fh if stdout else subprocess.STDOUT,
                env=env or offline_env(),
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process group of one child (its Flower sub-processes included)."""
        proc = self.procs[name]
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        if sig == signal.SIGKILL:
            proc.wait(timeout=10)

    def stop_all(self, *, grace: float = 5.0) -> None:
        """SIGTERM every child's group, then SIGKILL what is left after ``grace`` seconds."""
        for proc in self.procs.values():
            if proc.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group: Flower's SuperExec / app children too
            if proc.poll() is None:
                proc.wait(timeout=10)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """A member's node: who it is, its data, its keys, where the coordinator is."""

    member: str
    data_dir: Path
    keys_dir: Path
    superlink: str
    runtime_port: int = 9094
    outbound_dir: Path | None = None
    auth: bool = True


def node_argv(node: NodeConfig, *, warm: bool = True) -> list[str]:
    """``flower-supernode`` arguments (without the program name) for a member's node."""
    ca = node.keys_dir / "ca.crt"
    if not ca.is_file():
        raise ConfigError(f"no CA certificate at {ca}: copy the federation's ca.crt into the node's keys dir")
    outbound = node.outbound_dir or (node.keys_dir.parent / "outbound" / node.member)
    config = f'member="{node.member}" data-dir="{node.data_dir.resolve()}" outbound-dir="{Path(outbound).resolve()}"'
    argv = [
        "--superlink",
        node.superlink,
        "--root-certificates",
        str(ca),
        "--node-config",
        config,
        "--host",
        "127.0.0.1",
        "--port",
        str(node.runtime_port),
        "--isolation",
        "process" if warm else "subprocess",
    ]
    if node.auth:
        key = node.keys_dir / "auth.key"
        if not key.is_file():
            raise ConfigError(f"no node key at {key}: create it with `fedrisk pki node-key`")
        argv += ["--auth-supernode-private-key", str(key)]
    return argv


def read_outcome(out_dir: Path) -> dict[str, Any]:
    """The coordinator's ``outcome.json`` of a finished run."""
    path = out_dir / "outcome.json"
    if not path.is_file():
        raise FederationError(f"no outcome at {path}: the run wrote no finished job (see the SuperLink log)")
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def serve(
    cfg: CoordinatorConfig,
    *,
    run_config: Mapping[str, str | int | float] | None = None,
    expect_nodes: int = 0,
    keep_serving: bool = False,
    log: Callable[[str], None] = print,
    procs: Processes | None = None,
) -> dict[str, Any]:
    """Start the SuperLink, register the members' node keys and (with ``run_config``) run one plan.

    Returns timings and the run's final status. Stops the SuperLink on return unless ``keep_serving``
    (then it blocks until interrupted).
    """
    procs = procs or Processes()
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {}
    t0 = time.monotonic()
    if threading.current_thread() is threading.main_thread():  # SIGTERM (docker stop) must still stop the SuperLink

        def _exit(signum: int, _frame: object) -> None:
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, _exit)
    try:
        link = procs.start("superlink", superlink_argv(cfg), log=cfg.state_dir / "superlink.log")
        report["healthy_s"] = wait_healthy(cfg, proc=link)
        write_flwr_home(cfg)
        if cfg.auth:
            report["registered"] = register_members(cfg)
        log(
            f"SuperLink ready at {cfg.host}:{cfg.port} (TLS{', node auth' if cfg.auth else ''}) "
            f"in {time.monotonic() - t0:.1f} s"
        )
        if run_config is not None:
            if expect_nodes:
                report["nodes_online_s"] = wait_nodes_online(cfg, expect_nodes)
                report["online_since_start_s"] = time.monotonic() - t0
                log(f"{expect_nodes} member nodes online after {time.monotonic() - t0:.1f} s")
            started = time.monotonic()
            run_id = submit_run(cfg, run_config)
            log(f"run {run_id} submitted")
            report["run_id"] = run_id
            report["status"] = wait_run(cfg, run_id)
            report["run_s"] = time.monotonic() - started
            (cfg.state_dir / f"serverapp-{run_id}.log").write_text(run_logs(cfg, run_id))
            log(f"run {run_id} {report['status']} in {report['run_s']:.1f} s (log: serverapp-{run_id}.log)")
        if keep_serving:
            link.wait()
    finally:
        procs.stop_all()
    return report


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_loopback(
    plan_json: str,
    pki: PkiPaths,
    data_dirs: Mapping[str, Path],
    root: Path,
    *,
    keys_dirs: Mapping[str, Path] | None = None,
    round_timeout_s: float = 600.0,
    flower_default: bool = False,
    node_retry_s: Mapping[str, float] | None = None,
    timeout_s: float = 600.0,
    watch: Callable[[Path, Processes, float], None] | None = None,
) -> dict[str, Any]:
    """A whole federation on this machine as separate processes (``fedrisk coordinator serve`` and one
    ``fedrisk node start`` per entry of ``data_dirs``), over TLS with node auth, on free loopback ports.

    ``watch(out_dir, processes, elapsed_s)`` is called every 0.1 s while the coordinator runs (tests use it to
    kill a member). Every process is stopped by PID (its process group) before returning. Returns the
    coordinator's JSON report plus ``wall_s`` and the node processes' exit codes (``node_rc``).
    """
    cli = [sys.executable, "-m", "fedrisk.cli.app"]
    port = free_port()
    out = root / "out"
    (root / "plan.json").write_text(plan_json)
    procs = Processes()
    started = time.monotonic()
    report: dict[str, Any] = {}
    try:
        coordinator = procs.start(
            "coordinator",
            [*cli, "coordinator", "serve", "--pki", str(pki.root), "--state-dir", str(root / "state"),
             "--port", str(port), "--plan", str(root / "plan.json"), "--out", str(out),
             "--round-timeout", str(round_timeout_s), "--json"],
            log=root / "coordinator.log",
            stdout=root / "coordinator.json",
        )  # fmt: skip
        for member, data in data_dirs.items():
            keys = (keys_dirs or {}).get(member, pki.member_dir(member))
            argv = [*cli, "node", "start", "--member", member, "--data-dir", str(data), "--keys-dir", str(keys),
                    "--superlink", f"127.0.0.1:{port}", "--runtime-port", str(free_port()),
                    "--outbound-dir", str(root / "outbound" / member),
                    "--retry-for", str((node_retry_s or {}).get(member, 120.0))]  # fmt: skip
            procs.start(member, argv + (["--flower-default"] if flower_default else []), log=root / f"{member}.log")
        while coordinator.poll() is None and time.monotonic() - started < timeout_s:
            if watch is not None:
                watch(out, procs, time.monotonic() - started)
            time.sleep(0.1)
        if coordinator.poll() is None:
            raise FederationError(f"the loopback federation did not finish within {timeout_s:.0f} s")
        text = (root / "coordinator.json").read_text()
        report = json.loads(text) if text.strip() else {}
        report["coordinator_rc"] = coordinator.returncode
        report["node_rc"] = {m: procs.procs[m].poll() for m in data_dirs}
    finally:
        procs.stop_all()
        report["wall_s"] = time.monotonic() - started
    return report
