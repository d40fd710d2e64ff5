"""The trustee's page: what to do now, the files ``governance-trustee`` reads, and where to upload what it writes.

Views are thin: the trustees service checks every upload (the ceremony's messages at once, mixes
and decryption shares through the clock, before they count). Everything offered for download
here is public (the ceremony transcript, the election parameters, the ballots going into a mix,
every mix): a trustee's secrets never leave their machine.
"""

from __future__ import annotations

import json

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import crypto
from ..copy import N_, Message
from ..db import get_session
from ..errors import InvalidInput
from ..polls import charter as charters
from ..polls import counting, service, trustees
from .polls import bp, now

MAX_UPLOAD = 64 * 1024 * 1024


def _json_download(data, filename: str) -> Response:
    return Response(json.dumps(data, indent=1, sort_keys=True) + "\n", mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/<int:poll_id>/trustee")
@login_required
def trustee(poll_id: int):
    """A trustee's tasks for this poll, with the commands to run."""
    db = get_session()
    poll = service.get(db, poll_id)
    row = trustees.trustee_of(db, poll, current_user)
    rows = trustees.trustees(db, poll)
    context = {
        "poll": poll, "me": row, "rows": rows, "stage": trustees.stage(db, poll),
        "task": trustees.next_task(db, poll, row),
        "progress": counting.progress(db, poll) if poll.status == "closed" else None,
        "may_end_mixing": poll.status == "closed" and charters.may_manage(charters.current(db), poll.body, current_user),
    }
    db.commit()
    return render_template("polls/trustee.html", **context)


@bp.get("/<int:poll_id>/ceremony.json")
def ceremony(poll_id: int):
    """The key ceremony's public transcript so far (setup, certificates, round 2 and 3 messages)."""
    db, poll = _ceremony_poll(poll_id)
    data = trustees.transcript(db, poll)
    db.commit()
    return _json_download(data, f"poll-{poll.id}-ceremony.json")


@bp.get("/<int:poll_id>/ceremony/<part>.json")
def ceremony_part(poll_id: int, part: str):
    """One file of the transcript, as ``governance-trustee`` reads it: setup, certificates or shares."""
    if part not in ("setup", "certificates", "shares", "keys"):
        abort(404)
    db, poll = _ceremony_poll(poll_id)
    data = trustees.transcript(db, poll)[part]
    db.commit()
    return _json_download(data, f"{part}.json")


def _ceremony_poll(poll_id: int):
    db = get_session()
    poll = service.get(db, poll_id)
    if not poll.ceremony:
        abort(404)
    return db, poll


def _counted_poll(poll_id: int):
    db = get_session()
    poll = service.get(db, poll_id)
    if poll.status not in ("closed", "published") or not poll.fingerprint:
        abort(404)
    return db, poll


@bp.get("/<int:poll_id>/params.json")
def params_file(poll_id: int):
    """The election parameters alone, as ``governance-trustee --params`` reads them."""
    db = get_session()
    poll = service.get(db, poll_id)
    if not poll.election_params:
        abort(404)
    db.commit()
    return _json_download(poll.election_params, "params.json")


@bp.get("/<int:poll_id>/mix/ballots.json")
def mix_ballots(poll_id: int):
    """The ballots the first mix shuffles: the last of each credential, sorted by tracker."""
    db, poll = _counted_poll(poll_id)
    live, _packed = counting.mix_input(db, poll)
    db.commit()
    return _json_download({"ballots": [b.content for b in live]}, "ballots.json")


@bp.get("/<int:poll_id>/mix/<int:position>.json")
def mix_file(poll_id: int, position: int):
    """Mix ``position`` as ``governance-trustee`` writes it (output inline), once verified."""
    db, poll = _counted_poll(poll_id)
    done = counting.mixes(db, poll)
    if not 1 <= position <= len(done):
        abort(404)
    mix = done[position - 1]
    width = len(poll.election_params["options"])
    tuples = crypto.unpack(mix.output, width)
    data = {"format": "governance-mix/1", "mixer": mix.mixer, "count": len(tuples), "width": width,
            "proof": mix.proof, "output": crypto.tuples_to_json(tuples)}
    db.commit()
    return _json_download(data, f"mix-{position}.json")


def _uploaded() -> dict:
    file = request.files.get("file")
    if file is None or not file.filename:
        raise InvalidInput([("file", N_("choose the file governance-trustee wrote"))])
    raw = file.read(MAX_UPLOAD + 1)
    if len(raw) > MAX_UPLOAD:
        raise InvalidInput([("file", N_("the file is larger than an upload may be"))])
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInput([("file", N_("the file is not the JSON governance-trustee writes"))]) from None
    if not isinstance(data, dict):
        raise InvalidInput([("file", N_("the file is not the JSON governance-trustee writes"))])
    return data


@bp.post("/<int:poll_id>/trustee")
@login_required
def trustee_upload(poll_id: int):
    """Take a file written by ``governance-trustee``: a ceremony message, a mix or a decryption."""
    db = get_session()
    poll = service.get(db, poll_id)
    row = trustees.trustee_of(db, poll, current_user)
    data = _uploaded()
    width = len(poll.election_params["options"]) if poll.election_params else 0
    kind = data.get("format", "")
    try:
        if poll.status in ("nominations", "scheduled"):
            what = trustees.upload_ceremony(session=db, poll=poll, member=current_user, message=data, now=now())
            message = f"Your {what} is accepted."
        elif kind == "governance-mix/1":
            if not isinstance(data.get("output"), list):
                raise InvalidInput([("file", N_("upload the mix with its ciphertexts inside (written without --packed)"))])
            tuples = crypto.as_tuples(data["output"], width, "mix output")
            trustees.upload_mix(session=db, poll=poll, member=current_user,
                                mix={"mixer": data.get("mixer"), "proof": data.get("proof")},
                                output=crypto.pack(tuples), now=now())
            message = "Your mix is uploaded; it counts once its proof has been verified."
        elif kind == "governance-decryption/1":
            if data.get("trustee") != row.position:
                raise InvalidInput([("file", Message("this decryption is trustee %(value)s's, not yours (trustee %(position)s)", value=repr(data.get('trustee')), position=row.position))])
            count = data.get("count") if isinstance(data.get("count"), int) else -1
            factors = crypto.read_factors(data.get("factors"), count, width)
            trustees.upload_share(session=db, poll=poll, member=current_user, proof=data.get("proof"),
                                  factors=crypto.pack_factors(factors), now=now())
            message = _("Your decryption is uploaded; it counts once its proof has been verified.")
        else:
            raise InvalidInput([("file", N_("this is not a file the current step takes"))])
    except crypto.CryptoError as exc:
        raise InvalidInput([("file", Message('the file was refused: %(exc)s', exc=exc))]) from None
    db.commit()
    flash(message, "success")
    return redirect(url_for("polls.trustee", poll_id=poll.id))


@bp.post("/<int:poll_id>/end-mixing")
@login_required
def end_mixing(poll_id: int):
    """An election officer ends the mixing (at least the threshold's trustees have mixed)."""
    db = get_session()
    poll = service.get(db, poll_id)
    if not charters.may_manage(charters.current(db), poll.body, current_user):
        from ..errors import NotAllowed

        raise NotAllowed(N_("Only the poll's managers may end the mixing."))
    trustees.end_mixing(session=db, poll=poll, actor=current_user, now=now())
    db.commit()
    flash(_("The mixing is over; the trustees are asked for their decryption shares."), "success")
    return redirect(url_for("polls.show", poll_id=poll.id))
