"""The `governance-forum` command."""

from __future__ import annotations

import pytest

from governance.forum_standin import cli


class FakeServer:
    """Stands in for Werkzeug's server: records what it was given, stops at once."""

    def __init__(self, host, port, app, **kwargs):
        self.host, self.server_port, self.app = host, port, app
        self.closed = False

    def serve_forever(self):
        """Behave as if Ctrl-C arrived at once."""
        raise KeyboardInterrupt

    def server_close(self):
        """Remember that the socket was closed."""
        self.closed = True


@pytest.fixture
def served(monkeypatch):
    """Run `serve` against a fake server; return the servers made."""
    made = []

    def fake_make_server(host, port, app, **kwargs):
        """Build a FakeServer instead of listening."""
        made.append(FakeServer(host, port, app, **kwargs))
        return made[-1]

    monkeypatch.setattr(cli, "make_server", fake_make_server)
    monkeypatch.delenv(cli.SECRET_ENV, raising=False)
    monkeypatch.delenv(cli.API_KEY_ENV, raising=False)
    return made


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["serve", "--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--host",
        "--port",
        "--platform-url",
        "--sso-secret",
        "--api-key",
        "--api-username",
        "--rate-limit",
        cli.SECRET_ENV,
        cli.API_KEY_ENV,
    ):
        assert option in text
    assert "4200" in text and "127.0.0.1" in text


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main([])
    assert stopped.value.code == 2


def test_serve_announces_development_defaults(served, capsys):
    assert cli.main(["serve", "--port", "4321"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:4321" in out
    assert "'dev-connect-secret' (development default" in out
    assert "'dev-api-key' (development default" in out
    state = served[0].app.extensions["forum_standin"]
    assert state.sso_secrets == {"127.0.0.1": "dev-connect-secret", "localhost": "dev-connect-secret"}
    assert state.api_key == "dev-api-key" and state.api_username == "system"
    assert served[0].closed


def test_serve_reads_secrets_from_the_environment(served, monkeypatch, capsys):
    monkeypatch.setenv(cli.SECRET_ENV, "from-env-secret")
    monkeypatch.setenv(cli.API_KEY_ENV, "from-env-key")
    cli.main(["serve", "--platform-url", "https://vote.example.org"])
    out = capsys.readouterr().out
    assert "from-env" not in out and "development default" not in out
    state = served[0].app.extensions["forum_standin"]
    assert state.sso_secrets == {"vote.example.org": "from-env-secret"}
    assert state.api_key == "from-env-key"


def test_options_beat_the_environment(served, monkeypatch):
    monkeypatch.setenv(cli.SECRET_ENV, "from-env-secret")
    cli.main(["serve", "--sso-secret", "given", "--api-key", "key", "--rate-limit", "5"])
    state = served[0].app.extensions["forum_standin"]
    assert set(state.sso_secrets.values()) == {"given"} and state.api_key == "key"
    assert state.data.rate_limit_per_minute == 5
