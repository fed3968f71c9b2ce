"""A member's node process on Flower's deployment engine: a SuperNode plus one long-lived ClientApp executor.

Flower 1.42's default SuperNode (``--isolation subprocess``) starts a SuperExec that spawns a fresh
``flwr-clientapp`` process for every message; each one imports torch, installs the app's FAB and reloads the
member's data (about 37 s a round for 3 members on 2 cores). Here the SuperNode runs with ``--isolation
process`` and this module's :func:`serve_tasks` takes its place: one thread that acquires the node's ClientApp
tasks from the SuperNode's local Runtime API and runs them in the same, already warm, process (torch imported
once, the member's prepared data cached by ``member_node.load_member``).

It also runs *only* the member app installed on the node (:data:`fedrisk.federation.member_node.app`): a run
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
from typing import Any

from fedrisk._env import quiet_and_offline

quiet_and_offline()

from flwr.app import Context, Message  # noqa: E402
from flwr.app.error import Error  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.common.config import get_fab_config  # noqa: E402
from flwr.common.constant import ErrorCode, SubStatus  # noqa: E402
from flwr.proto.runtime_pb2 import AcquireTaskRequest  # noqa: E402
from flwr.supercore.constant import TaskType  # noqa: E402
from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http  # noqa: E402
from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor, RuntimeVersionHttpInterceptor  # noqa: E402
from flwr.supercore.retry import make_simple_http_retry_invoker  # noqa: E402
from flwr.supercore.runtime import RuntimeHttpClient  # noqa: E402
from flwr.supernode.runtime.run_clientapp import pull_task_input, push_message, push_task_output  # noqa: E402

from fedrisk.federation.wire import pack_message, unpack_message  # noqa: E402

_log = logging.getLogger(__name__)

MEMBER_APP_REF = "fedrisk.federation.member_node:app"
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
    try:
        message, context, _run, fab = pull_task_input(client)
        declared = declared_client_app(fab.content)
        if declared != MEMBER_APP_REF:
            raise PermissionError(
                f"the run's Flower app declares ClientApp {declared!r}; this node runs only {MEMBER_APP_REF!r}"
            )
        reply = pack_message(client_app(message=unpack_message(message), context=context))
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
    if warm:
        from fedrisk.federation.member_node import app as member_app

        worker = threading.Thread(
            target=_serve_when_up,
            args=(f"127.0.0.1:{runtime_port}", member_app, poll_cap_s or 1.0),
            name="fedrisk-clientapp",
            daemon=True,
        )
        worker.start()
    sys.argv = ["flower-supernode", *argv]
    flower_supernode()


def _serve_when_up(address: str, client_app: ClientApp, poll_s: float) -> None:
    while True:
        try:
            serve_tasks(address, client_app, poll_s=poll_s)
            return
        except Exception:  # the Runtime API is not up yet, or restarted: retry
            _log.debug("runtime API at %s not ready; retrying", address, exc_info=True)
            time.sleep(0.5)
