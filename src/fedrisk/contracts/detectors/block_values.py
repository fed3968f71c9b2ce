"""Rules on block values: bad randomness and timestamp dependence."""

from __future__ import annotations

import re

from tree_sitter import Node

from fedrisk.contracts.detectors._base import (
    FileContext,
    Finding,
    callee_name,
    function_of,
    is_block_member,
    is_timestamp,
    statement_of,
    uses_hash_or_modulo,
)
from fedrisk.contracts.parsing import iter_nodes

__all__ = ["detect_bad_randomness", "detect_timestamp"]

_ALWAYS_ENTROPY = frozenset({"blockhash", "difficulty", "coinbase", "gaslimit", "prevrandao"})
_RANDOM_NAME = re.compile(r"rand|seed|lott|lucky|draw|winner|roll|dice|shuffle|card|deal|guess", re.IGNORECASE)


def _randomness_context(ctx: FileContext, node: Node) -> bool:
    """The value is hashed / taken modulo in its statement, or used in a randomness-named function."""
    if uses_hash_or_modulo(statement_of(node)):
        return True
    function = function_of(ctx, node)
    return function is not None and _RANDOM_NAME.search(function.name) is not None


def detect_bad_randomness(ctx: FileContext) -> list[Finding]:
    """Flag block values used as a source of randomness.

    ``blockhash``, ``block.difficulty``, ``block.coinbase`` and ``block.gaslimit`` are flagged wherever
    they appear (they have almost no other use); ``block.number``, ``block.timestamp`` and ``now`` only
    when hashed, taken modulo, or used in a function named like a draw (``rand``, ``lottery``, ...).
    Miners choose or know all of them before the transaction runs.
    """
    findings: list[Finding] = []
    root = ctx.parsed.tree.root_node if ctx.parsed.tree is not None else None
    if root is None:
        return findings
    for node in iter_nodes(root):
        always = is_block_member(node, _ALWAYS_ENTROPY) or (
            node.type == "call_expression"
            and callee_name(node) == "blockhash"
            and "block.blockhash" not in (node.text or b"").decode("utf-8", "replace")
        )
        weak = is_block_member(node, frozenset({"number"})) or is_timestamp(node)
        if always or (weak and _randomness_context(ctx, node)):
            findings.append(
                ctx.finding(
                    node,
                    "bad_randomness",
                    "block-entropy",
                    "randomness derived from block data (blockhash/number/timestamp/difficulty/coinbase): "
                    "miners and other contracts can predict or influence it",
                    function_of(ctx, node),
                )
            )
    return findings


def detect_timestamp(ctx: FileContext) -> list[Finding]:
    """Flag every use of ``now`` / ``block.timestamp``: a miner can shift it by several seconds."""
    findings: list[Finding] = []
    root = ctx.parsed.tree.root_node if ctx.parsed.tree is not None else None
    if root is None:
        return findings
    for node in iter_nodes(root):
        if is_timestamp(node):
            findings.append(
                ctx.finding(
                    node,
                    "time_manipulation",
                    "timestamp",
                    "logic depends on block.timestamp/now, which the block producer can shift "
                    "(do not use it for randomness or fine-grained deadlines)",
                    function_of(ctx, node),
                )
            )
    return findings
