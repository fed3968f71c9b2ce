"""Transaction-order dependence: approve races, published solutions, mutable rewards."""

from __future__ import annotations

from fedrisk.contracts.detectors._base import (
    FileContext,
    Finding,
    callee_name,
    operator,
    root_identifier,
    unwrap_down,
    written_targets,
)
from fedrisk.contracts.parsing import ContractInfo, FunctionInfo, iter_nodes, node_text

__all__ = ["detect_front_running"]

_HASHES = frozenset({"keccak256", "sha3", "sha256"})


def _approve_race(ctx: FileContext, function: FunctionInfo, state: frozenset[str]) -> list[Finding]:
    """ERC-20 ``approve`` that overwrites an allowance without requiring it to be zero first."""
    if function.name != "approve" or not function.is_public:
        return []
    writes = [
        w for w, t in written_targets(function.node) if root_identifier(t) in state and node_text(t).count("[") >= 2
    ]
    if not writes or "== 0" in node_text(function.node).replace("==0", "== 0"):
        return []
    explanation = (
        "approve overwrites a non-zero allowance: the spender can front-run the change "
        "and spend both the old and the new allowance"
    )
    return [ctx.finding(function.node, "front_running", "approve-race", explanation, function)] + [
        ctx.finding(w, "front_running", "approve-race", explanation, function) for w in writes
    ]


def _published_solution(ctx: FileContext, function: FunctionInfo) -> list[Finding]:
    """A hash of a caller-supplied argument compared with a stored value (a puzzle with a prize)."""
    params = frozenset(function.parameters)
    findings: list[Finding] = []
    for node in iter_nodes(function.node):
        if node.type != "binary_expression" or operator(node) != "==":
            continue
        hashed = [n for n in iter_nodes(node) if n.type == "call_expression" and callee_name(n) in _HASHES]
        if any({node_text(i) for i in iter_nodes(h) if i.type == "identifier"} & params for h in hashed):
            findings.append(
                ctx.finding(
                    node,
                    "front_running",
                    "published-solution",
                    "the solution travels in a public transaction: anyone can copy it with a higher gas price",
                    function,
                )
            )
    return findings


def _mutable_amount(
    ctx: FileContext, contract: ContractInfo, function: FunctionInfo, state: frozenset[str]
) -> list[Finding]:
    """Ether sent in an amount held in storage that a public function can change."""
    findings: list[Finding] = []
    if not function.is_public:
        return findings
    writers = [f for f in contract.functions if f.is_public and f.kind == "function"]
    for node in iter_nodes(function.node):
        if node.type != "call_expression" or callee_name(node) not in ("transfer", "send"):
            continue
        args = [
            unwrap_down(a.named_children[0])
            for a in node.named_children
            if a.type == "call_argument" and a.named_child_count
        ]
        amount = args[0] if len(args) == 1 else None
        if amount is None or amount.type != "identifier" or node_text(amount) not in state:
            continue
        if any(root_identifier(t) == node_text(amount) for f in writers for _, t in written_targets(f.node)):
            findings.append(
                ctx.finding(
                    node,
                    "front_running",
                    "mutable-amount",
                    f"pays '{node_text(amount)}', which a public function can change: the amount paid "
                    "depends on transaction order",
                    function,
                )
            )
    return findings


def detect_front_running(ctx: FileContext) -> list[Finding]:
    """Flag transaction-order dependence (approve race, copied solution, mutable payout)."""
    findings: list[Finding] = []
    for contract in ctx.parsed.contracts:
        state = ctx.state_names(contract)
        for function in contract.functions:
            findings += _approve_race(ctx, function, state)
            findings += _published_solution(ctx, function)
            findings += _mutable_amount(ctx, contract, function, state)
    return findings
