"""RFC 6962 hashing, roots and inclusion proofs against the Certificate Transparency reference vectors."""

from __future__ import annotations

import hashlib

import pytest

from fedrisk.audit.merkle import (
    EMPTY_ROOT,
    CompactTree,
    inclusion_path,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_leaf_hashes,
    verify_inclusion,
)

# The eight leaves and tree heads of the CT reference test suite (RFC 6962 hashing).
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
]


def test_hash_definitions() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    assert EMPTY_ROOT.hex() == ROOTS[0]


@pytest.mark.parametrize("n", range(len(ROOTS)))
def test_roots_match_reference(n: int) -> None:
    assert merkle_root(LEAVES[:n]).hex() == ROOTS[n]
    tree = CompactTree()
    for leaf in LEAVES[:n]:
        tree.append(leaf)
    assert tree.root().hex() == ROOTS[n]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_paths_match_reference(index: int, size: int, path: list[str]) -> None:
    hashes = [leaf_hash(x) for x in LEAVES]
    assert [p.hex() for p in inclusion_path(hashes, index, size)] == path
    assert verify_inclusion(hashes[index], index, size, [bytes.fromhex(p) for p in path], bytes.fromhex(ROOTS[size]))


def _recursive_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_recursive_mth(leaves[:k]), _recursive_mth(leaves[k:]))


def test_every_proof_in_every_small_tree() -> None:
    hashes = [leaf_hash(i.to_bytes(2, "big")) for i in range(40)]
    for size in range(1, 41):
        root = root_from_leaf_hashes(hashes[:size])
        assert root == _recursive_mth(hashes[:size])
        for index in range(size):
            path = inclusion_path(hashes, index, size)
            assert verify_inclusion(hashes[index], index, size, path, root)
            # the same path proves nothing for another leaf, index, size or root
            assert not verify_inclusion(hashes[(index + 1) % size], index, size, path, root) or size == 1
            # (a path does not by itself bind the tree size: the signed checkpoint states it)
            if size > 1:
                assert not verify_inclusion(hashes[index], (index + 1) % size, size, path, root)
                assert not verify_inclusion(hashes[index], index, size, path[:-1], root)
            assert not verify_inclusion(hashes[index], index, size, path, hashlib.sha256(root).digest())


def test_malformed_inputs_fail_closed() -> None:
    h = leaf_hash(b"x")
    assert not verify_inclusion(h, 3, 3, [], h)
    assert not verify_inclusion(h, 0, 0, [], h)
    assert not verify_inclusion(h, 0, 1, [h], h)  # path too long
    with pytest.raises(ValueError):
        inclusion_path([h], 1)
