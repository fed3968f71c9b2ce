"""Parse Solidity source with tree-sitter and extract contracts, functions, calls and state variables.

tree-sitter never raises on bad input: it recovers and marks ``ERROR`` / ``MISSING`` nodes. This module
turns those into :class:`ParseIssue` records on the :class:`ParsedFile`, so a batch never stops on one
bad file. A file that cannot be read at all (missing, not UTF-8, a directory) gives a ``ParsedFile``
with ``ok=False`` through :func:`parse_file_safe`; :func:`parse_file` raises instead.

Comments are never used by anything downstream: the curated dataset marks its vulnerable lines in
comments (``// <yes> <report> ...``), and reading them would leak the labels.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import tree_sitter_solidity
from tree_sitter import Language, Node, Parser, Tree

from fedrisk.errors import DataNotFoundError, DataValidationError

__all__ = [
    "CallSite",
    "ContractInfo",
    "FunctionInfo",
    "ParseIssue",
    "ParsedFile",
    "StateVariable",
    "iter_nodes",
    "line_of",
    "node_text",
    "parse_file",
    "parse_file_safe",
    "parse_source",
]

#: Keywords the 0.4.x grammar recovery sometimes reports as modifier invocations (``constant``).
_NOT_MODIFIERS = frozenset({"constant", "view", "pure", "payable", "public", "external", "internal", "private"})
_LOW_LEVEL = frozenset({"call", "send", "delegatecall", "callcode", "staticcall", "transfer"})
_FUNCTION_TYPES = (
    "function_definition",
    "constructor_definition",
    "fallback_receive_definition",
    "modifier_definition",
)
_CONTRACT_TYPES = ("contract_declaration", "library_declaration", "interface_declaration")
_PRAGMA_RE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@lru_cache(maxsize=1)
def _parser() -> Parser:
    with warnings.catch_warnings():  # tree-sitter-solidity 1.2 hands an int pointer (deprecated in 0.26)
        warnings.simplefilter("ignore", DeprecationWarning)
        language = Language(tree_sitter_solidity.language())
    return Parser(language)


def iter_nodes(node: Node) -> Iterator[Node]:
    """Yield ``node`` and all its named descendants in source order, skipping comments."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == "comment":
            continue
        yield current
        stack.extend(reversed(current.named_children))


def node_text(node: Node) -> str:
    """Source text of ``node`` (UTF-8, undecodable bytes replaced)."""
    return (node.text or b"").decode("utf-8", errors="replace")


def line_of(node: Node) -> int:
    """1-based line where ``node`` starts."""
    return int(node.start_point[0]) + 1


@dataclass(frozen=True, slots=True)
class ParseIssue:
    """A syntax problem: tree-sitter recovered but marked an ``ERROR`` or ``MISSING`` node."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class StateVariable:
    """A contract-level storage variable."""

    name: str
    type_text: str
    line: int
    visibility: str
    is_constant: bool


@dataclass(frozen=True, slots=True)
class CallSite:
    """A call inside a function: ``callee`` is the called expression's text, ``member`` its last name."""

    line: int
    callee: str
    member: str
    is_low_level: bool


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    """A function-like definition (function, constructor, fallback, modifier)."""

    name: str
    contract: str
    kind: str
    start_line: int
    end_line: int
    visibility: str
    modifiers: tuple[str, ...]
    mutability: str
    parameters: tuple[str, ...]
    parameter_types: tuple[str, ...]
    calls: tuple[CallSite, ...]
    node: Node = field(compare=False, repr=False)

    @property
    def is_public(self) -> bool:
        """Callable from outside: public/external, or no visibility (public by default before 0.5)."""
        return self.kind != "modifier" and self.visibility in ("public", "external", "")


@dataclass(frozen=True, slots=True)
class ContractInfo:
    """A contract, library or interface with its members."""

    name: str
    kind: str
    start_line: int
    end_line: int
    bases: tuple[str, ...]
    state_variables: tuple[StateVariable, ...]
    functions: tuple[FunctionInfo, ...]
    struct_names: tuple[str, ...]
    node: Node = field(compare=False, repr=False)

    def function(self, name: str) -> FunctionInfo | None:
        """First function named ``name`` (``None`` if absent)."""
        return next((f for f in self.functions if f.name == name), None)


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """The result of parsing one file; ``ok`` is ``False`` when the file could not be read or parsed."""

    path: str
    source: bytes
    contracts: tuple[ContractInfo, ...]
    issues: tuple[ParseIssue, ...]
    pragma: tuple[int, int, int] | None
    tree: Tree | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """``True`` when the file was read and parsed without error nodes."""
        return self.tree is not None and not self.issues

    @property
    def functions(self) -> tuple[FunctionInfo, ...]:
        """All functions of all contracts, in source order."""
        return tuple(f for c in self.contracts for f in c.functions)

    @property
    def checked_arithmetic(self) -> bool:
        """``True`` when the pragma says >= 0.8 (the compiler checks over/underflow)."""
        return self.pragma is not None and self.pragma[:2] >= (0, 8)


def _child_text(node: Node, type_name: str) -> str:
    child = next((c for c in node.named_children if c.type == type_name), None)
    return node_text(child) if child is not None else ""


def _parse_issues(root: Node) -> tuple[ParseIssue, ...]:
    issues: list[ParseIssue] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing:
            issues.append(ParseIssue(line_of(node), f"missing '{node.type}'"))
        elif node.is_error:
            snippet = node_text(node).strip().splitlines()[0][:60] if node_text(node).strip() else ""
            issues.append(ParseIssue(line_of(node), f"syntax error near '{snippet}'"))
        elif node.has_error:
            stack.extend(node.children)
    return tuple(sorted(issues, key=lambda i: i.line))


def _pragma(root: Node) -> tuple[int, int, int] | None:
    for node in root.named_children:
        if node.type == "pragma_directive" and "solidity" in node_text(node):
            match = _PRAGMA_RE.search(node_text(node))
            if match:
                return int(match[1]), int(match[2]), int(match[3] or 0)
    return None


def _call_sites(body: Node | None) -> tuple[CallSite, ...]:
    if body is None:
        return ()
    sites: list[CallSite] = []
    for node in iter_nodes(body):
        if node.type != "call_expression":
            continue
        callee = node.child_by_field_name("function")
        if callee is None:
            continue
        text = node_text(callee)
        member = re.split(r"[.\s]", text.strip())[-1] if text else ""
        sites.append(CallSite(line_of(node), text, member, member in _LOW_LEVEL or ".call." in text))
    return tuple(sites)


def _function(node: Node, contract: str) -> FunctionInfo:
    kind = {
        "constructor_definition": "constructor",
        "fallback_receive_definition": "fallback",
        "modifier_definition": "modifier",
    }.get(node.type, "function")
    name_node = node.child_by_field_name("name")
    name = node_text(name_node) if name_node is not None else kind
    if kind == "function" and name == contract:
        kind = "constructor"  # pre-0.4.22 constructor: same name as the contract
    modifiers = tuple(
        m
        for m in (node_text(c).split("(")[0].strip() for c in node.named_children if c.type == "modifier_invocation")
        if m not in _NOT_MODIFIERS
    )
    legacy = [node_text(c).strip() for c in node.named_children if c.type == "modifier_invocation"]
    mutability = _child_text(node, "state_mutability") or next(
        (m for m in legacy if m in ("constant", "view", "pure", "payable")), ""
    )
    params = [p for p in node.named_children if p.type == "parameter"]
    names = tuple(node_text(n) if (n := p.child_by_field_name("name")) is not None else "" for p in params)
    types = tuple(node_text(t) if (t := p.child_by_field_name("type")) is not None else "" for p in params)
    body = node.child_by_field_name("body")
    return FunctionInfo(
        name=name,
        contract=contract,
        kind=kind,
        start_line=line_of(node),
        end_line=int(node.end_point[0]) + 1,
        visibility=_child_text(node, "visibility"),
        modifiers=modifiers,
        mutability=mutability,
        parameters=names,
        parameter_types=types,
        calls=_call_sites(body),
        node=node,
    )


def _state_variable(node: Node) -> StateVariable:
    name_node = node.child_by_field_name("name")
    type_node = node.child_by_field_name("type")
    keywords = {node_text(c) for c in node.children if not c.is_named}
    return StateVariable(
        name=node_text(name_node) if name_node is not None else "",
        type_text=node_text(type_node) if type_node is not None else "",
        line=line_of(node),
        visibility=_child_text(node, "visibility"),
        is_constant="constant" in keywords or "immutable" in keywords,
    )


def _contract(node: Node) -> ContractInfo:
    name_node = node.child_by_field_name("name")
    name = node_text(name_node) if name_node is not None else "<anonymous>"
    body = node.child_by_field_name("body")
    members = body.named_children if body is not None else []
    bases = tuple(node_text(c).split("(")[0].strip() for c in node.named_children if c.type == "inheritance_specifier")
    structs = tuple(
        node_text(struct_name)
        for m in members
        if m.type == "struct_declaration" and (struct_name := m.child_by_field_name("name")) is not None
    )
    return ContractInfo(
        name=name,
        kind=node.type.split("_")[0],
        start_line=line_of(node),
        end_line=int(node.end_point[0]) + 1,
        bases=bases,
        state_variables=tuple(_state_variable(m) for m in members if m.type == "state_variable_declaration"),
        functions=tuple(_function(m, name) for m in members if m.type in _FUNCTION_TYPES),
        struct_names=structs,
        node=node,
    )


def _contract_nodes(root: Node) -> Iterator[Node]:
    for node in root.named_children:
        if node.type in _CONTRACT_TYPES:
            yield node
        elif node.type == "ERROR":  # recovery may wrap a whole contract in an ERROR node
            yield from _contract_nodes(node)


def parse_source(source: bytes | str, path: str = "<memory>") -> ParsedFile:
    """Parse Solidity ``source``; syntax errors are recorded in ``issues``, never raised.

    >>> parsed = parse_source("pragma solidity ^0.4.24; contract C { uint x; function f() public {} }")
    >>> parsed.ok, parsed.pragma, [f.name for f in parsed.functions]
    (True, (0, 4, 24), ['f'])
    """
    data = source.encode("utf-8") if isinstance(source, str) else source
    tree = _parser().parse(data)
    root = tree.root_node
    return ParsedFile(
        path=path,
        source=data,
        contracts=tuple(_contract(n) for n in _contract_nodes(root)),
        issues=_parse_issues(root) if root.has_error else (),
        pragma=_pragma(root),
        tree=tree,
    )


def parse_file(path: Path) -> ParsedFile:
    """Read and parse ``path``.

    Raises
    ------
    DataNotFoundError
        The file does not exist or is not a regular file.
    DataValidationError
        The file is not UTF-8 text.
    """
    if not path.is_file():
        raise DataNotFoundError(f"Solidity file {path} not found (or not a file): check the path.")
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataValidationError(
            f"{path} is not UTF-8 text ({err.reason} at byte {err.start}): is it a Solidity source file?"
        ) from err
    return parse_source(data, str(path))


def parse_file_safe(path: Path) -> ParsedFile:
    """Like :func:`parse_file`, but a read failure becomes a ``ParsedFile`` with ``ok=False``."""
    try:
        return parse_file(path)
    except (DataNotFoundError, DataValidationError, OSError) as err:
        return ParsedFile(
            path=str(path),
            source=b"",
            contracts=(),
            issues=(ParseIssue(0, str(err)),),
            pragma=None,
            tree=None,
        )
