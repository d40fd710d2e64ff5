# Shared set-up steps for scripts/run and scripts/test (sourced, not executed).
# Installs what the project needs from Debian's packages and PyPI; safe to run again.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "setup: need root (or sudo) to run: $*" >&2; return 1; fi
}

# ensure_debian_packages PKG... : install the missing ones with apt-get (update once first).
ensure_debian_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_venv [EXTRAS] : a virtualenv with the project installed from the hashed lock file
# (requirements/base.txt, or requirements/EXTRAS.txt); reinstalls when the lock or pyproject.toml changes.
ensure_venv() {
    local extras="${1:-}"
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "setup: Python 3.11 or newer is required ($python is $("$python" --version 2>&1))" >&2
        return 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        "$python" -m venv "$VENV" 2>/dev/null || {
            ensure_debian_packages python3-venv && rm -rf "$VENV" && "$python" -m venv "$VENV"; }
    fi
    # libsodium (ristretto255, for governance.crypto via pysodium) and the browser module.
    ensure_debian_packages libsodium23
    "$ROOT/scripts/build-js"
    local stamp="$VENV/.installed-${extras:-base}"
    local lock="$ROOT/requirements/${extras:-base}.txt"
    local want
    want="$(cat "$ROOT/pyproject.toml" "$lock" | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "setup: installing Python packages from ${lock#"$ROOT"/}"
        # --no-deps: the lock is complete, and pip before 24 wrongly re-resolves an extra
        # (coverage[toml] from pytest-cov) past its pin in hash-checking mode.
        "$VENV/bin/python" -m pip install -q --no-deps --require-hashes -r "$lock"
        "$VENV/bin/python" -m pip check >/dev/null
        "$VENV/bin/python" -m pip install -q --no-deps -e "$ROOT"
        echo "$want" > "$stamp"
    fi
}

# pg_bindir : directory holding initdb/pg_ctl of the newest installed PostgreSQL.
pg_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# start_postgres : a throw-away server on loopback in a temporary data directory.
# Sets PG_TMP, PG_PORT and GOVERNANCE_TEST_POSTGRES_URL; stop_postgres removes it all.
start_postgres() {
    local bindir
    bindir="$(pg_bindir)"
    [ -n "$bindir" ] || { echo "setup: PostgreSQL is not installed" >&2; return 1; }
    PG_TMP="$(mktemp -d /tmp/governance-pg.XXXXXX)"
    PG_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    local run=()
    if [ "$(id -u)" -eq 0 ]; then
        # initdb refuses to run as root: the server runs as the postgres system user.
        id postgres >/dev/null 2>&1 || as_root useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
        chown postgres: "$PG_TMP"
        run=(runuser -u postgres --)
    fi
    "${run[@]}" "$bindir/initdb" -D "$PG_TMP/data" -U postgres --auth=trust --encoding=UTF8 --no-locale >/dev/null
    "${run[@]}" "$bindir/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_TMP -c fsync=on -c max_connections=200" start >/dev/null
    export GOVERNANCE_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres"
    PG_RUN=("${run[@]}")
    PG_BINDIR="$bindir"
    echo "setup: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
}

stop_postgres() {
    if [ -n "${PG_TMP:-}" ] && [ -d "$PG_TMP" ]; then
        "${PG_RUN[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_TMP/data" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$PG_TMP"
    fi
}
