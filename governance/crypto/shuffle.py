"""The verifiable mix: re-encryption and permutation of ciphertext tuples with a Terelius–Wikström
proof of shuffle as Verificatum lays it out (docs/crypto.md §6).

Boundary rule: standard library and ``governance.crypto`` only.
"""

from __future__ import annotations

from typing import Any

from . import _work
from .ballot import Ciphertext, read_ciphertext
from .group import (
    IDENTITY,
    CryptoError,
    L,
    Rng,
    Secret,
    add,
    canonical_json,
    challenge,
    generators,
    hash_frame,
    is_point,
    msm,
    point_hex,
    prg,
    random_index,
    read_point,
    read_points,
    read_scalar,
    smul,
    smul_base,
    sub,
)
from .params import ElectionParams

__all__ = ["shuffle", "verify_shuffle", "pack", "unpack", "as_tuples", "tuples_to_json", "Tuples"]

Tuples = list[list[Ciphertext]]
VECTOR_TAG = "governance/v1/shuffle/vector"
CHALLENGE_TAG = "governance/v1/shuffle"
_KEYS = {"version", "mixer", "count", "width", "u", "B", "A_prime", "B_prime", "C_prime", "D_prime",
         "F_prime", "k_A", "k_B", "k_C", "k_D", "k_E", "k_F"}


def pack(tuples: Tuples) -> bytes:
    """Row-major bytes: for each tuple, for each ciphertext, α then β (64·N·w bytes)."""
    return b"".join(a + b for row in tuples for a, b in row)


def unpack(data: bytes, width: int, *, check: bool = True) -> Tuples:
    """The inverse of :func:`pack`; checks the length and (unless ``check`` is false) every point."""
    if not isinstance(width, int) or width < 1:
        raise CryptoError("width must be a positive integer")
    row = 64 * width
    if len(data) % row:
        raise CryptoError(f"packed ciphertexts: {len(data)} bytes is not a multiple of {row} (64 per ciphertext)")
    out = []
    for i in range(len(data) // row):
        cts = []
        for k in range(width):
            o = row * i + 64 * k
            a, b = bytes(data[o:o + 32]), bytes(data[o + 32:o + 64])
            if check and not (is_point(a) and is_point(b)):
                raise CryptoError(f"packed ciphertexts: tuple {i} ciphertext {k} holds an invalid point")
            cts.append((a, b))
        out.append(cts)
    return out


def as_tuples(value: Any, width: int, what: str = "ciphertexts") -> Tuples:
    """Tuples from packed bytes, ``(α, β)`` byte pairs or ``{"alpha","beta"}`` dicts, all checked."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return unpack(bytes(value), width)
    if not isinstance(value, (list, tuple)):
        raise CryptoError(f"{what}: expected a list of ciphertext tuples")
    out = []
    for i, row in enumerate(value):
        if not isinstance(row, (list, tuple)) or len(row) != width:
            raise CryptoError(f"{what}: tuple {i} must hold {width} ciphertexts")
        cts = []
        for k, ct in enumerate(row):
            if isinstance(ct, dict):
                cts.append(read_ciphertext(ct, f"{what}: tuple {i} ciphertext {k}"))
            elif isinstance(ct, (tuple, list)) and len(ct) == 2 and all(isinstance(p, bytes) for p in ct):
                if not (is_point(ct[0]) and is_point(ct[1])):
                    raise CryptoError(f"{what}: tuple {i} ciphertext {k} holds an invalid point")
                cts.append((ct[0], ct[1]))
            else:
                raise CryptoError(f"{what}: tuple {i} ciphertext {k} is not a ciphertext")
        out.append(cts)
    return out


def tuples_to_json(tuples: Tuples) -> list[list[dict[str, str]]]:
    """The JSON form ``[[{"alpha","beta"}×w]×N]``."""
    return [[{"alpha": point_hex(a), "beta": point_hex(b)} for a, b in row] for row in tuples]


def _mixer_bytes(mixer: Any) -> bytes:
    if isinstance(mixer, bool) or not isinstance(mixer, (int, str)):
        raise CryptoError("mixer must be an integer or a string")
    return canonical_json(mixer)


def _sbytes(values: list[int]) -> bytes:
    return b"".join(v.to_bytes(32, "little") for v in values)


def _chunks(ex, width: int, n: int, workers: int) -> list[tuple[int, int]]:
    return _work.split(n, 1 if ex is None else 2 * workers)


def _tuple_msm(ex, packed: bytes, width: int, scalars: bytes, n: int, workers: int) -> list[bytes]:
    row = 64 * width
    parts = _work.run(ex, _work.tuple_msm, [(packed[row * lo: row * hi], width, scalars[32 * lo: 32 * hi])
                                            for lo, hi in _chunks(ex, width, n, workers)])
    acc = [IDENTITY] * (2 * width)
    for part in parts:
        acc = [add(acc[c], part[32 * c: 32 * c + 32]) for c in range(2 * width)]
    return acc


def _seed(params: ElectionParams, mixer: Any, n: int, width: int, packed_in: bytes, packed_out: bytes,
          u: list[bytes]) -> bytes:
    return hash_frame(VECTOR_TAG, params.fp, _mixer_bytes(mixer), n, width, packed_in, packed_out, b"".join(u))


def _challenge(seed: bytes, bs: list[bytes], a1: bytes, b1: list[bytes], c1: bytes, d1: bytes,
               f1: list[bytes]) -> int:
    return challenge(CHALLENGE_TAG, seed, b"".join(bs), a1, b"".join(b1), c1, d1, b"".join(f1))


def _sum(points: list[bytes]) -> bytes:
    acc = IDENTITY
    for p in points:
        acc = add(acc, p)
    return acc


def _product(values: list[int]) -> int:
    p = 1
    for v in values:
        p = p * v % L
    return p


def shuffle(params: ElectionParams, ciphertext_tuples: Any, *, mixer: int | str, workers: int = 1,
            rng: Rng | None = None) -> tuple[Tuples, dict[str, Any]]:
    """Re-encrypt and permute the tuples; return ``(output_tuples, proof_dict)``."""
    width = params.width
    _mixer_bytes(mixer)
    inputs = as_tuples(ciphertext_tuples, width, "mix input")
    n = len(inputs)
    if n == 0:
        return [], {"version": 1, "mixer": mixer, "count": 0, "width": width}
    draw = rng or Secret.random
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        j = random_index(i + 1, rng)
        perm[i], perm[j] = perm[j], perm[i]
    inv = [0] * n
    for i, p in enumerate(perm):
        inv[p] = i
    y = params.public_key
    s = [[draw() for _ in range(width)] for _ in range(n)]
    packed_in = pack(inputs)
    permuted = pack([inputs[p] for p in perm])
    rand = b"".join(x.public_bytes() for row in s for x in row)
    row = 64 * width
    with _work.pool(workers, n * width) as ex:
        chunks = _chunks(ex, width, n, workers)
        packed_out = b"".join(_work.run(ex, _work.reencrypt, [
            (permuted[row * lo: row * hi], rand[32 * width * lo: 32 * width * hi], y) for lo, hi in chunks]))
        del rand
        outputs = unpack(packed_out, width, check=False)
        h = generators(params.fp, n)
        r = [draw() for _ in range(n)]
        u = [add(smul_base(r[j]), h[inv[j]]) for j in range(n)]
        seed = _seed(params, mixer, n, width, packed_in, packed_out, u)
        e = prg(seed, n)
        e1 = [e[perm[i]] for i in range(n)]
        b = [draw() for _ in range(n)]
        chain, prev = [], h[0]
        for i in range(n):
            prev = add(smul_base(b[i]), smul(e1[i], prev))
            chain.append(prev)
        alpha, gamma, delta = draw(), draw(), draw()
        beta = [draw() for _ in range(n)]
        eps = [draw() for _ in range(n)]
        phi = [draw() for _ in range(width)]
        a1 = smul_base(alpha)
        for i in range(n):
            a1 = add(a1, smul(eps[i], h[i]))
        b1 = [add(smul_base(beta[i]), smul(eps[i], h[0] if i == 0 else chain[i - 1])) for i in range(n)]
        c1, d1 = smul_base(gamma), smul_base(delta)
        eps_b = b"".join(x.public_bytes() for x in eps)
        f1 = _tuple_msm(ex, packed_out, width, eps_b, n, workers)
        del eps_b
    for k in range(width):
        f1[2 * k] = sub(f1[2 * k], smul_base(phi[k]))
        f1[2 * k + 1] = sub(f1[2 * k + 1], smul(phi[k], y))
    v = _challenge(seed, chain, a1, b1, c1, d1, f1)
    # Replies; every sum involving a secret runs in libsodium.
    sum_re = Secret.zero()
    sum_r = Secret.zero()
    for j in range(n):
        sum_re = sum_re + r[j] * e[j]
        sum_r = sum_r + r[j]
    d, suffix = Secret.zero(), 1
    for i in range(n - 1, -1, -1):
        d = d + b[i] * suffix
        suffix = suffix * e1[i] % L
    t_f = [Secret.zero() for _ in range(width)]
    for i in range(n):
        for k in range(width):
            t_f[k] = t_f[k] + s[i][k] * e1[i]
    proof = {
        "version": 1, "mixer": mixer, "count": n, "width": width,
        "u": [point_hex(p) for p in u], "B": [point_hex(p) for p in chain], "A_prime": point_hex(a1),
        "B_prime": [point_hex(p) for p in b1], "C_prime": point_hex(c1), "D_prime": point_hex(d1),
        "F_prime": [{"alpha": point_hex(f1[2 * k]), "beta": point_hex(f1[2 * k + 1])} for k in range(width)],
        "k_A": (alpha + sum_re * v).hex(),
        "k_B": [(beta[i] + b[i] * v).hex() for i in range(n)],
        "k_C": (gamma + sum_r * v).hex(), "k_D": (delta + d * v).hex(),
        "k_E": [(eps[i] + v * e1[i]).hex() for i in range(n)],
        "k_F": [(phi[k] + t_f[k] * v).hex() for k in range(width)],
    }
    return outputs, proof


def _scalars(values: Any, what: str, count: int) -> list[int]:
    if not isinstance(values, list) or len(values) != count:
        raise CryptoError(f"shuffle proof: {what} must be a list of {count} scalars")
    return [read_scalar(x, f"shuffle proof: {what}[{i}]") for i, x in enumerate(values)]


def verify_shuffle(params: ElectionParams, input_tuples: Any, output_tuples: Any, proof_dict: Any, *,
                   mixer: int | str, workers: int = 1) -> None:
    """Check a shuffle proof; raise CryptoError naming the first check that fails."""
    width = params.width
    _mixer_bytes(mixer)
    inputs = as_tuples(input_tuples, width, "mix input")
    outputs = as_tuples(output_tuples, width, "mix output")
    n = len(inputs)
    if len(outputs) != n:
        raise CryptoError(f"shuffle: {n} input tuples but {len(outputs)} output tuples")
    p = proof_dict
    if not isinstance(p, dict):
        raise CryptoError("shuffle proof: expected an object")
    for key, want in (("version", 1), ("count", n), ("width", width)):
        if key not in p or p[key] != want or isinstance(p[key], bool):
            raise CryptoError(f"shuffle proof: {key} must be {want}")
    if p.get("mixer") != mixer or type(p.get("mixer")) is not type(mixer):
        raise CryptoError(f"shuffle proof: it was made by mixer {p.get('mixer')!r}, not {mixer!r}")
    if n == 0:
        if set(p) != {"version", "mixer", "count", "width"}:
            raise CryptoError("shuffle proof: an empty mix has no proof fields")
        return
    if set(p) != _KEYS:
        raise CryptoError(f"shuffle proof: expected exactly the keys {', '.join(sorted(_KEYS))}")
    u = read_points(p["u"], "shuffle proof: u", n)
    chain = read_points(p["B"], "shuffle proof: B", n)
    b1 = read_points(p["B_prime"], "shuffle proof: B_prime", n)
    a1 = read_point(p["A_prime"], "shuffle proof: A_prime")
    c1 = read_point(p["C_prime"], "shuffle proof: C_prime")
    d1 = read_point(p["D_prime"], "shuffle proof: D_prime")
    if not isinstance(p["F_prime"], list) or len(p["F_prime"]) != width:
        raise CryptoError(f"shuffle proof: F_prime must hold {width} ciphertexts")
    f1 = [x for k, ct in enumerate(p["F_prime"]) for x in read_ciphertext(ct, f"shuffle proof: F_prime[{k}]")]
    k_a = read_scalar(p["k_A"], "shuffle proof: k_A")
    k_c = read_scalar(p["k_C"], "shuffle proof: k_C")
    k_d = read_scalar(p["k_D"], "shuffle proof: k_D")
    k_b = _scalars(p["k_B"], "k_B", n)
    k_e = _scalars(p["k_E"], "k_E", n)
    k_f = _scalars(p["k_F"], "k_F", width)

    packed_in, packed_out = pack(inputs), pack(outputs)
    h = generators(params.fp, n)
    seed = _seed(params, mixer, n, width, packed_in, packed_out, u)
    e = prg(seed, n)
    v = _challenge(seed, chain, a1, b1, c1, d1, f1)
    y = params.public_key
    with _work.pool(workers, n * width) as ex:
        # Both wide sums go to the pool together: Σ e_j·w_j over the inputs and Σ k_E,i·w'_i over the outputs.
        jobs = []
        if ex is not None:
            row = 64 * width
            for packed, sc in ((packed_in, _sbytes(e)), (packed_out, _sbytes(k_e))):
                jobs.append([ex.submit(_work.tuple_msm, packed[row * lo: row * hi], width, sc[32 * lo: 32 * hi])
                             for lo, hi in _chunks(ex, width, n, workers)])
        a = msm(e, u)
        if add(smul(v, a), a1) != add(smul_base(k_a), msm(k_e, h)):
            raise CryptoError("shuffle proof: the permutation commitment check fails")
        prev = h[0]
        for i in range(n):
            if add(smul(v, chain[i]), b1[i]) != add(smul_base(k_b[i]), smul(k_e[i], prev)):
                raise CryptoError(f"shuffle proof: the commitment chain check fails at position {i}")
            prev = chain[i]
        c = sub(_sum(u), _sum(h))
        if add(smul(v, c), c1) != smul_base(k_c):
            raise CryptoError("shuffle proof: the permutation commitment's randomness check fails")
        dd = sub(chain[-1], smul(_product(e), h[0]))
        if add(smul(v, dd), d1) != smul_base(k_d):
            raise CryptoError("shuffle proof: the commitment chain's end check fails")
        if ex is None:
            f = _tuple_msm(None, packed_in, width, _sbytes(e), n, workers)
            rhs = _tuple_msm(None, packed_out, width, _sbytes(k_e), n, workers)
        else:
            sums = []
            for futures in jobs:
                acc = [IDENTITY] * (2 * width)
                for fut in futures:
                    part = fut.result()
                    acc = [add(acc[q], part[32 * q: 32 * q + 32]) for q in range(2 * width)]
                sums.append(acc)
            f, rhs = sums
    for k in range(width):
        lhs_a = add(smul(v, f[2 * k]), f1[2 * k])
        lhs_b = add(smul(v, f[2 * k + 1]), f1[2 * k + 1])
        if lhs_a != sub(rhs[2 * k], smul_base(k_f[k])) or lhs_b != sub(rhs[2 * k + 1], smul(k_f[k], y)):
            raise CryptoError(f"shuffle proof: the re-encryption check fails (component {k})")

