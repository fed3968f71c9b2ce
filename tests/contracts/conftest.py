"""A tiny curated-like dataset written for the tests (same layout as smartbugs-curated).

Names differ per copy so that the copies are not verbatim clones (which folds keep together)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

_REENTRANT = """pragma solidity ^0.4.24;
contract Bank{i} {{
    mapping(address => uint) balances{i};
    function deposit() public payable {{ balances{i}[msg.sender] += msg.value; }}
    function withdraw(uint amount) public {{
        if (msg.sender.call.value(amount)()) {{
            balances{i}[msg.sender] -= amount;
        }}
    }}
    function balanceOf(address who) public view returns (uint) {{ return balances{i}[who]; }}
}}
"""

_UNCHECKED = """pragma solidity ^0.4.24;
contract Pay{i} {{
    address owner{i};
    constructor() public {{ owner{i} = msg.sender; }}
    function pay(address to, uint v) public {{
        to.send(v + {i});
    }}
    function total(uint a) public pure returns (uint) {{ return a * {i}; }}
}}
"""


@pytest.fixture
def tiny_curated(tmp_path: Path) -> Path:
    """A data dir with ``smartbugs-curated/`` holding 6 contracts and their annotations."""
    root = tmp_path / "smartbugs-curated"
    entries = []
    for i in range(3):
        for category, template, line in (
            ("reentrancy", _REENTRANT, 6),
            ("unchecked_low_level_calls", _UNCHECKED, 6),
        ):
            rel = f"dataset/{category}/c{i}.sol"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(template.format(i=i), encoding="utf-8")
            entries.append(
                {
                    "name": f"c{i}.sol",
                    "path": rel,
                    "pragma": "0.4.24",
                    "source": "test",
                    "vulnerabilities": [{"lines": [line], "category": category}],
                }
            )
    (root / "vulnerabilities.json").write_text(json.dumps(entries), encoding="utf-8")
    return tmp_path
