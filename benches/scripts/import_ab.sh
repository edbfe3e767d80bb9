#!/usr/bin/env bash
# Two crier binaries importing the same 100,000-row CSV (`subscribers import --active`,
# 1-3 audiences a row) into a fresh SQLite file and a fresh PostgreSQL database, taking
# turns, ROUNDS times; with the newer binary also into SQLite with the subscriber
# search's FTS5 triggers dropped (what that index costs). Prints one `AB case seconds`
# line a run. Run it inside the throwaway cluster of .ci/postgres.sh:
#
#   .ci/postgres.sh bash benches/scripts/import_ab.sh OLD_BINARY NEW_BINARY
set -euo pipefail
OLD=$(realpath "$1")
NEW=$(realpath "$2")
: "${CRIER_TEST_POSTGRES_URL:?run this inside .ci/postgres.sh}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AUDIENCES="$ROOT/subscribers/audiences.toml"
ROUNDS=${ROUNDS:-3}
command -v sqlite3 > /dev/null || { echo "sqlite3 is missing" >&2; exit 1; }
W=$(mktemp -d /tmp/crier-import-ab.XXXXXX); chmod 777 "$W"
trap 'rm -rf "$W"' EXIT

python3 - "$AUDIENCES" "$W/rows.csv" <<'PY'
import random, re, sys
rng = random.Random(5)
slugs = re.findall(r'^slug\s*=\s*"([^"]+)"', open(sys.argv[1]).read(), re.M)
zones = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC", "Europe/London"]
with open(sys.argv[2], "w") as f:
    f.write("email,name,audiences,frequency,timezone\n")
    for i in range(100000):
        chosen = ";".join(sorted(rng.sample(slugs, rng.randint(1, 3))))
        f.write(f"reader{i}.{rng.randint(0, 10**6)}@example{rng.randint(0, 99)}.org,"
                f"Reader {i},{chosen},weekly,{rng.choice(zones)}\n")
PY

site() { # site URL: a fresh config in $W/site
    rm -rf "$W/site"; mkdir -p "$W/site/data" "$W/site/articles"; chmod -R 777 "$W/site"
    {
        printf '[store]\npath = "articles"\naudiences = "%s"\n[database]\nurl = "%s"\n' "$AUDIENCES" "$1"
        case "$1" in postgres*) printf 'state_dir = "%s/site/data"\n' "$W" ;; esac
        printf '[security]\nsecret = "import-ab-secret-0123456789abcdef0123456789"\n'
    } > "$W/site/crier.toml"
}
timed() { # timed CASE BINARY: imports into the current site
    local t0 t1
    t0=$(date +%s.%N)
    "$2" --config "$W/site/crier.toml" subscribers import --active "$W/rows.csv" > "$W/out" 2>&1 ||
        { cat "$W/out" >&2; exit 1; }
    t1=$(date +%s.%N)
    echo "AB $1 $(echo "$t1 - $t0" | bc)"
}
pg_fresh() {
    psql -q "$CRIER_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS import_ab" -c "CREATE DATABASE import_ab"
    echo "${CRIER_TEST_POSTGRES_URL%/*}/import_ab"
}
for _ in $(seq 1 "$ROUNDS"); do
    for version in old new; do
        bin=$OLD; [ "$version" = new ] && bin=$NEW
        site "sqlite://$W/site/data/crier.db"; timed "sqlite-$version" "$bin"
        site "$(pg_fresh)"; timed "pg-$version" "$bin"
    done
    site "sqlite://$W/site/data/crier.db"
    "$NEW" --config "$W/site/crier.toml" subscribers list --json --per-page 1 > /dev/null
    sqlite3 "$W/site/data/crier.db" "DROP TRIGGER subscribers_fts_insert; DROP TRIGGER subscribers_fts_delete; DROP TRIGGER subscribers_fts_update;"
    timed sqlite-new-without-fts-triggers "$NEW"
done
