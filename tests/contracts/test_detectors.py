"""Each detector on small contracts written for the test: it fires on the bug and not on the fix."""

from __future__ import annotations

import pytest

from fedrisk.contracts.detectors import CATEGORIES, DETECTORS, run_detectors
from fedrisk.contracts.parsing import parse_source

HEADER = "pragma solidity ^0.4.24;\n"


def _hits(body: str, category: str, header: str = HEADER) -> list[int]:
    """Lines (1-based, counting the pragma line) where ``category`` is reported."""
    return [f.line for f in run_detectors(parse_source(header + body)) if f.category == category]


CASES: list[tuple[str, str, str, list[int]]] = [
    # (category, vulnerable source, fixed source, expected lines in the vulnerable source)
    (
        "reentrancy",
        """contract Bank {
    mapping(address => uint) balances;
    function withdraw(uint amount) public {
        if (msg.sender.call.value(amount)()) {
            balances[msg.sender] -= amount;
        }
    }
}""",
        """contract Bank {
    mapping(address => uint) balances;
    function withdraw(uint amount) public {
        balances[msg.sender] -= amount;
        require(msg.sender.call.value(amount)());
    }
}""",
        [5],
    ),
    (
        "unchecked_low_level_calls",
        """contract Pay {
    function pay(address to, uint v) public {
        to.send(v);
        to.call.value(v)();
    }
}""",
        """contract Pay {
    function pay(address to, uint v) public {
        require(to.send(v));
        bool ok = to.call.value(v)();
        require(ok);
    }
}""",
        [4, 5],
    ),
    (
        "access_control",
        """contract Wallet {
    address owner;
    function Walet() public { owner = msg.sender; }
    function pay(address to) public { require(tx.origin == owner); to.transfer(1); }
    function proxy(address lib) public { require(lib.delegatecall(msg.data)); }
}""",
        """contract Wallet {
    address owner;
    constructor() public { owner = msg.sender; }
    function pay(address to) public { require(msg.sender == owner); to.transfer(1); }
}""",
        [4, 5, 6],
    ),
    (
        "arithmetic",
        """contract Token {
    mapping(address => uint) balanceOf;
    function transfer(address to, uint value) public {
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
    }
}""",
        """contract Token {
    mapping(address => uint) balanceOf;
    function transfer(address to, uint value) public {
        require(balanceOf[msg.sender] >= value);
        require(balanceOf[to] + value >= balanceOf[to]);
        balanceOf[msg.sender] = sub(balanceOf[msg.sender], value);
    }
    function sub(uint a, uint b) internal pure returns (uint) { assert(b <= a); return a - b; }
}""",
        [5, 6],
    ),
    (
        "bad_randomness",
        """contract Lottery {
    function draw() public view returns (uint) {
        return uint(keccak256(block.blockhash(block.number - 1), now)) % 10;
    }
}""",
        """contract Lottery {
    uint public round;
    function next() public { round = round + 1; }
}""",
        [4],
    ),
    (
        "denial_of_service",
        """contract Refunds {
    address[] payees;
    address leader;
    uint bid;
    function refundAll() public {
        for (uint i = 0; i < payees.length; i++) { require(payees[i].send(1)); }
    }
    function outbid() public payable {
        require(leader.send(bid));
        leader = msg.sender;
        bid = msg.value;
    }
}""",
        """contract Refunds {
    mapping(address => uint) owed;
    function withdraw() public {
        uint amount = owed[msg.sender];
        owed[msg.sender] = 0;
        msg.sender.transfer(amount);
    }
}""",
        [7, 10],
    ),
    (
        "time_manipulation",
        """contract Sale {
    function open() public view returns (bool) { return block.timestamp >= 1546300800; }
}""",
        """contract Sale {
    uint public startBlock = 100;
    function open() public view returns (bool) { return block.number >= startBlock; }
}""",
        [3],
    ),
    (
        "front_running",
        """contract Puzzle {
    bytes32 constant hash = 0x1;
    mapping(address => mapping(address => uint)) allowed;
    function solve(string solution) public {
        require(hash == sha3(solution));
        msg.sender.transfer(1000);
    }
    function approve(address spender, uint value) public returns (bool) {
        allowed[msg.sender][spender] = value;
        return true;
    }
}""",
        """contract Puzzle {
    mapping(address => mapping(address => uint)) allowed;
    function approve(address spender, uint value) public returns (bool) {
        require(value == 0 || allowed[msg.sender][spender] == 0);
        allowed[msg.sender][spender] = value;
        return true;
    }
}""",
        [6, 9, 10],
    ),
    (
        "short_addresses",
        """contract Coin {
    mapping(address => uint) balances;
    function sendCoin(address to, uint amount) public returns (bool) {
        balances[msg.sender] -= amount;
        balances[to] += amount;
        return true;
    }
}""",
        """contract Coin {
    mapping(address => uint) balances;
    modifier onlyPayloadSize(uint size) { require(msg.data.length >= size + 4); _; }
    function sendCoin(address to, uint amount) public onlyPayloadSize(64) returns (bool) {
        balances[to] += amount;
        return true;
    }
}""",
        [4],
    ),
    (
        "other",
        """contract Roulette {
    struct Game { address player; uint number; }
    function play(uint number) public {
        Game game;
        game.player = msg.sender;
        game.number = number;
    }
}""",
        """contract Roulette {
    struct Game { address player; uint number; }
    function play(uint number) public {
        Game memory game;
        game.player = msg.sender;
        game.number = number;
    }
}""",
        [5],
    ),
]


@pytest.mark.parametrize(("category", "vulnerable", "fixed", "lines"), CASES, ids=[c[0] for c in CASES])
def test_detector_fires_on_bug_and_not_on_fix(category: str, vulnerable: str, fixed: str, lines: list[int]) -> None:
    # Act
    found = _hits(vulnerable, category)
    clean = _hits(fixed, category)
    # Assert
    assert sorted(set(found)) == lines
    assert clean == []


def test_every_category_has_a_case_and_a_detector() -> None:
    # Assert
    assert {c[0] for c in CASES} == set(CATEGORIES)
    assert {d.category for d in DETECTORS} == set(CATEGORIES)


def test_arithmetic_is_silent_from_solidity_08() -> None:
    # Arrange
    body = CASES[3][1]
    # Act / Assert
    assert _hits(body, "arithmetic", header="pragma solidity ^0.8.0;\n") == []


def test_findings_carry_function_severity_and_explanation() -> None:
    # Act
    findings = run_detectors(parse_source(HEADER + CASES[0][1]), frozenset({"reentrancy"}))
    # Assert
    assert len(findings) == 1
    finding = findings[0]
    assert (finding.function, finding.contract, finding.severity) == ("withdraw", "Bank", "high")
    assert "re-enter" in finding.explanation and finding.detector == "call-before-write"


def test_detectors_run_on_a_partially_parsed_file() -> None:
    # Arrange: the first function is broken, the second still holds an unchecked send
    src = (
        HEADER
        + "contract C {\n function f( public { uint x = ; }\n"
        + " function g(address a) public { a.send(1); }\n}\n"
    )
    # Act
    parsed = parse_source(src)
    found = run_detectors(parsed)
    # Assert
    assert not parsed.ok
    assert ("unchecked_low_level_calls", 4) in {(f.category, f.line) for f in found}
