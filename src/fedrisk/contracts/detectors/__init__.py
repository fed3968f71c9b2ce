"""Rule-based vulnerability detectors over the tree-sitter syntax tree, one small rule per pattern.

>>> from fedrisk.contracts.parsing import parse_source
>>> src = '''pragma solidity ^0.4.24;
... contract C { function pay(address a) public { a.send(1); } }'''
>>> [(f.line, f.category) for f in run_detectors(parse_source(src))]
[(2, 'unchecked_low_level_calls')]
"""

from __future__ import annotations

from fedrisk.contracts.detectors._base import CATEGORIES as CATEGORIES
from fedrisk.contracts.detectors._base import SEVERITY as SEVERITY
from fedrisk.contracts.detectors._base import Detector as Detector
from fedrisk.contracts.detectors._base import FileContext as FileContext
from fedrisk.contracts.detectors._base import Finding as Finding
from fedrisk.contracts.detectors._base import dedupe
from fedrisk.contracts.detectors.access_control import (
    detect_delegatecall,
    detect_tx_origin,
    detect_unprotected_privileged,
)
from fedrisk.contracts.detectors.arithmetic import detect_arithmetic
from fedrisk.contracts.detectors.block_values import detect_bad_randomness, detect_timestamp
from fedrisk.contracts.detectors.calls import detect_reentrancy, detect_unchecked_calls
from fedrisk.contracts.detectors.dos import detect_dos
from fedrisk.contracts.detectors.front_running import detect_front_running
from fedrisk.contracts.detectors.legacy import detect_short_address, detect_uninitialized_storage
from fedrisk.contracts.parsing import ParsedFile

__all__ = [
    "CATEGORIES",
    "DETECTORS",
    "SEVERITY",
    "Detector",
    "FileContext",
    "Finding",
    "run_detectors",
]

DETECTORS: tuple[Detector, ...] = (
    Detector(
        "call-before-write",
        "reentrancy",
        "ether-forwarding call followed by a state write",
        detect_reentrancy,
    ),
    Detector(
        "unchecked-call",
        "unchecked_low_level_calls",
        "call/send/delegatecall result discarded",
        detect_unchecked_calls,
    ),
    Detector("tx-origin", "access_control", "authorisation with tx.origin", detect_tx_origin),
    Detector("delegatecall", "access_control", "delegatecall from externally reachable code", detect_delegatecall),
    Detector(
        "unprotected-privileged",
        "access_control",
        "owner change / selfdestruct without a check",
        detect_unprotected_privileged,
    ),
    Detector(
        "unchecked-arithmetic",
        "arithmetic",
        "unchecked + - * on caller/stored values (< 0.8)",
        detect_arithmetic,
    ),
    Detector("block-entropy", "bad_randomness", "randomness from block values", detect_bad_randomness),
    Detector(
        "blocking-payment/unbounded-loop",
        "denial_of_service",
        "payments that can block, loops that grow storage",
        detect_dos,
    ),
    Detector("timestamp", "time_manipulation", "logic on now/block.timestamp", detect_timestamp),
    Detector(
        "approve-race/published-solution/mutable-amount",
        "front_running",
        "transaction-order dependence",
        detect_front_running,
    ),
    Detector(
        "short-address",
        "short_addresses",
        "(address, uint) transfer without msg.data.length check",
        detect_short_address,
    ),
    Detector(
        "uninitialized-storage",
        "other",
        "uninitialised local storage struct (< 0.5)",
        detect_uninitialized_storage,
    ),
)
"""Every detector, in category order."""


def run_detectors(parsed: ParsedFile, categories: frozenset[str] | None = None) -> list[Finding]:
    """Run all detectors (or those of ``categories``) on ``parsed``; one finding per line and rule."""
    if parsed.tree is None:
        return []
    ctx = FileContext(parsed)
    findings: list[Finding] = []
    for detector in DETECTORS:
        if categories is None or detector.category in categories:
            findings.extend(detector.run(ctx))
    return dedupe(findings)
