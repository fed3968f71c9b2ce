"""A member's node process on Flower's deployment engine: a SuperNode plus one long-lived ClientApp executor.

Flower 1.42's default SuperNode (``--isolation subprocess``) starts a SuperExec that spawns a fresh
``flwr-clientapp`` process for every message; each one imports torch, installs the app's FAB and reloads the
member's data (about 37 s a round for 3 members on 2 cores). Here the SuperNode runs with ``--isolation
process`` and this module's :func:`serve_tasks` takes its place: one thread that acquires the node's ClientApp
tasks from the SuperNode's local Runtime API and runs them in the same, already warm, process (torch imported
once, the member's prepared data cached by ``member_node.load_member``).

It also runs *only* the member app installed on the node (:data:`fedrisk.federation.deploy_app.member`): a run
whose Flower app declares another ClientApp is refused, so a coordinator cannot make a member execute code it
ships in a FAB (Flower's own executor would install and run it).

The SuperNode's idle poll of the SuperLink is a hard-coded 3 s in ``flwr.supernode.start_client_internal``;
:func:`run_supernode` caps the sleeps of that one module (``poll_cap_s``), which is the only Flower
internal this module patches (pinned flwr==1.42; see docs/deployment.md).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import types
from collections.abc import Callable
from logging import INFO
from typing import Any

from fedrisk._env import quiet_and_offline

quiet_and_offline()

from flwr.app import Context, Message  # noqa: E402
from flwr.app.error import Error  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.common.config import get_fab_config  # noqa: E402
from flwr.common.constant import ErrorCode, SubStatus  # noqa: E402
from flwr.proto.runtime_pb2 import AcquireTaskRequest  # noqa: E402
from flwr.supercore import log as flwr_log  # noqa: E402
from flwr.supercore.constant import TaskType  # noqa: E402
from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http  # noqa: E402
from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor, RuntimeVersionHttpInterceptor  # noqa: E402
from flwr.supercore.retry import make_simple_http_retry_invoker  # noqa: E402
from flwr.supercore.runtime import RuntimeHttpClient  # noqa: E402
from flwr.supernode.runtime.run_clientapp import pull_task_input, push_message, push_task_output  # noqa: E402

from fedrisk.federation.wire import tune_object_pulls  # noqa: E402

_log = logging.getLogger(__name__)

MEMBER_APP_REF = "fedrisk.federation.deploy_app:member"
"""The only ClientApp a fedrisk node runs."""


def _client(address: str, *interceptors: Any) -> RuntimeHttpClient:
    return RuntimeHttpClient.from_server_address(
        server_address=address,
        insecure=True,  # the SuperNode's Runtime API listens on the node's own loopback
        root_certificates=None,
        interceptors=[RuntimeVersionHttpInterceptor(component_name="flwr-clientapp"), *interceptors],
        retry_invoker=make_simple_http_retry_invoker(),
    )


def declared_client_app(fab_content: bytes) -> str:
    """The ClientApp a Flower app (FAB) declares in its ``[tool.flwr.app.components]``."""
    return str(get_fab_config(fab_content)["tool"]["flwr"]["app"]["components"]["clientapp"])


def run_task(address: str, token: str, client_app: ClientApp) -> str:
    """Run one acquired ClientApp task in this process; return its final sub-status."""
    client = _client(address, RuntimeTokenHttpInterceptor(token))
    heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(client))
    heartbeat.start()
    message: Message | None = None
    context: Context | None = None
    reply: Message | None = None
    status, details = SubStatus.FAILED, "ClientApp task failed"
    t0 = time.perf_counter()
    try:
        message, context, _run, fab = pull_task_input(client)
        t1 = time.perf_counter()
        declared = declared_client_app(fab.content)
        if declared != MEMBER_APP_REF:
            raise PermissionError(
                f"the run's Flower app declares ClientApp {declared!r}; this node runs only {MEMBER_APP_REF!r}"
            )
        reply = client_app(message=message, context=context)
        t2 = time.perf_counter()
        status, details = SubStatus.COMPLETED, ""
    except Exception as err:  # reported to the coordinator as the message's error, as Flower's executor does
        _log.exception("ClientApp task failed")
        details = f"{type(err).__name__}: {err}"
        if message is not None:
            reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=details), reply_to=message)
    finally:
        try:
            if reply is not None and context is not None:
                push_message(client, reply, context)
            push_task_output(client=client, context=context, sub_status=status, details=details)
            if status == SubStatus.COMPLETED and message is not None:
                flwr_log(
                    INFO,
                    "fedrisk %s task: input %.2f s, ClientApp %.2f s, reply %.2f s",
                    message.metadata.message_type,
                    t1 - t0,
                    t2 - t1,
                    time.perf_counter() - t2,
                )
        finally:
            if heartbeat.is_running:
                heartbeat.stop()
            client.close()
    return status


def serve_tasks(
    address: str, client_app: ClientApp, *, poll_s: float = 0.1, stop: threading.Event | None = None
) -> None:
    """Acquire this node's ClientApp tasks from its SuperNode (Runtime API at ``address``) and run them here."""
    stop = stop or threading.Event()
    client = _client(address)
    try:
        while not stop.is_set():
            res = client.AcquireTask(AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP.value]))
            if res.HasField("task") and res.token:
                run_task(address, res.token, client_app)
            else:
                stop.wait(poll_s)
    finally:
        client.close()


class _CappedTime(types.ModuleType):
    """The ``time`` module with ``sleep`` capped at ``cap`` seconds (for one Flower module only)."""

    def __init__(self, cap: float) -> None:
        super().__init__("time")
        self._cap = cap

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        """Sleep at most ``cap`` seconds."""
        time.sleep(min(seconds, self._cap))


def run_supernode(argv: list[str], *, poll_cap_s: float | None = 0.1, warm: bool = True, runtime_port: int) -> None:
    """Run ``flower-supernode argv`` in this process; with ``warm``, serve its ClientApp tasks in a thread.

    ``poll_cap_s`` caps the SuperNode's idle poll of the SuperLink (Flower's default: 3 s); ``None`` keeps
    Flower's timing. ``argv`` must include ``--isolation process`` when ``warm``.
    """
    import flwr.supernode.start_client_internal as sci
    from flwr.supernode.cli.flower_supernode import flower_supernode

    logging.getLogger("flwr").propagate = False  # opacus installs a root handler: no duplicate DEBUG lines
    if poll_cap_s is not None:
        sci.time = _CappedTime(poll_cap_s)  # type: ignore[attr-defined]
        tune_object_pulls()
    if warm:
        worker = threading.Thread(
            target=_serve_when_up,
            args=(f"127.0.0.1:{runtime_port}", poll_cap_s or 1.0),
            name="fedrisk-clientapp",
            daemon=True,
        )
        worker.start()
    sys.argv = ["flower-supernode", *argv]
    flower_supernode()


def _serve_when_up(address: str, poll_s: float) -> None:
    """Serve the node's tasks once its Runtime API is up; the member app (torch) is imported after connecting."""
    import httpx

    client = _client(address)
    while True:
        try:
            client.AcquireTask(AcquireTaskRequest(supported_task_types=[]))  # a probe that acquires nothing
        except httpx.TransportError:  # not listening yet
            time.sleep(0.2)
            continue
        except Exception:  # it answered, with an error: it is up
            _log.debug("runtime API probe answered with an error", exc_info=True)
        break
    client.close()
    from fedrisk.federation.deploy_app import member

    while True:
        try:
            serve_tasks(address, member, poll_s=poll_s)
            return
        except Exception:  # the Runtime API restarted: retry
            _log.debug("runtime API at %s not ready; retrying", address, exc_info=True)
            time.sleep(0.5)


def supervise(spec: dict[str, Any], *, retry_for_s: float, log: Callable[[str], None]) -> int:
    """Run the node (:func:`run_supernode` with ``spec``) as a child process; restart it after a failure.

    Flower's SuperNode exits when the SuperLink refuses it (its key is not registered yet, or at all) or the
    connection is lost for good; the node is restarted after 1 s, for ``retry_for_s`` seconds after its last
    successful start. SIGTERM/SIGINT stop the child and the supervisor. Returns the child's last exit code.
    """
    import json
    import signal
    import subprocess

    stop = threading.Event()
    child: subprocess.Popen[bytes] | None = None

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    deadline = time.monotonic() + retry_for_s
    rc = 0
    while not stop.is_set():
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, "-m", "fedrisk.federation.node_runtime", json.dumps(spec)])
        rc = child.wait()
        if stop.is_set() or rc == 0:
            break
        if time.monotonic() - started > 30:  # it had been serving: a fresh retry window
            deadline = time.monotonic() + retry_for_s
        if time.monotonic() > deadline:
            log(f"node exited with code {rc}; giving up after {retry_for_s:.0f} s of retries")
            break
        log(f"node exited with code {rc} (refused or disconnected); restarting in 1 s")
        stop.wait(1.0)
    return rc


def _main() -> None:
    import json

    spec = json.loads(sys.argv[1])
    run_supernode(spec["argv"], poll_cap_s=spec["poll_cap_s"], warm=spec["warm"], runtime_port=spec["runtime_port"])


if __name__ == "__main__":
    _main()
