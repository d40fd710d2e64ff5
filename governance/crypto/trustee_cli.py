"""``governance-trustee``: everything a trustee does on their own machine, files in, files out.

Boundary rule: standard library and ``governance.crypto`` only.

Exit status: 0 done, 2 bad input or a check that failed (one line on stderr naming the file and
the problem), 1 for an unexpected failure. No traceback is shown.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .ballot import ballot_ciphertexts, verify_ballot
from .ceremony import (
    STATE_FORMAT,
    ceremony_finish,
    ceremony_init,
    ceremony_share,
    read_setup,
    setup_digest,
    verify_ceremony,
)
from .decrypt import decryption_factors, factors_to_json
from .group import CryptoError
from .params import ElectionParams
from .pipeline import verify_pipeline
from .shuffle import as_tuples, pack, shuffle, tuples_to_json, unpack, verify_shuffle

__all__ = ["main", "build_parser", "read_mix", "write_mix"]

MIX_FORMAT = "governance-mix/1"
DECRYPTION_FORMAT = "governance-decryption/1"
PRIVATE = ("The state file holds your private keys and, after 'finish', your secret share: it never "
           "leaves your machine, is written with mode 0600, and no other file you send contains it.")


class InputError(Exception):
    """A file cannot be used (message names the file)."""


def _load(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        try:  # JSON Lines (ballots)
            return [json.loads(ln) for ln in lines] if len(lines) > 1 else _raise(exc)
        except (json.JSONDecodeError, TypeError):
            raise InputError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None


def _raise(exc: Exception) -> Any:
    raise exc


def _messages(paths: Sequence[str]) -> list[Any]:
    out: list[Any] = []
    for p in paths:
        data = _load(p)
        out += data if isinstance(data, list) else [data]
    return out


def _write(path: str, data: Any, *, private: bool = False) -> None:
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    if private:
        os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _params(path: str) -> ElectionParams:
    try:
        return ElectionParams.from_dict(_load(path))
    except CryptoError as exc:
        raise InputError(f"{path}: {exc}") from None


def _state(path: str) -> dict[str, Any]:
    data = _load(path)
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        raise InputError(f"{path}: not a trustee state file")
    return data


def read_mix(path: str, width: int) -> dict[str, Any]:
    """A mix file (JSON header, ciphertexts inline or in a packed file beside it)."""
    data = _load(path)
    if not isinstance(data, dict) or data.get("format") != MIX_FORMAT or \
            not {"mixer", "count", "width", "proof", "output"} <= set(data):
        raise InputError(f"{path}: not a mix file ({MIX_FORMAT})")
    out = data["output"]
    try:
        if isinstance(out, dict):
            name = out.get("packed")
            if not isinstance(name, str) or "/" in name or name in ("", ".", ".."):
                raise InputError(f"{path}: output.packed must name a file beside the header")
            raw = (Path(path).parent / name).read_bytes()
            if hashlib.sha256(raw).hexdigest() != out.get("sha256"):
                raise InputError(f"{path}: {name} does not match the header's sha256")
            tuples = unpack(raw, width)
        else:
            tuples = as_tuples(out, width, "mix output")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    except CryptoError as exc:
        raise InputError(f"{path}: {exc}") from None
    if len(tuples) != data["count"]:
        raise InputError(f"{path}: count says {data['count']} but the output holds {len(tuples)} tuples")
    return {"mixer": data["mixer"], "output": tuples, "proof": data["proof"]}


def write_mix(path: str, mixer: Any, tuples: list, proof: dict, width: int, *, packed: bool) -> None:
    """Write a mix header (and the packed ciphertexts beside it when ``packed``)."""
    if packed:
        raw = pack(tuples)
        name = Path(path).name + ".bin"
        (Path(path).parent / name).write_bytes(raw)
        output: Any = {"packed": name, "sha256": hashlib.sha256(raw).hexdigest()}
    else:
        output = tuples_to_json(tuples)
    _write(path, {"format": MIX_FORMAT, "mixer": mixer, "count": len(tuples), "width": width,
                  "proof": proof, "output": output})


def _mixer(text: str) -> int | str:
    return int(text) if re.fullmatch(r"[0-9]{1,15}", text) else text


def _ballots(path: str, params: ElectionParams) -> tuple[list, list]:
    data = _load(path)
    if isinstance(data, dict) and isinstance(data.get("ballots"), list):
        data = data["ballots"]
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON array of ballots or JSON Lines")
    tuples = []
    for pos, b in enumerate(data):
        try:
            verify_ballot(params, b, b.get("credential") if isinstance(b, dict) else None)
            tuples.append(ballot_ciphertexts(b))
        except CryptoError as exc:
            raise InputError(f"{path}: ballot {pos}: {exc}") from None
    return data, tuples


def _verified_mixes(params: ElectionParams, tuples: list, paths: Sequence[str], workers: int) -> list:
    current = tuples
    for number, p in enumerate(paths, start=1):
        mix = read_mix(p, params.width)
        try:
            verify_shuffle(params, current, mix["output"], mix["proof"], mixer=mix["mixer"], workers=workers)
        except CryptoError as exc:
            raise InputError(f"{p}: mix {number}: {exc}") from None
        current = mix["output"]
    return current


def _say(msg: str) -> None:
    print(f"governance-trustee: {msg}", file=sys.stderr)


def cmd_init(a: argparse.Namespace) -> None:
    cert, state = ceremony_init(read_setup(_load(a.setup)), a.index)
    if Path(a.state).exists() and not a.force:
        raise InputError(f"{a.state}: exists already (use --force to start over)")
    _write(a.state, state, private=True)
    _write(a.out, cert)
    _say(f"certificate written to {a.out}; keep {a.state} private")


def cmd_share(a: argparse.Namespace) -> None:
    msg, state = ceremony_share(_load(a.setup), _state(a.state), _messages(a.certificates))
    _write(a.state, state, private=True)
    _write(a.out, msg)
    _say(f"commitments and sealed shares written to {a.out}")


def cmd_finish(a: argparse.Namespace) -> None:
    msg, state = ceremony_finish(_load(a.setup), _state(a.state), _messages(a.certificates), _messages(a.shares))
    _write(a.state, state, private=True)
    _write(a.out, msg)
    _say(f"every share addressed to trustee {state['index']} checked; verification key written to {a.out}")


def cmd_check(a: argparse.Namespace) -> None:
    st, params = _state(a.state), _params(a.params)
    if "secret_share" not in st:
        raise InputError(f"{a.state}: the ceremony is not finished (run 'finish')")
    if a.setup:
        setup = _load(a.setup)
        if setup_digest(setup).hex() != st["setup"]:
            raise InputError(f"{a.setup}: not the setup of this state")
        if (setup["election_id"], setup["poll"], setup["threshold"]) != \
                (params.election_id, params.poll, params.threshold):
            raise InputError(f"{a.params}: election id, poll or threshold differ from the setup")
    me = params.trustee(st["index"])
    if me.name != st["certificate"]["name"]:
        raise InputError(f"{a.params}: trustee {me.index} is named {me.name!r}, not {st['certificate']['name']!r}")
    if me.verification_key.hex() != st["verification_key"]:
        raise InputError(f"{a.params}: trustee {me.index}'s verification key is not the one I computed")
    if params.public_key.hex() != st["public_key"]:
        raise InputError(f"{a.params}: the public key is not the one that follows from the ceremony")
    if a.ceremony:
        msgs = _messages(a.ceremony)
        certs = [m for m in msgs if "box_key" in m]
        shares = [m for m in msgs if "commitments" in m]
        keys = [m for m in msgs if "verification_key" in m]
        fields = verify_ceremony(_load(a.setup) if a.setup else None, certs, shares, keys)
        if fields["public_key"] != st["public_key"] or fields["trustees"] != [t.to_dict() for t in params.trustees]:
            raise InputError(f"{a.params}: does not match the published ceremony transcript")
    print(f"ok: {a.params} holds my contributions (trustee {me.index}, {me.name}); "
          f"fingerprint {params.fingerprint()}")


def cmd_mix(a: argparse.Namespace) -> None:
    params = _params(a.params)
    _, tuples = _ballots(a.ballots, params)
    current = _verified_mixes(params, tuples, a.mixes, a.workers)
    out, proof = shuffle(params, current, mixer=_mixer(a.mixer), workers=a.workers)
    write_mix(a.out, _mixer(a.mixer), out, proof, params.width, packed=a.packed)
    _say(f"{len(a.mixes)} earlier mix(es) verified; {len(out)} tuples shuffled into {a.out}")


def cmd_decrypt(a: argparse.Namespace) -> None:
    params, st = _params(a.params), _state(a.state)
    if "secret_share" not in st:
        raise InputError(f"{a.state}: the ceremony is not finished (run 'finish')")
    if not a.mixes:
        raise InputError("decrypt: give the mixes (--mix); ballots are never decrypted unmixed")
    _, tuples = _ballots(a.ballots, params)
    current = _verified_mixes(params, tuples, a.mixes, a.workers)
    factors, proof = decryption_factors(params, st["secret_share"], st["index"], current, workers=a.workers)
    _write(a.out, {"format": DECRYPTION_FORMAT, "trustee": st["index"], "count": len(factors),
                   "width": params.width, "factors": factors_to_json(factors), "proof": proof})
    _say(f"{len(a.mixes)} mix(es) verified; factors of trustee {st['index']} written to {a.out}")


def cmd_verify(a: argparse.Namespace) -> None:
    params = _params(a.params)
    ballots, _ = _ballots(a.ballots, params)
    mixes = [read_mix(p, params.width) for p in a.mixes]
    decryption = {}
    for p in a.decryptions:
        d = _load(p)
        if not isinstance(d, dict) or d.get("format") != DECRYPTION_FORMAT:
            raise InputError(f"{p}: not a decryption file ({DECRYPTION_FORMAT})")
        decryption[d.get("trustee")] = d
    values = verify_pipeline(params, ballots, mixes, decryption, workers=a.workers,
                             progress=None if a.quiet else _say)
    invalid = sum(any(v is None for v in row) for row in values)
    if a.out:
        _write(a.out, {"fingerprint": params.fingerprint(), "values": values})
    print(f"ok: {len(ballots)} ballots, {len(mixes)} mixes, {len(decryption)} decryptions verified; "
          f"{len(values) - invalid} valid and {invalid} invalid plaintexts")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (its ``--help`` is the command's manual)."""
    parser = argparse.ArgumentParser(
        prog="governance-trustee",
        description="A trustee's own tool for an encrypted poll: the key ceremony (init, share, finish, check), "
                    "mixing (mix), decryption (decrypt) and the public check of everything (verify). "
                    "Every input and output is a file; nothing goes over the network.",
        epilog=PRIVATE + " File formats: docs/crypto.md §12.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, epilog=PRIVATE)

    p = add("init", "Round 1: make my signing and box keys; write my certificate (to publish) and my private state.")
    p.add_argument("--setup", required=True, help="the ceremony setup (election id, poll, threshold, trustees)")
    p.add_argument("--index", required=True, type=int, help="my trustee index in the setup (1..n)")
    p.add_argument("--state", required=True, help="my private state file to create (mode 0600)")
    p.add_argument("--out", required=True, help="where to write my certificate")
    p.add_argument("--force", action="store_true", help="overwrite an existing state file")
    p.set_defaults(run=cmd_init)

    p = add("share", "Round 2: check every certificate; write my commitments and the shares sealed to each trustee.")
    p.add_argument("--setup", required=True)
    p.add_argument("--state", required=True, help="my private state file (updated)")
    p.add_argument("--certificates", required=True, nargs="+", help="every trustee's certificate (files)")
    p.add_argument("--out", required=True, help="where to write my round-2 message")
    p.set_defaults(run=cmd_share)

    p = add("finish", "Round 3: check every round-2 message and the shares sent to me; write my verification key.")
    p.add_argument("--setup", required=True)
    p.add_argument("--state", required=True, help="my private state file (receives my secret share)")
    p.add_argument("--certificates", required=True, nargs="+")
    p.add_argument("--shares", required=True, nargs="+", help="every trustee's round-2 message (files)")
    p.add_argument("--out", required=True, help="where to write my round-3 message")
    p.set_defaults(run=cmd_finish)

    p = add("check", "Check that published election parameters hold my verification key and the public key I computed.")
    p.add_argument("--state", required=True)
    p.add_argument("--params", required=True, help="the published election parameters")
    p.add_argument("--setup", help="the ceremony setup (also checks election id, poll and threshold)")
    p.add_argument("--ceremony", nargs="+", help="the published transcript (all round 1-3 messages); needs --setup")
    p.set_defaults(run=cmd_check)

    p = add("mix", "Verify the ballots and the earlier mixes, then shuffle the latest and write my mix with its proof.")
    p.add_argument("--params", required=True)
    p.add_argument("--ballots", required=True, help="the ballots in mixing order (JSON array or JSON Lines)")
    p.add_argument("--mix", dest="mixes", action="append", default=[], help="an earlier mix, in order (repeat)")
    p.add_argument("--mixer", required=True, help="my mixer identity as the platform names it (digits = integer)")
    p.add_argument("--out", required=True, help="where to write my mix")
    p.add_argument("--packed", action="store_true", help="write the ciphertexts as packed binary beside the header")
    p.add_argument("--workers", type=int, default=2, help="processes to use (default 2)")
    p.set_defaults(run=cmd_mix)

    p = add("decrypt", "Verify the ballots and every mix, then write my decryption factors of the last mix with a proof.")
    p.add_argument("--params", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--ballots", required=True)
    p.add_argument("--mix", dest="mixes", action="append", default=[], help="every mix, in order (repeat)")
    p.add_argument("--out", required=True)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(run=cmd_decrypt)

    p = add("verify", "Check a whole transcript: ballots, every mix, the trustees' factors, and decode the values.")
    p.add_argument("--params", required=True)
    p.add_argument("--ballots", required=True)
    p.add_argument("--mix", dest="mixes", action="append", default=[], help="every mix, in order (repeat)")
    p.add_argument("--decryption", dest="decryptions", action="append", default=[],
                   help="a trustee's decryption file (repeat; at least the threshold)")
    p.add_argument("--out", help="write the decoded values here (JSON)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=cmd_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 done, 2 bad input or failed check, 1 unexpected)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "workers", 1) < 1:
        parser.error("--workers must be at least 1")
    try:
        args.run(args)
    except (InputError, CryptoError) as exc:
        print(f"governance-trustee: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        print(f"governance-trustee: internal error ({type(exc).__name__}): {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
