"""Integer over/underflow before Solidity 0.8 (which made arithmetic checked by default)."""

from __future__ import annotations

import re

from tree_sitter import Node

from fedrisk.contracts.detectors._base import (
    FileContext,
    Finding,
    callee_name,
    enclosing,
    operator,
    root_identifier,
    unwrap_down,
)
from fedrisk.contracts.parsing import FunctionInfo, iter_nodes, node_text

__all__ = ["detect_arithmetic"]

_SAFE_NAME = re.compile(r"^(safe)?(add|sub|mul|div|plus|minus|times)$|^safe", re.IGNORECASE)
_COMPARE = frozenset({"<", "<=", ">", ">="})


def _identifiers(node: Node) -> set[str]:
    return {node_text(n) for n in iter_nodes(node) if n.type == "identifier"}


def _tainted(node: Node, params: frozenset[str], state: frozenset[str]) -> bool:
    """An operand comes from the caller (a parameter, ``msg.value``) or from storage."""
    text = node_text(node)
    return "msg.value" in text or bool(_identifiers(node) & (params | state))


def _guards(function: FunctionInfo, before: int) -> list[Node]:
    """Comparisons in ``require``/``assert``/``if`` conditions that appear before byte ``before``."""
    guards: list[Node] = []
    for node in iter_nodes(function.node):
        if node.start_byte >= before:
            break
        is_check = node.type == "if_statement" or (
            node.type == "call_expression" and callee_name(node) in ("require", "assert")
        )
        if is_check:
            guards.extend(
                n
                for n in iter_nodes(node)
                if n.type == "binary_expression" and operator(n) in _COMPARE and n.start_byte < before
            )
    return guards


def _guarded(op_node: Node, operands: list[Node], function: FunctionInfo) -> bool:
    """A preceding comparison mentions every variable operand, with no arithmetic inside it."""
    names = set().union(*(_identifiers(o) for o in operands)) - {"msg", "value", "sender"}
    for guard in _guards(function, op_node.start_byte):
        has_arith = any(n.type == "binary_expression" and operator(n) in ("+", "-", "*") for n in iter_nodes(guard))
        if not has_arith and names and names <= _identifiers(guard):
            return True
    return False


def _cannot_overflow(node: Node, operands: list[Node]) -> bool:
    """Additions that cannot wrap in practice, and the overflow-check idiom itself.

    * ``x + msg.value`` / ``x += msg.value``: ether sums are bounded by the supply (< 2**90 wei).
    * ``x + <literal>`` / ``x += <literal>``: a counter cannot be incremented 2**256 times.
    * ``a + b > a`` (or ``>=``, either side): this *is* the overflow check.
    """
    op = operator(node)
    if op not in ("+", "+="):
        return False
    texts = [node_text(o).strip() for o in operands]
    if any(t == "msg.value" for t in texts):
        return True
    if any((u := unwrap_down(o)) is not None and u.type == "number_literal" for o in operands):
        return True
    parent = node.parent
    while parent is not None and parent.type in ("expression", "parenthesized_expression"):
        parent = parent.parent
    if parent is not None and parent.type == "binary_expression" and operator(parent) in _COMPARE:
        # compare base names: tree-sitter-solidity parses `a[i] + b >= a[i]` as `(a[i] + b >= a)[i]`
        bases = {root_identifier(o) for o in operands} - {""}
        others = [c for c in parent.named_children if not c.start_byte <= node.start_byte < c.end_byte]
        return any(root_identifier(o) in bases for o in others)
    return False


def _candidates(function: FunctionInfo) -> list[tuple[Node, list[Node]]]:
    """Arithmetic nodes with their operands: ``+= -= *=`` and binary ``+ - *``."""
    found: list[tuple[Node, list[Node]]] = []
    for node in iter_nodes(function.node):
        if node.type == "augmented_assignment_expression" and operator(node) in ("+=", "-=", "*="):
            operands = [n for n in (node.child_by_field_name("left"), node.child_by_field_name("right")) if n]
            found.append((node, operands))
        elif node.type == "binary_expression" and operator(node) in ("+", "-", "*"):
            operands = [n for n in (node.child_by_field_name("left"), node.child_by_field_name("right")) if n]
            if all((u := unwrap_down(o)) is not None and u.type == "number_literal" for o in operands):
                continue
            if enclosing(node, ("for_statement",)) is not None and enclosing(node, ("block_statement",)) is None:
                continue  # loop header arithmetic (i + 1) is bounded by the loop condition
            found.append((node, operands))
    return found


def detect_arithmetic(ctx: FileContext) -> list[Finding]:
    """Flag unchecked ``+ - *`` on caller-controlled or stored values in pre-0.8 code.

    Skipped: files with ``pragma >= 0.8``, SafeMath-like helpers (``add``/``sub``/``mul``/``safe*``),
    libraries, constant-only expressions, additions that cannot wrap in practice (ether amounts,
    ``+ literal``, the ``a + b >= a`` check itself) and operations preceded by a plain comparison of
    the same variables in a ``require``/``assert``/``if``.
    """
    if ctx.parsed.checked_arithmetic:
        return []
    findings: list[Finding] = []
    for contract, function in ctx.functions():
        if contract.kind == "library" or _SAFE_NAME.match(function.name) or function.kind == "modifier":
            continue
        params = frozenset(function.parameters)
        state = ctx.state_names(contract)
        for node, operands in _candidates(function):
            if (
                not any(_tainted(o, params, state) for o in operands)
                or _cannot_overflow(node, operands)
                or _guarded(node, operands, function)
            ):
                continue
            findings.append(
                ctx.finding(
                    node,
                    "arithmetic",
                    "unchecked-arithmetic",
                    f"'{operator(node)}' on caller-controlled or stored values without an overflow check "
                    "(Solidity < 0.8 wraps around silently; use SafeMath or a require)",
                    function,
                )
            )
    return findings
