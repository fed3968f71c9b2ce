"""Rules on external calls: reentrancy and unchecked low-level calls."""

from __future__ import annotations

from tree_sitter import Node

from fedrisk.contracts.detectors._base import (
    FileContext,
    Finding,
    callee_name,
    low_level_calls,
    result_unused,
    sends_value,
    state_writes,
)
from fedrisk.contracts.parsing import ContractInfo, FunctionInfo, iter_nodes

__all__ = ["detect_reentrancy", "detect_unchecked_calls"]


def detect_unchecked_calls(ctx: FileContext) -> list[Finding]:
    """Flag ``call``/``send``/``delegatecall``/``callcode`` whose boolean result is discarded.

    A low-level call does not revert when the callee fails; it returns ``false``. Used as a bare
    statement, the failure goes unnoticed and the contract continues as if the payment happened.
    """
    findings: list[Finding] = []
    for _, function in ctx.functions():
        for kind, _, outer in low_level_calls(function.node):
            if result_unused(outer):
                findings.append(
                    ctx.finding(
                        outer,
                        "unchecked_low_level_calls",
                        "unchecked-call",
                        f"return value of low-level '{kind}' is ignored: a failed call does not revert, "
                        "so execution continues as if it succeeded",
                        function,
                    )
                )
    return findings


def _value_call_functions(contract: ContractInfo) -> frozenset[str]:
    """Names of this contract's functions that make an ether-forwarding ``.call``."""
    return frozenset(
        f.name
        for f in contract.functions
        if any(kind == "call" and sends_value(outer) for kind, _, outer in low_level_calls(f.node))
    )


def _external_calls(function: FunctionInfo, internal: frozenset[str]) -> list[tuple[Node, str]]:
    """(node, description) of ether-forwarding calls, direct or through an internal function."""
    calls: list[tuple[Node, str]] = [
        (outer, "low-level call forwards all remaining gas with ether")
        for kind, _, outer in low_level_calls(function.node)
        if kind == "call" and sends_value(outer)
    ]
    for node in iter_nodes(function.node):
        name = callee_name(node) if node.type == "call_expression" else ""
        if name in internal and name != function.name and "." not in name:
            calls.append((node, f"internal call to '{name}', which makes an external call with ether"))
    return calls


def detect_reentrancy(ctx: FileContext) -> list[Finding]:
    """Flag an ether-forwarding external call followed by a write to contract state.

    The callee runs before the state update, so it can re-enter the function and see the old state
    (the DAO pattern). Calls through an internal helper of the same contract count too.
    """
    findings: list[Finding] = []
    for contract in ctx.parsed.contracts:
        state = ctx.state_names(contract)
        internal = _value_call_functions(contract)
        for function in contract.functions:
            if function.mutability in ("view", "pure", "constant") or function.kind == "modifier":
                continue
            for call, how in _external_calls(function, internal):
                later = [w for w in state_writes(function.node, state) if w.start_byte >= call.end_byte]
                if later:
                    findings.append(
                        ctx.finding(
                            call,
                            "reentrancy",
                            "call-before-write",
                            f"{how}, and state is written after it (line {later[0].start_point[0] + 1}): "
                            "the callee can re-enter before the update",
                            function,
                        )
                    )
    return findings
