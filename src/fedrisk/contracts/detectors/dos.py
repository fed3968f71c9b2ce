"""Denial-of-service rules: payments that can block progress, loops that grow with user input."""

from __future__ import annotations

from tree_sitter import Node

from fedrisk.contracts.detectors._base import (
    FileContext,
    Finding,
    callee_name,
    enclosing,
    low_level_calls,
    member_name,
    root_identifier,
    sends_value,
    state_writes,
    unwrap_down,
)
from fedrisk.contracts.parsing import FunctionInfo, iter_nodes, node_text

__all__ = ["detect_dos"]

_LOOPS = ("for_statement", "while_statement", "do_while_statement")


def _payments(function: FunctionInfo) -> list[tuple[Node, bool]]:
    """``(node, reverts_on_failure)`` for ether payments (``send``, ``call`` with value, ``transfer``)."""
    nodes = [
        (outer, False)
        for kind, _, outer in low_level_calls(function.node)
        if kind == "send" or (kind == "call" and sends_value(outer))
    ]
    nodes += [
        (n, True)
        for n in iter_nodes(function.node)
        if n.type == "call_expression"
        and callee_name(n) == "transfer"
        and (callee := unwrap_down(n.child_by_field_name("function"))) is not None
        and callee.type == "member_expression"
        and n.named_child_count == 2
    ]
    return nodes


def _failure_reverts(payment: Node) -> bool:
    """A failed ``send``/``call`` reverts: it sits in ``require``/``assert`` or ``if (!..) throw/revert``."""
    if _in_require(payment):
        return True
    branch = enclosing(payment, ("if_statement",))
    if branch is None:
        return False
    condition = branch.child_by_field_name("condition")
    body = branch.child_by_field_name("body")
    inside = condition is not None and condition.start_byte <= payment.start_byte < condition.end_byte
    text = node_text(body) if body is not None else ""
    return inside and ("throw" in text or "revert" in text)


def _loop_bound_unbounded(loop: Node, params: frozenset[str], state: frozenset[str]) -> bool:
    """The loop condition depends on a parameter or on the length of a stored array."""
    condition = loop.child_by_field_name("condition")
    if condition is None:
        return False
    names = {node_text(n) for n in iter_nodes(condition) if n.type == "identifier"}
    grows = any(n.type == "member_expression" and member_name(n) == "length" for n in iter_nodes(condition))
    return bool(names & params) or (grows and bool(names & state))


def _recipient(payment: Node) -> Node | None:
    """The address expression a payment is sent to (``a`` in ``a.send(..)`` / ``a.call.value(..)()``)."""
    for current in iter_nodes(payment):
        if current.type == "member_expression" and member_name(current) in ("send", "transfer", "call"):
            return current.child_by_field_name("object")
    return None


def _refunds_stored_party(payment: Node, function: FunctionInfo, state: frozenset[str]) -> bool:
    """The payment goes to an address read from storage and state is updated after it.

    This is the refund-the-previous-leader shape (auctions, King of the Ether): if that stored
    party rejects ether, the update never happens and nobody can take their place.
    """
    recipient = _recipient(payment)
    if recipient is None or root_identifier(recipient) not in state:
        return False
    return any(w.start_byte >= payment.end_byte for w in state_writes(function.node, state))


def _in_require(node: Node) -> bool:
    call = enclosing(node, ("call_expression",))
    while call is not None:
        if callee_name(call) in ("require", "assert"):
            return True
        call = enclosing(call, ("call_expression",))
    return False


def detect_dos(ctx: FileContext) -> list[Finding]:
    """Flag payments inside loops or required to succeed, and loops that grow storage without bound.

    * A payment whose failure reverts (``transfer``, ``require(x.send(..))``, ``if (!x.send(..)) throw``)
      inside a loop, or to an address held in storage before state is updated: one recipient
      contract that rejects ether blocks the function for everyone (King of the Ether, auctions).
      An unchecked ``send`` cannot block (its failure is ignored; see the unchecked-call rule).
    * A loop bounded by a parameter or a stored array's length that writes storage: gas grows with
      the array until the function can no longer fit in a block.
    """
    findings: list[Finding] = []
    for contract, function in ctx.functions():
        state = ctx.state_names(contract)
        params = frozenset(function.parameters)
        for payment, reverts in _payments(function):
            blocking = reverts or _failure_reverts(payment)
            in_loop = enclosing(payment, _LOOPS) is not None
            if blocking and (in_loop or _refunds_stored_party(payment, function, state)):
                findings.append(
                    ctx.finding(
                        payment,
                        "denial_of_service",
                        "blocking-payment",
                        "payment "
                        + ("inside a loop" if in_loop else "that must succeed")
                        + ": one recipient that rejects ether blocks the function for everyone",
                        function,
                    )
                )
        for loop in (n for n in iter_nodes(function.node) if n.type in _LOOPS):
            body = loop.child_by_field_name("body")
            writes = state_writes(body, state) if body is not None else []
            if writes and (
                _loop_bound_unbounded(loop, params, state)
                or any(callee_name(w) == "push" for w in writes if w.type == "call_expression")
            ):
                findings.append(
                    ctx.finding(
                        loop,
                        "denial_of_service",
                        "unbounded-loop",
                        "loop that writes storage with a bound the caller or the array size controls: "
                        "its gas grows until the function no longer fits in a block",
                        function,
                    )
                )
                findings.extend(
                    ctx.finding(
                        w,
                        "denial_of_service",
                        "unbounded-loop",
                        "storage grows inside a caller-sized loop",
                        function,
                    )
                    for w in writes
                    if w.type != "assignment_expression"
                )
    return findings
