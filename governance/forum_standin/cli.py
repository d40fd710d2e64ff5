"""`governance-forum`: run the stand-in Discourse forum beside the platform.

Boundary rule: standard library, Werkzeug and this package only.
"""

from __future__ import annotations

import argparse
import os
import sys
from urllib.parse import urlsplit

from werkzeug.serving import make_server

from .app import create_forum_app
from .seed import seed_forum, seed_large
from .webhooks import Sender, add_webhook

DEV_SSO_SECRET = "dev-connect-secret"
DEV_API_KEY = "dev-api-key"
SECRET_ENV = "GOVERNANCE_DISCOURSE_CONNECT_SECRET"
API_KEY_ENV = "GOVERNANCE_DISCOURSE_API_KEY"
WEBHOOK_SECRET_ENV = "GOVERNANCE_DISCOURSE_WEBHOOK_SECRET"


def build_parser() -> argparse.ArgumentParser:
    """The command line: one `serve` subcommand."""
    parser = argparse.ArgumentParser(
        prog="governance-forum",
        description="A stand-in Discourse forum (DiscourseConnect provider and JSON API) for development.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve the seeded forum",
        description="Serve the seeded stand-in forum until interrupted. Data lives in memory and is "
        "rebuilt on every start.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=4200, help="port to listen on (default: %(default)s)")
    serve.add_argument(
        "--platform-url",
        default="http://127.0.0.1:5000",
        help="where the platform runs; its host may use DiscourseConnect (default: %(default)s)",
    )
    serve.add_argument(
        "--sso-secret",
        default=None,
        help=f"DiscourseConnect secret shared with the platform (default: ${SECRET_ENV}, else {DEV_SSO_SECRET!r})",
    )
    serve.add_argument(
        "--api-key",
        default=None,
        help=f"API key the platform sends as Api-Key (default: ${API_KEY_ENV}, else {DEV_API_KEY!r})",
    )
    serve.add_argument(
        "--api-username", default="system", help="Api-Username to announce (default: %(default)s)"
    )
    serve.add_argument(
        "--rate-limit", type=int, default=None, metavar="N",
        help="admin API requests a minute, forum-wide (default: Discourse's 60 with --discourse-limits)",
    )
    serve.add_argument(
        "--discourse-limits", action="store_true",
        help="enforce Discourse's default rate limits: 60 admin API requests a minute, 50 requests "
        "per 10 seconds and 200 a minute per address (off by default: the demo's seeding makes "
        "one API call per member)",
    )
    serve.add_argument(
        "--accounts", type=int, default=None, metavar="N",
        help="grow the seeded community to N generated accounts (e.g. 30000)",
    )
    serve.add_argument(
        "--webhook", default=None, metavar="URL",
        help="send account events to this URL as Discourse's webhooks do (e.g. the platform's /auth/forum-webhook)",
    )
    serve.add_argument(
        "--webhook-secret", default=None,
        help=f"the webhook's secret (default: ${WEBHOOK_SECRET_ENV})",
    )
    return parser


def _secret_domains(platform_url: str) -> list[str]:
    host = urlsplit(platform_url).hostname or "localhost"
    # Browsers may reach a local platform by either name; accept both.
    if host in ("127.0.0.1", "localhost"):
        return ["127.0.0.1", "localhost"]
    return [host]


def serve(args: argparse.Namespace) -> int:
    """Build the seeded forum and serve it until Ctrl-C."""
    sso_secret = args.sso_secret or os.environ.get(SECRET_ENV) or DEV_SSO_SECRET
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or DEV_API_KEY
    domains = _secret_domains(args.platform_url)
    data = seed_large(args.accounts) if args.accounts else seed_forum()
    app = create_forum_app(
        data=data,
        sso_secrets={domain: sso_secret for domain in domains},
        api_key=api_key,
        api_username=args.api_username,
        rate_limit=args.rate_limit,
        discourse_limits=args.discourse_limits,
    )
    server = make_server(args.host, args.port, app, threaded=True)
    url = f"http://{args.host}:{server.server_port}"
    if args.webhook:
        add_webhook(data, args.webhook, args.webhook_secret or os.environ.get(WEBHOOK_SECRET_ENV, ""))
    sender = Sender(data, url).start()
    print(f"Stand-in Discourse forum on {url} (Ctrl-C to stop)")
    print(f"  DiscourseConnect endpoint: {url}/session/sso_provider, for {', '.join(domains)}")
    if sso_secret == DEV_SSO_SECRET:
        print(f"  DiscourseConnect secret: {DEV_SSO_SECRET!r} (development default; set ${SECRET_ENV})")
    if api_key == DEV_API_KEY:
        print(f"  API key: {DEV_API_KEY!r} (development default; set ${API_KEY_ENV})")
    print(f"  Api-Username: {args.api_username}")
    print(f"  Accounts: {sum(1 for u in data.users.values() if u.human)}")
    if args.discourse_limits:
        print(f"  Rate limits: {data.rate_limit_per_minute} admin API requests a minute; "
              f"{data.ip_limits[0]} per 10 s and {data.ip_limits[1]} a minute per address")
    if args.webhook:
        print(f"  Webhook: {args.webhook}")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopped.")
    finally:
        sender.stop()
        server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `governance-forum` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2  # argparse has already refused anything else


if __name__ == "__main__":
    raise SystemExit(main())
