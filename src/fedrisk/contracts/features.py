"""Function-level features from the syntax tree and the detectors (no comments, no names of the data).

Every feature is a count or a flag computed from one function's subtree, plus the number of detector
findings of each category inside the function. Counts are passed through ``log1p`` so that a model
needs no fitted scaler (members of a federation then share no statistics about their data).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from tree_sitter import Node

from fedrisk.contracts.detectors import CATEGORIES, Finding, run_detectors
from fedrisk.contracts.detectors._base import (
    callee_name,
    checks_sender,
    is_block_member,
    is_timestamp,
    low_level_calls,
    operator,
    result_unused,
    sends_value,
)
from fedrisk.contracts.parsing import FunctionInfo, ParsedFile, iter_nodes, node_text

__all__ = ["FEATURE_NAMES", "function_features"]

_SYNTAX: dict[str, Callable[[Node], bool]] = {
    "statements": lambda n: n.type == "statement",
    "ifs": lambda n: n.type == "if_statement",
    "loops": lambda n: n.type in ("for_statement", "while_statement", "do_while_statement"),
    "requires": lambda n: n.type == "call_expression" and callee_name(n) in ("require", "assert"),
    "reverts": lambda n: n.type == "revert_statement" or (n.type == "identifier" and node_text(n) == "throw"),
    "calls": lambda n: n.type == "call_expression",
    "transfers": lambda n: n.type == "call_expression" and callee_name(n) == "transfer",
    "assignments": lambda n: n.type in ("assignment_expression", "augmented_assignment_expression"),
    "augmented": lambda n: n.type == "augmented_assignment_expression",
    "arith_ops": lambda n: n.type == "binary_expression" and operator(n) in ("+", "-", "*", "/"),
    "modulo_ops": lambda n: n.type == "binary_expression" and operator(n) == "%",
    "comparisons": lambda n: n.type == "binary_expression" and operator(n) in ("==", "!=", "<", ">", "<=", ">="),
    "msg_sender": lambda n: n.type == "member_expression" and node_text(n) == "msg.sender",
    "msg_value": lambda n: n.type == "member_expression" and node_text(n) == "msg.value",
    "tx_origin": lambda n: n.type == "member_expression" and node_text(n) == "tx.origin",
    "block_number": lambda n: is_block_member(n, frozenset({"number"})),
    "timestamp": is_timestamp,
    "blockhash": lambda n: (
        is_block_member(n, frozenset({"blockhash"}))
        or (n.type == "call_expression" and node_text(n).startswith("blockhash"))
    ),
    "hashes": lambda n: n.type == "call_expression" and callee_name(n) in ("keccak256", "sha3", "sha256"),
    "selfdestruct": lambda n: n.type == "call_expression" and callee_name(n) in ("selfdestruct", "suicide"),
    "emits": lambda n: n.type == "emit_statement",
    "array_length": lambda n: n.type == "member_expression" and node_text(n).endswith(".length"),
    "push": lambda n: n.type == "call_expression" and callee_name(n) == "push",
}
_FLAGS = (
    "is_public",
    "is_payable",
    "is_view",
    "is_constructor",
    "is_fallback",
    "has_modifiers",
    "checks_sender",
    "pre_0_5",
)
_CALLS = ("low_level_calls", "value_calls", "unchecked_calls", "delegatecalls", "sends")

FEATURE_NAMES: tuple[str, ...] = (
    "lines",
    "params",
    *tuple(_SYNTAX),
    *_CALLS,
    *_FLAGS,
    *tuple(f"det_{c}" for c in CATEGORIES),
)
"""Names of the feature columns, in order."""


def _call_counts(function: FunctionInfo) -> list[float]:
    calls = list(low_level_calls(function.node))
    return [
        float(len(calls)),
        float(sum(kind == "call" and sends_value(outer) for kind, _, outer in calls)),
        float(sum(result_unused(outer) for _, _, outer in calls)),
        float(sum(kind in ("delegatecall", "callcode") for kind, _, _ in calls)),
        float(sum(kind == "send" for kind, _, _ in calls)),
    ]


def _flags(function: FunctionInfo, parsed: ParsedFile) -> list[float]:
    return [
        float(function.is_public),
        float(function.mutability == "payable"),
        float(function.mutability in ("view", "pure", "constant")),
        float(function.kind == "constructor"),
        float(function.kind == "fallback"),
        float(bool(function.modifiers)),
        float(checks_sender(function)),
        float(parsed.pragma is None or parsed.pragma[:2] < (0, 5)),
    ]


def _vector(function: FunctionInfo, parsed: ParsedFile, findings: list[Finding]) -> list[float]:
    counts = dict.fromkeys(_SYNTAX, 0)
    for node in iter_nodes(function.node):
        for name, test in _SYNTAX.items():
            counts[name] += int(test(node))
    inside = [f for f in findings if function.start_line <= f.line <= function.end_line]
    detector_counts = [float(sum(f.category == c for f in inside)) for c in CATEGORIES]
    raw = (
        [float(function.end_line - function.start_line + 1), float(len(function.parameters))]
        + [float(counts[n]) for n in _SYNTAX]
        + _call_counts(function)
    )
    return [math.log1p(x) for x in raw] + _flags(function, parsed) + [math.log1p(x) for x in detector_counts]


def function_features(parsed: ParsedFile) -> list[tuple[FunctionInfo, list[float]]]:
    """One feature vector per implemented function/constructor/fallback (modifiers and stubs excluded)."""
    findings = run_detectors(parsed)
    out: list[tuple[FunctionInfo, list[float]]] = []
    for contract in parsed.contracts:
        if contract.kind == "interface":
            continue
        for function in contract.functions:
            if function.kind == "modifier" or function.node.child_by_field_name("body") is None:
                continue
            out.append((function, _vector(function, parsed, findings)))
    return out
