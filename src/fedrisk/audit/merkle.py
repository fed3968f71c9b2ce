"""RFC 6962 Merkle tree hashing, inclusion proofs and their verification.

Hashes follow RFC 6962 §2.1 (the same as RFC 9162 §2.1.1): a leaf is ``SHA-256(0x00 || data)``, an
inner node ``SHA-256(0x01 || left || right)``, the empty tree's root is ``SHA-256()``, and a tree of
``n > 1`` leaves splits at ``k``, the largest power of two below ``n``. The 0x00 / 0x01 prefixes make a
leaf impossible to pass off as an inner node (second-preimage resistance).

In the audit log every record's exact line (without the newline) is one leaf, in ``seq`` order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves (RFC 6962 §2.1), iteratively."""
    tree = CompactTree()
    for leaf in leaves:
        tree.append_leaf_hash(leaf)
    return tree.root()


def merkle_root(data: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of raw leaf data."""
    return root_from_leaf_hashes([leaf_hash(d) for d in data])


def _subtree_root(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    if hi - lo == 1:
        return leaves[lo]
    return root_from_leaf_hashes(leaves[lo:hi])


def inclusion_path(leaves: Sequence[bytes], index: int, tree_size: int | None = None) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 §2.1.1 over leaf hashes: the sibling hashes from leaf to root."""
    n = len(leaves) if tree_size is None else tree_size
    if not 0 <= index < n <= len(leaves):
        raise ValueError(f"leaf index {index} is outside a tree of {n} leaves")
    path: list[bytes] = []
    lo, hi, m = 0, n, index
    # Walk down from the root, collecting the sibling subtree at each split; reverse at the end.
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(_subtree_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(_subtree_root(leaves, lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def root_from_inclusion_path(leaf: bytes, index: int, tree_size: int, path: Sequence[bytes]) -> bytes | None:
    """Recompute the root from a leaf hash and its path (RFC 9162 §2.1.3.2); None when malformed."""
    if not 0 <= index < tree_size:
        return None
    fn, sn, r = index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


def verify_inclusion(leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes) -> bool:
    """True when ``path`` proves leaf hash ``leaf`` sits at ``index`` in the tree with ``root``."""
    return root_from_inclusion_path(leaf, index, tree_size, path) == root


class CompactTree:
    """An append-only Merkle tree that keeps only the roots of its perfect subtrees (O(log n) memory).

    ``root()`` after every append equals the RFC 6962 MTH of all leaves so far: the perfect subtrees,
    largest first, are exactly the left children of RFC 6962's recursive split, so folding them from the
    right reproduces it.
    """

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (height, hash), heights strictly decreasing
        self.size = 0

    def append_leaf_hash(self, leaf: bytes) -> None:
        height, node = 0, leaf
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            node = node_hash(left, node)
            height += 1
        self._stack.append((height, node))
        self.size += 1

    def append(self, data: bytes) -> None:
        self.append_leaf_hash(leaf_hash(data))

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node
