"""RFC 6962 / RFC 9162 Merkle trees, checked against the Certificate Transparency reference vectors.

The vectors (the 8-leaf data set, the roots of its prefixes, the inclusion and consistency proofs)
are those of the Certificate Transparency reference implementations: google/certificate-transparency
``cpp/merkletree/merkle_tree_test.cc`` and transparency-dev/merkle ``proof/verify_test.go``
(``leaves``, ``roots``, ``inclusionProofs``, ``consistencyProofs``). There the inclusion vectors give
the leaf as a 1-based number; here it is the 0-based index.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.audit.canonical import AuditError
from governance.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    inclusion_proofs,
    leaf_hash,
    root,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]

ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# (leaf index, tree size, audit path)
INCLUSION = [
    (0, 1, []),
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
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

# (first size, second size, proof)
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def _hex(hashes):
    return [h.hex() for h in hashes]


def test_empty_tree_root_is_sha256_of_nothing():
    assert root([]) == EMPTY_ROOT
    assert root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_reference_prefixes(size):
    assert root(LEAVES[:size]).hex() == ROOTS[size - 1]
    assert root_from_leaf_hashes([leaf_hash(d) for d in LEAVES[:size]]).hex() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_reference_inclusion_proofs(index, size, path):
    assert _hex(inclusion_proof(index, LEAVES[:size])) == path
    proof = [bytes.fromhex(p) for p in path]
    assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, bytes.fromhex(ROOTS[size - 1]))


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY)
def test_reference_consistency_proofs(first, second, path):
    assert _hex(consistency_proof(first, LEAVES[:second])) == path
    proof = [bytes.fromhex(p) for p in path]
    assert verify_consistency(
        first, second, proof, bytes.fromhex(ROOTS[first - 1]), bytes.fromhex(ROOTS[second - 1])
    )


def _corrupted_inclusions(index, size, proof, rt, lh):
    """The probes of transparency-dev/merkle's corruptInclusionProof: each must fail."""
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (index - 1, size, rt, lh, proof),
        (index + 1, size, rt, lh, proof),
        (index ^ 2, size, rt, lh, proof),
        (index, size * 2, rt, lh, proof),
        (index, size // 2, rt, lh, proof),
        (index, size, rt, b"WrongLeaf", proof),
        (index, size, EMPTY_ROOT, lh, proof),
        (index, size, some, lh, proof),
        (index, size, rt, lh, [*proof, b""]),
        (index, size, rt, lh, [*proof, rt]),
        (index, size, rt, lh, [b"", *proof]),
        (index, size, rt, lh, [rt, *proof]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, rt, lh, flipped))
    if proof:
        probes.append((index, size, rt, lh, proof[:-1]))
    if len(proof) > 1:
        probes.append((index, size, rt, lh, [some, proof[0], *proof[1:]]))
    return probes


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION[1:])
def test_corrupted_inclusion_proofs_fail(index, size, path):
    proof = [bytes.fromhex(p) for p in path]
    rt, lh = bytes.fromhex(ROOTS[size - 1]), leaf_hash(LEAVES[index])
    for i, s, r, leaf, p in _corrupted_inclusions(index, size, proof, rt, lh):
        assert not verify_inclusion(leaf, i, s, p, r), (i, s, len(p))


@pytest.mark.parametrize(("first", "second", "path"), [c for c in CONSISTENCY if c[2]])
def test_corrupted_consistency_proofs_fail(first, second, path):
    proof = [bytes.fromhex(p) for p in path]
    r1, r2 = bytes.fromhex(ROOTS[first - 1]), bytes.fromhex(ROOTS[second - 1])
    probes = [
        (first - 1, second, r1, r2, proof),
        (first + 1, second, r1, r2, proof),
        (first ^ 2, second, r1, r2, proof),
        (first, second * 2, r1, r2, proof),
        (first, second // 2, r1, r2, proof),
        (first, second, b"WrongRoot", r2, proof),
        (first, second, r1, b"WrongRoot", proof),
        (first, second, r2, r1, proof),
        (first, second, r1, r2, []),
        (first, second, r1, r2, [*proof, b""]),
        (first, second, r1, r2, [*proof, r1]),
        (first, second, r1, r2, [*proof, r2]),
        (first, second, r1, r2, [b"", *proof]),
        (first, second, r1, r2, [r1, *proof]),
        (first, second, r1, r2, [r2, *proof]),
        (first, second, r1, r2, [proof[0], *proof]),
        (first, second, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((first, second, r1, r2, flipped))
    for s1, s2, a, b, p in probes:
        assert not verify_consistency(s1, s2, p, a, b), (s1, s2, len(p))


def test_trivial_consistency_cases():
    r1, r2 = b"\x01" * 32, b"\x02" * 32
    assert verify_consistency(0, 0, [], r1, r1)
    assert verify_consistency(0, 1, [], r1, r2)
    assert verify_consistency(1, 1, [], r2, r2)
    assert not verify_consistency(0, 0, [], r1, r2)
    assert not verify_consistency(1, 0, [], r1, r2)
    assert not verify_consistency(0, 1, [EMPTY_ROOT], EMPTY_ROOT, EMPTY_ROOT)


def test_out_of_range_requests_raise():
    with pytest.raises(AuditError, match="outside a tree of size 3"):
        inclusion_proof(3, LEAVES[:3])
    with pytest.raises(AuditError):
        consistency_proof(4, LEAVES[:3])
    assert not verify_inclusion(leaf_hash(b""), 0, 0, [], EMPTY_ROOT)


trees = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@given(trees, st.data())
def test_every_inclusion_proof_verifies_and_a_flipped_bit_fails(leaves, data):
    index = data.draw(st.integers(0, len(leaves) - 1))
    rt = root(leaves)
    proof = inclusion_proof(index, leaves)
    assert verify_inclusion(leaf_hash(leaves[index]), index, len(leaves), proof, rt)
    bit = data.draw(st.integers(0, 8 * 32 * (len(proof) + 1) - 1))
    if bit < 256:  # flip a bit of the leaf hash
        lh = bytearray(leaf_hash(leaves[index]))
        lh[bit // 8] ^= 1 << (bit % 8)
        assert not verify_inclusion(bytes(lh), index, len(leaves), proof, rt)
    else:
        bit -= 256
        node = bytearray(proof[bit // 256])
        node[(bit % 256) // 8] ^= 1 << (bit % 8)
        changed = [*proof[: bit // 256], bytes(node), *proof[bit // 256 + 1 :]]
        assert not verify_inclusion(leaf_hash(leaves[index]), index, len(leaves), changed, rt)


@given(trees, st.data())
def test_every_consistency_proof_verifies_and_a_flipped_bit_fails(leaves, data):
    first = data.draw(st.integers(0, len(leaves)))
    proof = consistency_proof(first, leaves)
    r1, r2 = root(leaves[:first]), root(leaves)
    assert verify_consistency(first, len(leaves), proof, r1, r2)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        node = bytearray(proof[which])
        node[bit // 8] ^= 1 << (bit % 8)
        changed = [*proof[:which], bytes(node), *proof[which + 1 :]]
        assert not verify_consistency(first, len(leaves), changed, r1, r2)


def test_batch_proofs_equal_single_proofs():
    leaves = [bytes([i]) for i in range(37)]
    assert inclusion_proofs([0, 17, 36], leaves) == [inclusion_proof(i, leaves) for i in (0, 17, 36)]
