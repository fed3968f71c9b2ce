"""Access-control rules: ``tx.origin`` authorisation, delegatecall, unprotected privileged functions."""

from __future__ import annotations

import re

from tree_sitter import Node

from fedrisk.contracts.detectors._base import (
    FileContext,
    Finding,
    callee_name,
    checks_sender,
    low_level_calls,
    operator,
    root_identifier,
    written_targets,
)
from fedrisk.contracts.parsing import ContractInfo, FunctionInfo, iter_nodes, node_text

__all__ = ["detect_delegatecall", "detect_tx_origin", "detect_unprotected_privileged"]

_OWNER_LIKE = re.compile(
    r"^_*(m_)?(owners?|creator|admin|ceo|cfo|coo|master|manager|controller|authority|"
    r"operator|governor|dev|required)$",
    re.IGNORECASE,
)
_DESTROY = frozenset({"selfdestruct", "suicide"})


def detect_tx_origin(ctx: FileContext) -> list[Finding]:
    """Flag comparisons with ``tx.origin``: any contract the owner calls can act as the owner (phishing)."""
    findings: list[Finding] = []
    for _, function in ctx.functions():
        for node in iter_nodes(function.node):
            if node.type != "binary_expression" or operator(node) not in ("==", "!="):
                continue
            sides = {node_text(c).strip() for c in node.named_children}
            # `msg.sender == tx.origin` only rejects contract callers; it authorises no one.
            if "tx.origin" in sides and "msg.sender" not in sides:
                findings.append(
                    ctx.finding(
                        node,
                        "access_control",
                        "tx-origin",
                        "authorisation with tx.origin: a contract the owner interacts with can call in as the owner",
                        function,
                    )
                )
    return findings


def detect_delegatecall(ctx: FileContext) -> list[Finding]:
    """Flag ``delegatecall`` in externally reachable code: the callee runs with this contract's storage."""
    findings: list[Finding] = []
    for _, function in ctx.functions():
        if not function.is_public and function.kind != "fallback":
            continue
        for kind, _, outer in low_level_calls(function.node):
            if kind in ("delegatecall", "callcode"):
                findings.append(
                    ctx.finding(
                        outer,
                        "access_control",
                        "delegatecall",
                        f"{kind} runs foreign code on this contract's storage; with a caller-influenced "
                        "target or data (msg.data, a parameter) anyone can rewrite owners or destroy "
                        "the contract",
                        function,
                    )
                )
    return findings


def _privileged_writes(function: FunctionInfo, state: frozenset[str]) -> list[Node]:
    """Writes to owner-like state variables and ``selfdestruct`` calls in ``function``."""
    nodes = [
        w
        for w, target in written_targets(function.node)
        if (name := root_identifier(target)) in state and _OWNER_LIKE.match(name)
    ]
    nodes += [n for n in iter_nodes(function.node) if n.type == "call_expression" and callee_name(n) in _DESTROY]
    return nodes


def _protected(function: FunctionInfo) -> bool:
    return bool(function.modifiers) or checks_sender(function)


def _privileged_helpers(contract: ContractInfo, state: frozenset[str]) -> frozenset[str]:
    """Unprotected functions that perform a privileged write (followed one call deep)."""
    return frozenset(
        f.name
        for f in contract.functions
        if f.kind == "function" and not _protected(f) and _privileged_writes(f, state)
    )


def detect_unprotected_privileged(ctx: FileContext) -> list[Finding]:
    """Flag public functions that set an owner-like variable or self-destruct without any access check.

    "No access check" means no modifier and no comparison of ``msg.sender``. This also catches
    mistyped pre-0.4.22 constructors, which are ordinary public functions anyone can call.
    """
    findings: list[Finding] = []
    for contract in ctx.parsed.contracts:
        state = ctx.state_names(contract)
        helpers = _privileged_helpers(contract, state)
        for function in contract.functions:
            if not function.is_public or function.kind != "function" or _protected(function):
                continue
            sensitive = _privileged_writes(function, state)
            sensitive += [
                n
                for n in iter_nodes(function.node)
                if n.type == "call_expression" and callee_name(n) in helpers and callee_name(n) != function.name
            ]
            if not sensitive:
                continue
            what = (
                "self-destructs"
                if any(callee_name(n) in _DESTROY for n in sensitive if n.type == "call_expression")
                else "changes ownership state"
            )
            findings.append(
                ctx.finding(
                    function.node,
                    "access_control",
                    "unprotected-privileged",
                    f"public function '{function.name}' {what} with no modifier and no msg.sender check "
                    "(a mistyped constructor name has the same effect)",
                    function,
                )
            )
            findings.extend(
                ctx.finding(
                    n,
                    "access_control",
                    "unprotected-privileged",
                    f"privileged operation reachable by anyone through '{function.name}'",
                    function,
                )
                for n in sensitive
            )
    return findings
