"""Rules for pre-0.5 compiler behaviour: short-address padding and uninitialised storage pointers."""

from __future__ import annotations

import itertools
import re

from fedrisk.contracts.detectors._base import FileContext, Finding, state_writes
from fedrisk.contracts.parsing import iter_nodes, node_text

__all__ = ["detect_short_address", "detect_uninitialized_storage"]

_BALANCE_LIKE = re.compile(r"balance|token|coin|amount|fund|deposit", re.IGNORECASE)
_LOCATIONS = frozenset({"memory", "storage", "calldata"})


def _before(ctx: FileContext, major: int, minor: int) -> bool:
    """The pragma is older than ``major.minor`` (no pragma counts as old: the curated set is 0.4)."""
    return ctx.parsed.pragma is None or ctx.parsed.pragma[:2] < (major, minor)


def detect_short_address(ctx: FileContext) -> list[Finding]:
    """Flag public ``(address, uint)`` functions that move balances without checking ``msg.data.length``.

    Before 0.5 the ABI decoder accepted a truncated address and shifted the amount left, multiplying it
    by 256 per missing byte; a check of ``msg.data.length`` (often a modifier) prevents it.
    """
    if not _before(ctx, 0, 5):
        return []
    findings: list[Finding] = []
    for contract, function in ctx.functions():
        types = function.parameter_types
        pairs = any(a.strip() == "address" and b.strip().startswith("uint") for a, b in itertools.pairwise(types))
        if not (function.is_public and function.kind == "function" and pairs):
            continue
        state = ctx.state_names(contract)
        moves = [w for w in state_writes(function.node, state) if _BALANCE_LIKE.search(node_text(w))]
        guarded = "msg.data.length" in node_text(contract.node)
        if moves and not guarded:
            findings.append(
                ctx.finding(
                    function.node,
                    "short_addresses",
                    "short-address",
                    f"'{function.name}(address, uint)' moves balances without checking msg.data.length: "
                    "a short address shifts the amount (pre-0.5 ABI decoding)",
                    function,
                )
            )
    return findings


def detect_uninitialized_storage(ctx: FileContext) -> list[Finding]:
    """Flag local struct variables declared without a location or value before 0.5.

    They default to a storage pointer at slot 0, so writing their fields overwrites the first state
    variables (often the owner).
    """
    if not _before(ctx, 0, 5):
        return []
    structs = ctx.struct_names()
    findings: list[Finding] = []
    for _, function in ctx.functions():
        for node in iter_nodes(function.node):
            if node.type != "variable_declaration_statement" or node.child_by_field_name("value") is not None:
                continue
            declaration = next((c for c in node.named_children if c.type == "variable_declaration"), None)
            type_node = declaration.child_by_field_name("type") if declaration is not None else None
            if declaration is None or type_node is None or node_text(type_node).strip() not in structs:
                continue
            if any(node_text(c) in _LOCATIONS for c in declaration.children):
                continue
            findings.append(
                ctx.finding(
                    node,
                    "other",
                    "uninitialized-storage",
                    f"local struct '{node_text(type_node).strip()}' without 'memory' or a value is an "
                    "uninitialised storage pointer to slot 0: writing it overwrites state variables",
                    function,
                )
            )
    return findings
