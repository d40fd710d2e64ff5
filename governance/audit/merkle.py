"""Merkle tree hashing, inclusion and consistency proofs as in RFC 6962 / RFC 9162 (section 2.1).

Boundary rule: pure standard library; no Flask, SQLModel, SQLAlchemy or other project imports.

The tree is the Certificate Transparency one: a leaf hashes as SHA-256(0x00 || data), an inner
node as SHA-256(0x01 || left || right), and a list of n > 1 leaves splits at the largest power
of two smaller than n. The empty tree's hash is SHA-256 of nothing. Hashes are 32-byte ``bytes``;
``leaves`` are the leaves' data (for the event log: the 32 bytes of each entry hash).

>>> root([]).hex()[:16]
'e3b0c44298fc1c14'
>>> leaves = [bytes([i]) for i in range(5)]
>>> proof = inclusion_proof(3, leaves)
>>> verify_inclusion(leaf_hash(leaves[3]), 3, 5, proof, root(leaves))
True
>>> verify_consistency(2, 5, consistency_proof(2, leaves), root(leaves[:2]), root(leaves))
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from .canonical import AuditError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "consistency_proof",
    "inclusion_proof",
    "inclusion_proofs",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
#: MTH({}) = SHA-256() (RFC 6962 section 2.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """Hash one leaf: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash an inner node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaves: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash (the root) of the leaves' data."""
    return _Tree([leaf_hash(d) for d in leaves]).subtree(0, len(leaves))


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Return the root of a tree whose leaf hashes (not data) are given."""
    return _Tree(list(hashes)).subtree(0, len(hashes))


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Return the audit path (RFC 6962 PATH) proving leaf ``index`` is in the tree of ``leaves``.

    Raises AuditError when ``index`` is outside the tree.
    """
    return inclusion_proofs([index], leaves)[0]


def inclusion_proofs(indices: Sequence[int], leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Return the audit paths of several leaves of one tree, sharing the work of hashing it."""
    tree = _Tree([leaf_hash(d) for d in leaves])
    n = len(leaves)
    proofs = []
    for index in indices:
        if not 0 <= index < n:
            raise AuditError(f"leaf index {index} is outside a tree of size {n}")
        proofs.append(tree.path(index, 0, n))
    return proofs


def consistency_proof(first_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Return the proof (RFC 6962 PROOF) that the tree of the first ``first_size`` leaves is a prefix.

    The proof is empty when ``first_size`` is 0 or the whole tree; raises AuditError when
    ``first_size`` is negative or larger than the tree.
    """
    n = len(leaves)
    if not 0 <= first_size <= n:
        raise AuditError(f"cannot prove consistency of size {first_size} with a tree of size {n}")
    if first_size in (0, n):
        return []
    tree = _Tree([leaf_hash(d) for d in leaves])
    return tree.subproof(first_size, 0, n, True)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof with the algorithm of RFC 9162 section 2.1.3.2.

    Returns True only when ``proof`` leads from ``leaf_hash`` at ``index`` to ``root`` in a tree
    of ``tree_size`` leaves; a wrong index, size, path, leaf or root gives False.
    """
    if index < 0 or index >= tree_size:
        return False
    if not _all_hashes([leaf_hash, root, *proof]):
        return False
    fn, sn = index, tree_size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first_size: int, second_size: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> bool:
    """Check a consistency proof with the algorithm of RFC 9162 section 2.1.4.2.

    Returns True only when the tree of ``first_size`` leaves with ``first_root`` is a prefix of
    the tree of ``second_size`` leaves with ``second_root``.
    """
    if first_size < 0 or first_size > second_size:
        return False
    if first_size == second_size:
        return not proof and first_root == second_root
    if first_size == 0:
        # The empty tree is a prefix of every tree; there is nothing to prove.
        return not proof
    if not proof or not _all_hashes([first_root, second_root, *proof]):
        return False
    path = list(proof)
    if first_size & (first_size - 1) == 0:  # an exact power of two: the old root is a node
        path.insert(0, first_root)
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# === Tree computation ===========================================================================


def _all_hashes(values: Sequence[bytes]) -> bool:
    return all(isinstance(v, bytes) and len(v) == HASH_SIZE for v in values)


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class _Tree:
    """Leaf hashes plus a memo of subtree roots, so many proofs over one tree hash each node once."""

    def __init__(self, hashes: list[bytes]) -> None:
        self.hashes = hashes
        self.memo: dict[tuple[int, int], bytes] = {}

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi])."""
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return self.hashes[lo]
        key = (lo, hi)
        cached = self.memo.get(key)
        if cached is None:
            k = _split(n)
            cached = node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))
            self.memo[key] = cached
        return cached

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        """PATH(m, D[lo:hi]) with ``m`` relative to ``lo``, leaf-to-root order."""
        n = hi - lo
        if n <= 1:
            return []
        k = _split(n)
        if m < k:
            return [*self.path(m, lo, lo + k), self.subtree(lo + k, hi)]
        return [*self.path(m - k, lo + k, hi), self.subtree(lo, lo + k)]

    def subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        """SUBPROOF(m, D[lo:hi], whole) of RFC 6962 section 2.1.2."""
        n = hi - lo
        if m == n:
            return [] if whole else [self.subtree(lo, hi)]
        k = _split(n)
        if m <= k:
            return [*self.subproof(m, lo, lo + k, whole), self.subtree(lo + k, hi)]
        return [*self.subproof(m - k, lo + k, hi, False), self.subtree(lo, lo + k)]
