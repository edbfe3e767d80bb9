#!/usr/bin/env bash
# The store's tests against a real PostgreSQL: Debian's `postgresql` (installed when
# missing), a throwaway cluster made with initdb in a temporary folder and run with
# pg_ctl on a free port, its socket in that folder (no system service). The server
# refuses to run as root, so as root the cluster belongs to the `postgres` user the
# package creates. CRIER_TEST_POSTGRES_URL names it, which compiles the PostgreSQL
# tests in (build.rs); each test makes a database of its own and drops it.
# Usage: postgres.sh [COMMAND...]   (default: the PostgreSQL-enabled store tests)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"

if ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then
    echo "installing postgresql"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql > /dev/null
fi
BIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
"$BIN/postgres" --version

TMP=$(mktemp -d)
chmod 755 "$TMP"
AS=()
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$TMP"
    AS=(runuser -u postgres --)
fi
stop() {
    "${AS[@]}" "$BIN/pg_ctl" -D "$TMP/data" -m immediate stop > /dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap stop EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

"${AS[@]}" "$BIN/initdb" -D "$TMP/data" -U crier --auth=trust --encoding=UTF8 --locale=C.UTF-8 > "$TMP/initdb.log"
"${AS[@]}" "$BIN/pg_ctl" -D "$TMP/data" -l "$TMP/server.log" -w \
    -o "-p $PORT -k $TMP -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start > /dev/null

# The password is ignored (trust) but present, as in a deployment's URL.
export CRIER_TEST_POSTGRES_URL="postgres://crier:not-a-secret@127.0.0.1:$PORT/postgres"
echo "PostgreSQL on 127.0.0.1:$PORT"

cd "$REPO"
if [ $# -gt 0 ]; then
    "$@"
else
    cargo test --locked --test backends
    cargo test --locked --lib store::
fi
