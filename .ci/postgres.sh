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
    # The store's suite, on both backends.
    cargo test --locked --test backends
    cargo test --locked --lib store::
    # The suites that go through the services (sign-ups, imports, bounces, digests,
    # the console), with every store on PostgreSQL. Skipped by name, because they
    # reach past the store into the SQLite file itself (they write to it with a
    # connection of their own, lock it, or read its `crier.db.sent` journal and
    # expect a restart to queue claimed rows again, which a shared database leaves
    # to leases): those run on SQLite in `cargo test`.
    export CRIER_TEST_BACKEND=postgres
    cargo test --locked --test subscribers -- \
        --skip a_migration_cleans_names_stored_with_control_characters \
        --skip sign_ups_are_answered_before_the_database_is_touched
    cargo test --locked --test digests -- \
        --skip a_failed_run_leaves_neither_bodies_nor_messages \
        --skip a_run_the_database_refuses_is_tried_again_and_queued_once \
        --skip a_send_the_database_cannot_record_yet_goes_once \
        --skip a_restart_records_what_the_journal_holds_before_sending_again
    for suite in bounces console_subscribers console_deliveries console_import \
        console_digests console_pages; do
        cargo test --locked --test "$suite"
    done
fi
