"""Parsing: contracts, functions, calls and state variables; failures reported, never raised in batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedrisk.contracts.parsing import parse_file, parse_file_safe, parse_source
from fedrisk.errors import DataNotFoundError, DataValidationError

OLD = """pragma solidity ^0.4.15;
contract Base { address owner; }
contract Bank is Base {
    mapping (address => uint) balances;
    uint constant FEE = 1;
    function Bank() { owner = msg.sender; }
    function getBalance(address u) constant returns (uint) { return balances[u]; }
    function withdraw(uint amount) onlyOwner public {
        var x = balances[msg.sender];
        if (!msg.sender.send(amount)) throw;
    }
    function() payable {}
    modifier onlyOwner { if (msg.sender != owner) throw; _; }
}
"""

NEW = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.19;
interface IERC20 { function transfer(address to, uint256 v) external returns (bool); }
contract Vault {
    uint256 public total;
    error Nope();
    constructor() { total = 0; }
    receive() external payable { total += msg.value; }
    function pull(address payable to) external {
        (bool ok, ) = to.call{value: total}("");
        if (!ok) revert Nope();
    }
}
"""


def test_parse_old_syntax_extracts_contracts_functions_and_state() -> None:
    # Act
    parsed = parse_source(OLD)
    # Assert
    assert parsed.ok and parsed.pragma == (0, 4, 15)
    bank = parsed.contracts[1]
    assert (bank.name, bank.bases) == ("Bank", ("Base",))
    assert [v.name for v in bank.state_variables] == ["balances", "FEE"]
    assert [v.is_constant for v in bank.state_variables] == [False, True]
    names = [(f.name, f.kind) for f in bank.functions]
    assert names == [
        ("Bank", "constructor"),
        ("getBalance", "function"),
        ("withdraw", "function"),
        ("fallback", "fallback"),
        ("onlyOwner", "modifier"),
    ]
    get_balance = bank.function("getBalance")
    assert get_balance is not None and get_balance.mutability == "constant" and get_balance.modifiers == ()
    withdraw = bank.function("withdraw")
    assert withdraw is not None
    assert (withdraw.start_line, withdraw.end_line, withdraw.visibility) == (8, 11, "public")
    assert withdraw.modifiers == ("onlyOwner",) and withdraw.parameters == ("amount",)
    assert [(c.line, c.member, c.is_low_level) for c in withdraw.calls] == [(10, "send", True)]


def test_parse_08_syntax() -> None:
    # Act
    parsed = parse_source(NEW)
    # Assert
    assert parsed.ok and parsed.checked_arithmetic
    assert [c.kind for c in parsed.contracts] == ["interface", "contract"]
    kinds = [(f.name, f.kind) for f in parsed.contracts[1].functions]
    assert kinds == [("constructor", "constructor"), ("fallback", "fallback"), ("pull", "function")]


def test_syntax_error_is_reported_not_raised() -> None:
    # Arrange
    broken = "pragma solidity ^0.4.24;\ncontract C {\n  function f( public { uint x = ; }\n}\n"
    # Act
    parsed = parse_source(broken)
    # Assert
    assert not parsed.ok
    assert parsed.issues and all(i.line >= 2 for i in parsed.issues)


def test_parse_file_errors(tmp_path: Path) -> None:
    # Arrange
    binary = tmp_path / "blob.sol"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    # Act / Assert
    with pytest.raises(DataNotFoundError, match="not found"):
        parse_file(tmp_path / "missing.sol")
    with pytest.raises(DataValidationError, match="not UTF-8"):
        parse_file(binary)
    safe = parse_file_safe(binary)
    assert not safe.ok and safe.tree is None and "UTF-8" in safe.issues[0].message


def test_comments_are_not_nodes_of_interest() -> None:
    # Arrange: a comment that names a call must not create a call site
    src = "contract C { function f() public { // a.send(1)\n uint x = 1; } }"
    # Act
    parsed = parse_source(src)
    # Assert
    assert parsed.functions[0].calls == ()
