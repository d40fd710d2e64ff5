"""DiscourseConnect provider: the forum vouches for who a visitor is.

Boundary rule: Flask and this package only.

It follows Discourse's `SessionController#sso_provider`, `DiscourseConnectProvider` and
`DiscourseConnectBase`:

* `sso` is a Base64 query string, `sig` the lowercase hex HMAC-SHA256 of the Base64 text,
  keyed with the secret configured for the host of `return_sso_url` (site setting
  `discourse_connect_provider_secrets`, lines of `domain|secret`, `*` wildcards allowed);
* no secret for that host: 400; bad signature: 422 "Login Error";
* `prompt=none` with nobody logged in: straight back with `failed=true`;
* `logout=true`: log the visitor out and go back;
* otherwise the visitor logs in (here: picks a seeded member) and is sent back with a signed
  payload carrying nonce, return_sso_url, name, username, email, external_id (the user id),
  admin, moderator, groups and, where set, avatar_url.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from datetime import datetime
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from .store import ForumData, User, utcnow

bp = Blueprint("connect", __name__)

# DiscourseConnectBase::ACCESSORS (alphabetical, which is also the order of the signed payload)
ACCESSORS = (
    "add_groups",
    "admin",
    "avatar_force_update",
    "avatar_url",
    "bio",
    "card_background_url",
    "confirmed_2fa",
    "email",
    "external_id",
    "failed",
    "groups",
    "locale",
    "locale_force_update",
    "location",
    "logout",
    "moderator",
    "name",
    "no_2fa_methods",
    "nonce",
    "prompt",
    "profile_background_url",
    "remove_groups",
    "require_2fa",
    "require_activation",
    "return_sso_url",
    "suppress_welcome_message",
    "title",
    "username",
    "website",
)
BOOLS = frozenset(
    {
        "admin",
        "avatar_force_update",
        "confirmed_2fa",
        "failed",
        "locale_force_update",
        "logout",
        "moderator",
        "no_2fa_methods",
        "require_2fa",
        "require_activation",
        "suppress_welcome_message",
    }
)

# Texts of Discourse's answers (server.en.yml `discourse_connect.*` and the controller).
LOGIN_ERROR = "Login Error"
MISSING_SECRET = (
    "Authentication failed due to missing secret. Contact the site administrators to fix this problem."
)
BLANK_RETURN_URL = "return_sso_url is blank, it must be provided"
LOGIN_PAGE_ROWS = 200
_NOT_BASE64 = re.compile(r"[^a-zA-Z0-9=\r\n/+]")


# === payload helpers (also used by tests and by the platform's own tests) ===


def sign(payload: str, secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of the Base64 payload text, as Discourse signs it."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def decode_payload(payload: str) -> dict[str, str]:
    """Decode a Base64 `sso` value leniently (as Ruby's decode64) into its fields; {} if garbage."""
    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        text = base64.b64decode(cleaned).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return {}
    return dict(parse_qsl(text, keep_blank_values=True))


def encode_payload(fields: dict) -> str:
    """Build the Base64 `sso` value: a form-encoded query, booleans as "true"/"false"."""
    pairs = [(k, ("true" if v else "false") if isinstance(v, bool) else str(v)) for k, v in fields.items()]
    return base64.b64encode(urlencode(pairs, quote_via=quote_plus).encode()).decode()


def signed_query(fields: dict, secret: str) -> str:
    """`sso=...&sig=...` for these fields."""
    payload = encode_payload(fields)
    return f"sso={quote_plus(payload)}&sig={sign(payload, secret)}"


def _domain_matches(pattern: str, host: str) -> bool:
    # WildcardDomainChecker: a leading "*" matches any run of non-space characters.
    if pattern.startswith("*"):
        regex = r"\S*" + re.escape(pattern[1:])
    else:
        regex = re.escape(pattern)
    return re.fullmatch(regex, host, flags=re.IGNORECASE) is not None


def _signature_ok(payload: str, secret: str, sig: str) -> bool:
    """Constant-time check of ``sig`` (any text a client sends) against the payload's signature."""
    return hmac.compare_digest(sign(payload, secret).encode(), sig.encode("utf-8", "replace"))


def _host(url: str) -> str:
    """The URL's host, or "" when the URL cannot be parsed (such as an unclosed IPv6 bracket)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def lookup_secret(
    secrets_by_domain: dict[str, str], return_sso_url: str, payload: str, sig: str
) -> str | None:
    """Pick the secret for the return URL's host, as `DiscourseConnectProvider.lookup_sso_secret`.

    Domains are tried in reverse order; among those matching the host, the first whose secret
    verifies the signature wins, else the first matching one (which then fails to verify).
    """
    host = _host(return_sso_url)
    first_match = None
    for domain, secret in sorted(secrets_by_domain.items(), reverse=True):
        if _domain_matches(domain, host):
            first_match = first_match or secret
            if _signature_ok(payload, secret, sig):
                return secret
    return first_match


def _redirect_back(fields: dict, secret: str) -> Response:
    url = fields["return_sso_url"]
    joiner = "&" if "?" in url else "?"
    return redirect(f"{url}{joiner}{signed_query(fields, secret)}", code=302)


def _plain(text: str, status: int) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")


def _state():
    return current_app.extensions["forum_standin"]


def _data() -> ForumData:
    return _state().data


def can_log_in(user: User) -> str | None:
    """Why Discourse would refuse this account a login, or None if it may log in."""
    if not user.human:
        return "bot account"
    if user.staged:
        return "staged account (never signed up)"
    if not user.active:
        return "not activated"
    if user.suspended:
        return "suspended"
    return None


def current_user() -> User | None:
    """The forum user logged in through this browser's forum cookie, if still allowed in."""
    user_id = session.get("user_id")
    if user_id is None:
        return None
    data = _data()
    with data.lock:
        user = data.users.get(user_id)
        if user is None or can_log_in(user) is not None:
            # Discourse logs a suspended user out everywhere.
            session.pop("user_id", None)
            return None
        return user


def _csrf_token() -> str:
    if "csrf_token" not in session:
        session["csrf_token"] = secrets.token_urlsafe(32)
    return session["csrf_token"]


def _user_fields(data: ForumData, user: User) -> dict:
    fields = {
        "name": user.name or "",
        "username": user.username,
        "email": user.email,
        "external_id": str(user.id),
        "admin": user.admin,
        "moderator": user.moderator,
        "groups": ",".join(data.group_names_of(user)),
    }
    if user.avatar_url:
        fields["avatar_url"] = user.avatar_url
    return fields


def _answer(incoming: dict, extra: dict) -> dict:
    # The answer carries every accessor the request set (nonce, return_sso_url, prompt, ...)
    # overlaid with ours, in accessor order, then any custom.* fields echoed back.
    merged = {}
    for key in ACCESSORS:
        if key in extra:
            merged[key] = extra[key]
        elif key in incoming:
            value = incoming[key]
            if key in BOOLS:
                if value not in ("true", "false"):
                    continue
                value = value == "true"
            merged[key] = value
    merged.update({k: v for k, v in incoming.items() if k.startswith("custom.")})
    return merged


# === views ===


@bp.get("/session/sso_provider")
def sso_provider():
    """Check a DiscourseConnect request and answer it, logging the visitor in first if needed."""
    state = _state()
    if state.data.delay_seconds:
        time.sleep(state.data.delay_seconds)
    payload = request.args.get("sso", "")
    sig = request.args.get("sig", "")
    if not payload:
        return _plain("param is missing or the value is empty: sso", 400)
    incoming = decode_payload(payload)
    return_url = incoming.get("return_sso_url", "")
    if not return_url:
        return _plain(BLANK_RETURN_URL, 400)
    secret = lookup_secret(state.sso_secrets, return_url, payload, sig)
    if not secret:
        return _plain(MISSING_SECRET, 400)
    if _NOT_BASE64.search(payload) or not _signature_ok(payload, secret, sig):
        # Never say why: the reason would give away the expected signature.
        return _plain(LOGIN_ERROR, 422)

    if incoming.get("logout") == "true":
        session.pop("user_id", None)
        return redirect(return_url, code=302)
    user = current_user()
    if user is None:
        if incoming.get("prompt") == "none":
            return _redirect_back(_answer(incoming, {"failed": True}), secret)
        session["sso_query"] = request.query_string.decode()
        return redirect(url_for("connect.login"), code=302)
    data = state.data
    with data.lock:
        extra = _user_fields(data, user)
    if incoming.get("require_2fa") == "true":
        extra["no_2fa_methods"] = True  # no seeded member has a second factor
    return _redirect_back(_answer(incoming, extra), secret)


def _age(created_at: datetime) -> str:
    seconds = (utcnow() - created_at).total_seconds()
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400), ("hour", 3600)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return "just now"


@bp.get("/login")
def login():
    """A page listing the seeded members; a newcomer picks whom to be."""
    data = _data()
    pending = session.get("sso_query")
    target = None
    if pending:
        target = _host(decode_payload(dict(parse_qsl(pending)).get("sso", "")).get("return_sso_url", ""))
    with data.lock:
        rows = []
        # A big forum lists its first 200 members; anyone can still be named in the form below.
        more, shown = data.cached("login_page", lambda: _login_page_users(data))
        for user in shown:
            names = data.group_names_of(user)
            rows.append(
                {
                    "username": user.username,
                    "name": user.name,
                    "trust_level": user.trust_level,
                    "admin": user.admin,
                    "moderator": user.moderator,
                    "silenced": user.silenced,
                    "groups": [
                        n
                        for n in names
                        if not n.startswith("trust_level_") and n not in ("admins", "moderators", "staff")
                    ],
                    "age": _age(user.created_at),
                    "created": user.created_at.date().isoformat(),
                    "refused": can_log_in(user),
                }
            )
    return render_template(
        "login.html",
        rows=rows,
        target=target,
        csrf_token=_csrf_token(),
        current=current_user(),
        title=_state().title,
        more=more,
    )


def _login_page_users(data: ForumData) -> tuple[int, list[User]]:
    everyone = [u for u in data.users.values() if u.human]
    shown = sorted(everyone, key=lambda u: (not u.staff, u.id > 1000, u.username.lower()))[:LOGIN_PAGE_ROWS]
    return max(0, len(everyone) - LOGIN_PAGE_ROWS), shown


@bp.post("/login")
def login_submit():
    """Log in as the chosen member, then resume the DiscourseConnect request if one is waiting."""
    token = request.form.get("csrf_token", "")
    if not hmac.compare_digest(token.encode(), session.get("csrf_token", "").encode()):
        abort(400, description="The form has expired (CSRF check failed); go back and reload the page.")
    data = _data()
    with data.lock:
        user = data.find_user(request.form.get("username", ""))
        reason = None if user is None else can_log_in(user)
    if user is None:
        abort(400, description="No such member.")
    if reason is not None:
        abort(403, description=f"{user.username} cannot log in: {reason}.")
    pending = session.pop("sso_query", None)
    session.clear()
    session["user_id"] = user.id
    with data.lock:
        user.last_seen_at = utcnow()
    if pending:
        return redirect(f"{url_for('connect.sso_provider')}?{pending}", code=302)
    return redirect(url_for("connect.index"), code=302)


@bp.post("/logout")
def logout():
    """Forget the forum login kept in this browser."""
    token = request.form.get("csrf_token", "")
    if not hmac.compare_digest(token.encode(), session.get("csrf_token", "").encode()):
        abort(400, description="The form has expired (CSRF check failed); go back and reload the page.")
    session.clear()
    return redirect(url_for("connect.index"), code=302)


@bp.get("/")
def index():
    """The forum's front page: who is logged in, and the latest public topics."""
    data = _data()
    with data.lock:
        topics = [
            {
                "title": t.title,
                "author": data.users[t.user_id].username,
                "posts": len(t.post_ids),
                "category": data.categories[t.category_id].name if t.category_id in data.categories else "",
            }
            for t in sorted(data.topics.values(), key=lambda t: t.id, reverse=True)
            if not t.private
        ][:20]
        member_count = data.cached("member_count", lambda: sum(
            1 for u in data.users.values() if u.human and not u.staged))
    return render_template(
        "index.html",
        topics=topics,
        member_count=member_count,
        current=current_user(),
        csrf_token=_csrf_token(),
        title=_state().title,
    )
