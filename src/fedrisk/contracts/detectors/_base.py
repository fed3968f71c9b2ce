"""Shared pieces of the detectors: the finding record, the per-file context and syntax helpers.

Every detector is a pure function ``(FileContext) -> list[Finding]`` over the tree-sitter tree. The
helpers below answer the questions the rules ask ("which state variables does this statement write?",
"is this low-level call's result used?") and skip comments, so the dataset's in-file labels are never read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from fedrisk.contracts.parsing import ContractInfo, FunctionInfo, ParsedFile, iter_nodes, line_of, node_text

CATEGORIES: tuple[str, ...] = (
    "reentrancy",
    "unchecked_low_level_calls",
    "access_control",
    "arithmetic",
    "bad_randomness",
    "denial_of_service",
    "time_manipulation",
    "front_running",
    "short_addresses",
    "other",
)
"""DASP-10 category names as the SmartBugs curated set spells them (``other``: uninitialised storage)."""

SEVERITY: dict[str, str] = {
    "reentrancy": "high",
    "access_control": "high",
    "unchecked_low_level_calls": "medium",
    "arithmetic": "medium",
    "bad_randomness": "medium",
    "denial_of_service": "medium",
    "front_running": "low",
    "time_manipulation": "low",
    "short_addresses": "low",
    "other": "medium",
}
"""Default severity per category: direct loss of funds is high, conditional or costly attacks lower."""

LOW_LEVEL_MEMBERS = frozenset({"call", "send", "delegatecall", "callcode"})
_WRAPPERS = frozenset({"expression", "parenthesized_expression"})
_HASHES = frozenset({"keccak256", "sha3", "sha256", "ripemd160"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One line-level finding of a detector."""

    path: str
    line: int
    category: str
    detector: str
    severity: str
    explanation: str
    function: str = ""
    contract: str = ""


@dataclass(frozen=True, slots=True)
class Detector:
    """A named rule for one category."""

    name: str
    category: str
    description: str
    run: Callable[[FileContext], list[Finding]] = field(repr=False)


@dataclass(frozen=True, slots=True)
class FileContext:
    """What a rule needs about one parsed file."""

    parsed: ParsedFile

    @property
    def path(self) -> str:
        """Path of the file."""
        return self.parsed.path

    def contract(self, name: str) -> ContractInfo | None:
        """The contract of this file named ``name``."""
        return next((c for c in self.parsed.contracts if c.name == name), None)

    def state_names(self, contract: ContractInfo) -> frozenset[str]:
        """Non-constant state variable names of ``contract`` and its bases defined in this file."""
        names: set[str] = set()
        seen: set[str] = set()
        todo = [contract]
        while todo:
            current = todo.pop()
            if current.name in seen:
                continue
            seen.add(current.name)
            names.update(v.name for v in current.state_variables if not v.is_constant)
            todo.extend(c for b in current.bases if (c := self.contract(b)) is not None)
        return frozenset(names)

    def struct_names(self) -> frozenset[str]:
        """Struct names declared anywhere in the file."""
        return frozenset(s for c in self.parsed.contracts for s in c.struct_names)

    def functions(self) -> Iterator[tuple[ContractInfo, FunctionInfo]]:
        """Every (contract, function) pair of the file, skipping interfaces."""
        for contract in self.parsed.contracts:
            if contract.kind == "interface":
                continue
            for function in contract.functions:
                yield contract, function

    def finding(
        self,
        node: Node | int,
        category: str,
        detector: str,
        explanation: str,
        function: FunctionInfo | None = None,
    ) -> Finding:
        """Build a :class:`Finding` at ``node`` (or at a line number)."""
        line = node if isinstance(node, int) else line_of(node)
        return Finding(
            self.path,
            line,
            category,
            detector,
            SEVERITY[category],
            explanation,
            function.name if function else "",
            function.contract if function else "",
        )


def unwrap_up(node: Node) -> Node:
    """The nearest ancestor of ``node`` that is not an ``expression``/parenthesis wrapper."""
    parent = node.parent
    while parent is not None and parent.type in _WRAPPERS:
        parent = parent.parent
    return parent if parent is not None else node


def unwrap_down(node: Node | None) -> Node | None:
    """Strip ``expression``/parenthesis wrappers from ``node``."""
    while node is not None and node.type in _WRAPPERS and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def root_identifier(node: Node | None) -> str:
    """Base name of an lvalue-like expression: ``a`` for ``a.b[c].d``, ``""`` if none."""
    node = unwrap_down(node)
    while node is not None:
        if node.type == "identifier":
            return node_text(node)
        if node.type == "member_expression":
            node = node.child_by_field_name("object")
        elif node.type == "array_access":
            node = node.child_by_field_name("base")
        elif node.type in _WRAPPERS and node.named_child_count >= 1:
            node = node.named_children[0]
        else:
            return ""
    return ""


def operator(node: Node) -> str:
    """The operator token of a binary/unary/assignment expression."""
    return next((node_text(c) for c in node.children if not c.is_named and node_text(c) not in "()"), "")


def member_name(node: Node) -> str:
    """Property name of a member expression (``send`` for ``a.send``)."""
    prop = node.child_by_field_name("property")
    return node_text(prop) if prop is not None else ""


def callee_name(call: Node) -> str:
    """Last name of a call's callee: ``require`` for ``require(x)``, ``send`` for ``a.send(x)``."""
    callee = unwrap_down(call.child_by_field_name("function"))
    if callee is None:
        return ""
    if callee.type == "member_expression":
        return member_name(callee)
    return node_text(callee).strip()


def written_targets(node: Node) -> Iterator[tuple[Node, Node]]:
    """``(write_node, lvalue)`` for every assignment, ``+=``, ``++``/``--`` and ``delete`` under ``node``."""
    for current in iter_nodes(node):
        if current.type in ("assignment_expression", "augmented_assignment_expression"):
            left = current.child_by_field_name("left")
            if left is not None:
                yield current, left
        elif current.type == "update_expression" or (
            current.type == "unary_expression" and operator(current) == "delete"
        ):
            argument = current.child_by_field_name("argument")
            if argument is not None:
                yield current, argument
        elif current.type == "call_expression" and callee_name(current) in ("push", "pop"):
            callee = unwrap_down(current.child_by_field_name("function"))
            obj = callee.child_by_field_name("object") if callee is not None else None
            if obj is not None:
                yield current, obj


def storage_aliases(node: Node, state: frozenset[str]) -> frozenset[str]:
    """Local names bound to storage: ``var acc = Acc[msg.sender];`` or ``S storage s = ...``.

    Before 0.5, a local of a struct/array/mapping type (or ``var``) initialised from a state
    variable is a storage pointer, so writing through it writes state.
    """
    aliases: set[str] = set()
    for current in iter_nodes(node):
        if current.type != "variable_declaration_statement":
            continue
        value = current.child_by_field_name("value")
        declaration = next((c for c in current.named_children if c.type == "variable_declaration"), None)
        if value is None or declaration is None or root_identifier(value) not in state:
            continue
        type_node = declaration.child_by_field_name("type")
        type_text = node_text(type_node).strip() if type_node is not None else "var"
        is_value_type = re.fullmatch(r"u?int\d*|bool|address|bytes\d+|byte", type_text) is not None
        name = declaration.child_by_field_name("name")
        explicit_memory = any(node_text(c) == "memory" for c in declaration.children)
        if name is not None and not is_value_type and not explicit_memory:
            aliases.add(node_text(name))
    return frozenset(aliases)


def state_writes(node: Node, state: frozenset[str]) -> list[Node]:
    """Write nodes under ``node`` whose target is a state variable or a local storage pointer to one."""
    targets = state | storage_aliases(node, state)
    return [w for w, target in written_targets(node) if root_identifier(target) in targets]


def low_level_call(node: Node) -> tuple[str, Node] | None:
    """For a ``x.call``/``x.send``/``x.delegatecall`` member expression: (kind, outermost call node).

    The outermost node climbs through ``.value(..)``, ``.gas(..)`` and ``{value: ..}`` so that
    ``x.call.value(v).gas(g)(data)`` gives the node whose value is the call's boolean result.
    """
    if node.type != "member_expression" or member_name(node) not in LOW_LEVEL_MEMBERS:
        return None
    kind = member_name(node)
    outer = node
    parent = outer.parent
    while parent is not None:
        wraps = parent.type in _WRAPPERS or parent.type == "struct_expression"
        called = parent.type == "call_expression" and parent.child_by_field_name("function") == outer
        option = parent.type == "member_expression" and member_name(parent) in ("value", "gas")
        if wraps or called or option:
            outer, parent = parent, parent.parent
        else:
            break
    return kind, outer


def low_level_calls(node: Node) -> Iterator[tuple[str, Node, Node]]:
    """``(kind, member_node, outermost_node)`` for every low-level call under ``node``."""
    for current in iter_nodes(node):
        found = low_level_call(current)
        if found is not None:
            yield found[0], current, found[1]


def result_unused(outer: Node) -> bool:
    """``True`` when the value of ``outer`` is discarded.

    Discarded means: the call is a whole expression statement, or its result is stored in a local
    variable that is never read afterwards in the enclosing function.
    """
    parent = unwrap_up(outer)
    if parent.type == "expression_statement":
        return True
    if parent.type != "variable_declaration_statement":
        return False
    declaration = next((c for c in parent.named_children if c.type == "variable_declaration"), None)
    name = declaration.child_by_field_name("name") if declaration is not None else None
    scope = enclosing(parent, ("function_body",))
    if name is None or scope is None:
        return False
    later = [n for n in iter_nodes(scope) if n.type == "identifier" and n.start_byte >= parent.end_byte]
    return all(node_text(n) != node_text(name) for n in later)


def sends_value(outer: Node) -> bool:
    """``True`` when a ``.call`` forwards ether (``.value(..)`` or ``{value: ..}``)."""
    text = node_text(outer)
    return ".value(" in text.replace(" ", "") or re.search(r"\{\s*value\s*:", text) is not None


def enclosing(node: Node, types: tuple[str, ...]) -> Node | None:
    """Nearest ancestor of one of ``types``."""
    parent = node.parent
    while parent is not None and parent.type not in types:
        parent = parent.parent
    return parent


def statement_of(node: Node) -> Node:
    """The innermost statement (or state variable declaration) containing ``node``."""
    found = enclosing(
        node,
        (
            "expression_statement",
            "variable_declaration_statement",
            "return_statement",
            "if_statement",
            "emit_statement",
            "state_variable_declaration",
            "for_statement",
            "while_statement",
        ),
    )
    return found if found is not None else node


def uses_hash_or_modulo(node: Node) -> bool:
    """``True`` when ``node`` hashes something or takes a remainder."""
    for current in iter_nodes(node):
        if current.type == "call_expression" and callee_name(current) in _HASHES | {"blockhash"}:
            return True
        if current.type == "binary_expression" and operator(current) == "%":
            return True
    return False


def is_block_member(node: Node, names: frozenset[str]) -> bool:
    """``True`` for ``block.<name>`` with ``name`` in ``names``."""
    if node.type != "member_expression":
        return False
    obj = unwrap_down(node.child_by_field_name("object"))
    return obj is not None and node_text(obj) == "block" and member_name(node) in names


def is_timestamp(node: Node) -> bool:
    """``True`` for ``now`` or ``block.timestamp``."""
    if node.type == "identifier" and node_text(node) == "now":
        parent = node.parent
        return parent is None or parent.type not in ("variable_declaration", "parameter", "member_expression")
    return is_block_member(node, frozenset({"timestamp"}))


def checks_sender(function: FunctionInfo) -> bool:
    """``True`` when the function compares ``msg.sender`` (or ``tx.origin``) in a condition."""
    for node in iter_nodes(function.node):
        if node.type == "binary_expression" and operator(node) in ("==", "!="):
            text = node_text(node)
            if "msg.sender" in text or "tx.origin" in text:
                return True
    return False


def function_of(ctx: FileContext, node: Node) -> FunctionInfo | None:
    """The function (or modifier) whose definition contains ``node``."""
    for _, function in ctx.functions():
        if function.node.start_byte <= node.start_byte < function.node.end_byte:
            return function
    return None


def dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per (line, category, detector), in line order."""
    seen: set[tuple[int, str, str]] = set()
    out: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (f.line, f.category, f.detector)):
        key = (finding.line, finding.category, finding.detector)
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out
