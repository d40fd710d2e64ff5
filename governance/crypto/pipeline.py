"""The whole chain for the audit verifier: ballots, every mix, the trustees' factors, the decoded
values (docs/crypto.md §11).

Boundary rule: standard library and ``governance.crypto`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .ballot import ballot_ciphertexts, tracker, verify_ballot
from .decrypt import combine, verify_decryption_factors
from .group import CryptoError
from .params import ElectionParams
from .shuffle import as_tuples, verify_shuffle

__all__ = ["verify_pipeline"]


def _decryptions(decryption: Any) -> dict[int, Mapping[str, Any]]:
    if isinstance(decryption, Mapping):
        items = list(decryption.items())
    elif isinstance(decryption, Sequence) and not isinstance(decryption, (str, bytes)):
        items = []
        for entry in decryption:
            if not isinstance(entry, Mapping) or "trustee" not in entry:
                raise CryptoError("decryption: each entry needs a trustee index")
            items.append((entry["trustee"], entry))
    else:
        raise CryptoError("decryption: expected {index: {factors, proof}} or a list of entries")
    out: dict[int, Mapping[str, Any]] = {}
    for index, entry in items:
        if not isinstance(entry, Mapping) or "factors" not in entry or "proof" not in entry:
            raise CryptoError(f"decryption of trustee {index}: expected factors and proof")
        if index in out:
            raise CryptoError(f"decryption: trustee {index} appears twice")
        out[index] = entry
    return out


def verify_pipeline(params: ElectionParams | Mapping[str, Any], ballots_in_order: Sequence[Any],
                    mixes: Sequence[Mapping[str, Any]], decryption: Any, *,
                    progress: Callable[[str], None] | None = None, workers: int = 1) -> list[list[int | None]]:
    """Verify everything from the ballots to the values; raise CryptoError naming the first failing step.

    ``mixes`` is ``[{"mixer", "output", "proof"}]`` in order (output as JSON, byte pairs or packed);
    ``decryption`` is ``{index: {"factors", "proof"}}`` (or a list of ``{"trustee", "factors", "proof"}``).
    Returns one vector of values per ballot, in the last mix's order, None for an out-of-range value.
    """
    say = progress or (lambda _msg: None)
    if not isinstance(params, ElectionParams):
        try:
            params = ElectionParams.from_dict(params)
        except CryptoError as exc:
            raise CryptoError(f"parameters: {exc}") from None
    say(f"parameters {params.fingerprint()}")
    tuples, seen = [], set()
    for pos, ballot in enumerate(ballots_in_order):
        try:
            name = tracker(ballot)
        except CryptoError:
            raise CryptoError(f"ballot {pos}: not a ballot") from None
        cred = ballot.get("credential") if isinstance(ballot, dict) else None
        try:
            verify_ballot(params, ballot, cred)
        except CryptoError as exc:
            raise CryptoError(f"ballot {pos} (tracker {name}): {exc}") from None
        if cred in seen:
            raise CryptoError(f"ballot {pos} (tracker {name}): credential {cred} has already cast a ballot")
        seen.add(cred)
        tuples.append(ballot_ciphertexts(ballot))
    say(f"{len(tuples)} ballots verified")
    if not mixes:
        raise CryptoError("mixes: at least one mix is needed (without one, decryption would link ballots to credentials)")
    current = tuples
    for number, mix in enumerate(mixes, start=1):
        if not isinstance(mix, Mapping) or not {"mixer", "output", "proof"} <= set(mix):
            raise CryptoError(f"mix {number}: expected mixer, output and proof")
        try:
            output = as_tuples(mix["output"], params.width, "mix output")
            verify_shuffle(params, current, output, mix["proof"], mixer=mix["mixer"], workers=workers)
        except CryptoError as exc:
            raise CryptoError(f"mix {number} (mixer {mix['mixer']!r}): {exc}") from None
        say(f"mix {number} (mixer {mix['mixer']!r}) verified")
        current = output
    entries = _decryptions(decryption)
    factors = {}
    for index in sorted(entries, key=lambda i: (not isinstance(i, int), i if isinstance(i, int) else 0)):
        entry = entries[index]
        try:
            params.trustee(index)
            verify_decryption_factors(params, index, current, entry["factors"], entry["proof"], workers=workers)
        except CryptoError as exc:
            raise CryptoError(f"decryption of trustee {index}: {exc}") from None
        say(f"decryption of trustee {index} verified")
        factors[index] = entry["factors"]
    if len(factors) < params.threshold:
        raise CryptoError(f"decryption: {params.threshold} trustees are needed, {len(factors)} gave factors")
    values = combine(params, current, factors, workers=workers)
    say(f"{len(values)} ballots decoded")
    return values
