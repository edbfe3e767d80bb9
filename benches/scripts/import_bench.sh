#!/usr/bin/env bash
# Benchmark: `crier subscribers import` of a 100,000-row CSV.
#
# What it does, in one run:
#   1. builds the release binary (honours CARGO_TARGET_DIR; the binary is found through
#      `cargo metadata`'s target_directory),
#   2. generates a deterministic CSV of N rows (default 100,000) and a copy in which
#      1% of the rows (every row whose number ends in 50) are deliberately bad,
#   3. times, each on a fresh config + fresh database, RUNS times (default 3):
#        import_active    crier subscribers import --active  FILE.csv
#        reimport_active  the same command again on the populated database (all updates)
#        import_pending   crier subscribers import FILE.csv  (double opt-in: queues N
#                         confirmation emails in the outbox)
#        import_badrows   crier subscribers import --active  BAD.csv  (expects exit 1 and
#                         exactly the injected errors, on exactly the injected lines)
#      with wall time and peak RSS (/usr/bin/time -v),
#   4. times the reference: the sqlite3 CLI `.import --csv` of the same file into a plain
#      table (and into a table with a UNIQUE email column),
#   4b. with CRIER_TEST_POSTGRES_URL set (run inside .ci/postgres.sh), the same three
#      good-file cases on PostgreSQL, each on a fresh database (pg_import_active,
#      pg_reimport_active, pg_import_pending), and its reference: psql's `\copy` of the
#      same file into a plain table (psql_copy),
#   5. checks the counts after every run (`subscribers list --json --per-page 1` total,
#      the outbox for the pending run) and stops with an error when one is wrong,
#   6. prints a table (medians) and machine-readable lines:
#        BENCH case=<name> run=<i> seconds=<s> cpu_s=<user+sys s> max_rss_kb=<kb>
#        RESULT case=<name> median_s=<s> min_s=<s> max_s=<s> median_cpu_s=<s> max_rss_kb=<kb> runs=<n>
#        RATIO case=<name> vs=sqlite3_import value=<x>
#
# Usage: benches/scripts/import_bench.sh
#        .ci/postgres.sh bash benches/scripts/import_bench.sh   (both backends, one run)
# Environment: N (rows, default 100000), RUNS (default 3), KEEP=1 keeps the temp folder,
#              CARGO_TARGET_DIR (where cargo builds), SKIP_BUILD=1 (use the existing binary).
set -euo pipefail

N=${N:-100000}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TAXONOMY="$ROOT/subscribers/audiences.toml"

die() { echo "import_bench: FAIL: $*" >&2; exit 1; }
note() { echo "import_bench: $*" >&2; }

# --- tools ---------------------------------------------------------------------------
# shellcheck source=benches/scripts/lib.sh
. "$ROOT/benches/scripts/lib.sh"
[ -x /usr/bin/time ] || need_apt time
command -v sqlite3 >/dev/null || need_apt sqlite3
command -v python3 >/dev/null || die "python3 is missing"

# --- 1. build --------------------------------------------------------------------------
release_binary "$ROOT"

WORK=$(mktemp -d /tmp/crier-import-bench.XXXXXX)
if [ "${KEEP:-0}" = 1 ]; then
    note "keeping $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi

# --- 2. data ---------------------------------------------------------------------------
GOOD="$WORK/subscribers-$N.csv"
BAD="$WORK/subscribers-$N-bad.csv"
BAD_LINES="$WORK/bad-lines.txt"
python3 - "$TAXONOMY" "$N" "$GOOD" "$BAD" "$BAD_LINES" <<'PY'
import random, re, sys
taxonomy, n, good, bad, bad_lines = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
slugs = re.findall(r'^slug\s*=\s*"([^"]+)"', open(taxonomy).read(), re.M)
assert len(slugs) >= 4, slugs
rng = random.Random(20261126)  # fixed seed: the same file every time
first = ["Ada", "Bea", "Carl", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jun",
         "Kofi", "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq"]
last = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Byrne", "Haddad",
        "Kowalski", "Nguyen", "Schmidt", "O'Neil", "García", "Ivanova", "Mensah", "Rossi"]
zones = ["UTC", "Europe/London", "Europe/Berlin", "America/New_York",
         "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney", "Africa/Lagos"]

def q(field):
    return '"' + field.replace('"', '""') + '"' if any(c in field for c in ',"\n') else field

rows = []
for i in range(1, n + 1):
    email = f"user{i:06d}@example.org"
    name = f"{rng.choice(first)} {rng.choice(last)}" if i % 10 else ""  # 10% without a name
    audiences = ";".join(rng.sample(slugs, rng.randint(1, 4)))
    frequency = "daily" if rng.random() < 0.3 else "weekly"
    zone = rng.choice(zones)
    rows.append([email, name, audiences, frequency, zone])

header = "email,name,audiences,frequency,timezone\n"
with open(good, "w", newline="") as f:
    f.write(header)
    f.writelines(",".join(q(c) for c in r) + "\n" for r in rows)

# 1%: every row whose number ends in 50 becomes bad, in one of six ways. Each bad
# row must give exactly one error; row 1 stays good (the duplicate kind copies it).
kinds = [
    lambda r: [r[0].replace("@", ".at."), *r[1:]],            # not an address
    lambda r: [r[0], r[1], r[2] + ";astronauts", *r[3:]],      # unknown audience
    lambda r: [*r[:3], "hourly", r[4]],                        # unknown frequency
    lambda r: [*r[:4], "Mars/Olympus_Mons"],                    # unknown time zone
    lambda r: [r[0], r[1], "", *r[3:]],                         # no audience
    lambda r: [rows[0][0], *r[1:]],                             # duplicate of line 2
]
lines = []
with open(bad, "w", newline="") as f:
    f.write(header)
    k = 0
    for i, r in enumerate(rows, start=1):
        if i % 100 == 50:
            r = kinds[k % len(kinds)](r)
            k += 1
            lines.append(i + 1)  # the header is line 1
        f.write(",".join(q(c) for c in r) + "\n")
open(bad_lines, "w").write("".join(f"{l}\n" for l in lines))
PY
BAD_COUNT=$(wc -l <"$BAD_LINES")
note "generated $GOOD ($(du -h "$GOOD" | cut -f1)), $BAD with $BAD_COUNT bad rows"

# --- helpers ---------------------------------------------------------------------------
# fresh_site DIR: a config + empty article folder + (not yet created) database in DIR.
fresh_site() {
    local dir=$1
    rm -rf "$dir"
    mkdir -p "$dir/articles" "$dir/data"
    cat >"$dir/crier.toml" <<EOF
[store]
path = "articles"
audiences = "$TAXONOMY"

[database]
url = "sqlite://data/crier.db"

[security]
secret = "import-bench-secret-0123456789abcdef0123456789"
EOF
}

# timed OUT_PREFIX CMD...: runs CMD under /usr/bin/time -v; stdout/stderr to
# OUT_PREFIX.{out,err}; sets T_SECONDS (wall), T_CPU (user + system), T_RSS_KB, T_RC.
timed() {
    local prefix=$1
    shift
    local start end
    start=$(date +%s%N)
    T_RC=0
    /usr/bin/time -v -o "$prefix.time" "$@" >"$prefix.out" 2>"$prefix.err" || T_RC=$?
    end=$(date +%s%N)
    T_SECONDS=$(python3 -c "print(f'{($end - $start) / 1e9:.3f}')")
    T_RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$prefix.time")
    T_CPU=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$prefix.time")
}

total_of() {
    "$CRIER" --config "$1/crier.toml" subscribers list --json --per-page 1 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'
}

declare -A TIMES CPUS RSS
record() { # record CASE RUN
    TIMES[$1]="${TIMES[$1]:-} $T_SECONDS"
    CPUS[$1]="${CPUS[$1]:-},$T_CPU"
    if [ "${T_RSS_KB:-0}" -gt "${RSS[$1]:-0}" ]; then RSS[$1]=$T_RSS_KB; fi
    echo "BENCH case=$1 run=$2 seconds=$T_SECONDS cpu_s=$T_CPU max_rss_kb=$T_RSS_KB"
}

check_summary() { # check_summary PREFIX ROWS ADDED UPDATED ERRORS
    local prefix=$1
    grep -qE "^$2 rows: $3 added, $4 updated, $5 with errors" "$prefix.out" ||
        die "unexpected summary in $prefix.out: $(cat "$prefix.out") (stderr: $(head -n3 "$prefix.err"))"
}

# --- 3. crier --------------------------------------------------------------------------
for run in $(seq 1 "$RUNS"); do
    # --active on a fresh database, then the same file again (every row an update).
    site="$WORK/active-$run"
    fresh_site "$site"
    note "run $run: import --active"
    timed "$site/import" "$CRIER" --config "$site/crier.toml" subscribers import --active "$GOOD"
    [ "$T_RC" = 0 ] || die "import --active exited $T_RC: $(head -n5 "$site/import.err")"
    check_summary "$site/import" "$N" "$N" 0 0
    [ "$(total_of "$site")" = "$N" ] || die "after import --active the total is $(total_of "$site"), not $N"
    record import_active "$run"

    note "run $run: re-import --active into the populated database"
    timed "$site/reimport" "$CRIER" --config "$site/crier.toml" subscribers import --active "$GOOD"
    [ "$T_RC" = 0 ] || die "re-import exited $T_RC: $(head -n5 "$site/reimport.err")"
    check_summary "$site/reimport" "$N" 0 "$N" 0
    [ "$(total_of "$site")" = "$N" ] || die "after the re-import the total is $(total_of "$site"), not $N"
    record reimport_active "$run"
    [ "${KEEP:-0}" = 1 ] || rm -rf "$site"

    # Without --active: every subscriber pending, one confirmation email queued each.
    site="$WORK/pending-$run"
    fresh_site "$site"
    note "run $run: import (pending, queues confirmations)"
    timed "$site/import" "$CRIER" --config "$site/crier.toml" subscribers import "$GOOD"
    [ "$T_RC" = 0 ] || die "import (pending) exited $T_RC: $(head -n5 "$site/import.err")"
    check_summary "$site/import" "$N" "$N" 0 0
    grep -q ", $N confirmation emails queued" "$site/import.out" ||
        die "expected $N confirmation emails queued: $(cat "$site/import.out")"
    [ "$(total_of "$site")" = "$N" ] || die "after import (pending) the total is $(total_of "$site"), not $N"
    queued=$(sqlite3 "$site/data/crier.db" "SELECT count(*) FROM outbox WHERE kind = 'confirmation' AND status = 'queued'")
    [ "$queued" = "$N" ] || die "the outbox holds $queued queued confirmations, not $N"
    pending=$(sqlite3 "$site/data/crier.db" "SELECT count(*) FROM subscribers WHERE status = 'pending'")
    [ "$pending" = "$N" ] || die "$pending pending subscribers, not $N"
    record import_pending "$run"
    [ "${KEEP:-0}" = 1 ] || rm -rf "$site"

    # The file with 1% bad rows: exit 1, exactly the injected errors on the injected lines.
    site="$WORK/bad-$run"
    fresh_site "$site"
    note "run $run: import --active of the file with $BAD_COUNT bad rows"
    timed "$site/import" "$CRIER" --config "$site/crier.toml" subscribers import --active "$BAD"
    [ "$T_RC" = 1 ] || die "the bad-rows import exited $T_RC, not 1: $(head -n5 "$site/import.err")"
    good_rows=$((N - BAD_COUNT))
    check_summary "$site/import" "$N" "$good_rows" 0 "$BAD_COUNT"
    grep -E "^$BAD:[0-9]+: " "$site/import.err" | sed -E "s|^$BAD:([0-9]+): .*|\1|" >"$site/reported-lines.txt"
    [ "$(wc -l <"$site/reported-lines.txt")" = "$BAD_COUNT" ] ||
        die "$(wc -l <"$site/reported-lines.txt") error lines on stderr, not $BAD_COUNT"
    cmp -s "$site/reported-lines.txt" "$BAD_LINES" ||
        die "the reported line numbers differ from the injected ones: $(diff "$BAD_LINES" "$site/reported-lines.txt" | head -n5)"
    [ "$(total_of "$site")" = "$good_rows" ] ||
        die "after the bad-rows import the total is $(total_of "$site"), not $good_rows"
    if [ "$run" = 1 ]; then
        note "sample error messages (one per kind of bad row):"
        grep -F -m6 "$BAD:" "$site/import.err" | sed 's/^/    /' >&2
    fi
    record import_badrows "$run"
    [ "${KEEP:-0}" = 1 ] || rm -rf "$site"
done

# --- 4. reference: the sqlite3 CLI -----------------------------------------------------
# sqlite_import REF NAME CASE RUN EMAIL_COLUMN: times sqlite3's `.import` of the good
# file into a fresh table whose email column is declared as EMAIL_COLUMN.
sqlite_import() {
    local ref=$1 name=$2 label=$3 run=$4 email=$5 n
    sqlite3 "$ref/$name.db" "CREATE TABLE subscribers (email $email, name TEXT, audiences TEXT, frequency TEXT, timezone TEXT);"
    timed "$ref/$name" sqlite3 "$ref/$name.db" ".import --csv --skip 1 $GOOD subscribers"
    [ "$T_RC" = 0 ] || die "sqlite3 .import ($name) exited $T_RC: $(head -n5 "$ref/$name.err")"
    n=$(sqlite3 "$ref/$name.db" "SELECT count(*) FROM subscribers")
    [ "$n" = "$N" ] || die "sqlite3 ($name) imported $n rows, not $N"
    record "$label" "$run"
}
for run in $(seq 1 "$RUNS"); do
    ref="$WORK/ref-$run"
    rm -rf "$ref"
    mkdir -p "$ref"
    sqlite_import "$ref" plain sqlite3_import "$run" "TEXT"
    sqlite_import "$ref" unique sqlite3_import_unique "$run" "TEXT NOT NULL UNIQUE"
    rm -rf "$ref"
done

# --- 4b. PostgreSQL (inside .ci/postgres.sh) ---------------------------------------------
PG_CASES=""
if [ -n "${CRIER_TEST_POSTGRES_URL:-}" ]; then
    command -v psql >/dev/null || die "psql is missing"
    PG_CASES="pg_import_active pg_reimport_active pg_import_pending psql_copy"
    chmod 755 "$WORK"
    pg_db() { # pg_db NAME: a fresh, empty database; prints its URL
        psql -q "$CRIER_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
        echo "${CRIER_TEST_POSTGRES_URL%/*}/$1"
    }
    pg_site() { # pg_site DIR URL
        fresh_site "$1"
        sed -i "s|^url = .*|url = \"$2\"\nstate_dir = \"$1/data\"|" "$1/crier.toml"
    }
    for run in $(seq 1 "$RUNS"); do
        db="import_bench_$run"
        url=$(pg_db "$db")
        site="$WORK/pg-active-$run"
        pg_site "$site" "$url"
        note "run $run: PostgreSQL import --active"
        timed "$site/import" "$CRIER" --config "$site/crier.toml" subscribers import --active "$GOOD"
        [ "$T_RC" = 0 ] || die "PostgreSQL import --active exited $T_RC: $(head -n5 "$site/import.err")"
        check_summary "$site/import" "$N" "$N" 0 0
        [ "$(total_of "$site")" = "$N" ] || die "after the PostgreSQL import the total is $(total_of "$site"), not $N"
        events=$(psql -tA "$url" -c "SELECT count(*) FROM events WHERE kind = 'signup'")
        [ "$events" = "$N" ] || die "PostgreSQL: $events consent records, not $N"
        record pg_import_active "$run"

        note "run $run: PostgreSQL re-import --active"
        timed "$site/reimport" "$CRIER" --config "$site/crier.toml" subscribers import --active "$GOOD"
        [ "$T_RC" = 0 ] || die "PostgreSQL re-import exited $T_RC: $(head -n5 "$site/reimport.err")"
        check_summary "$site/reimport" "$N" 0 "$N" 0
        record pg_reimport_active "$run"

        url=$(pg_db "$db")
        site="$WORK/pg-pending-$run"
        pg_site "$site" "$url"
        note "run $run: PostgreSQL import (pending, queues confirmations)"
        timed "$site/import" "$CRIER" --config "$site/crier.toml" subscribers import "$GOOD"
        [ "$T_RC" = 0 ] || die "PostgreSQL import (pending) exited $T_RC: $(head -n5 "$site/import.err")"
        check_summary "$site/import" "$N" "$N" 0 0
        queued=$(psql -tA "$url" -c "SELECT count(*) FROM outbox WHERE kind = 'confirmation' AND status = 'queued'")
        [ "$queued" = "$N" ] || die "PostgreSQL: the outbox holds $queued queued confirmations, not $N"
        record pg_import_pending "$run"

        # The reference: psql's \copy of the same file into a plain table.
        url=$(pg_db "$db")
        psql -q "$url" -c "CREATE TABLE subscribers (email TEXT, name TEXT, audiences TEXT, frequency TEXT, timezone TEXT)"
        timed "$WORK/psql-copy-$run" psql -q "$url" -c "\copy subscribers FROM '$GOOD' WITH (FORMAT csv, HEADER true)"
        [ "$T_RC" = 0 ] || die "psql \\copy exited $T_RC: $(head -n5 "$WORK/psql-copy-$run.err")"
        n=$(psql -tA "$url" -c "SELECT count(*) FROM subscribers")
        [ "$n" = "$N" ] || die "psql \\copy loaded $n rows, not $N"
        record psql_copy "$run"
        psql -q "$CRIER_TEST_POSTGRES_URL" -c "DROP DATABASE $db" >/dev/null
        [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK/pg-active-$run" "$WORK/pg-pending-$run"
    done
fi

# --- 6. report -------------------------------------------------------------------------
CASES="import_active reimport_active import_pending import_badrows sqlite3_import sqlite3_import_unique $PG_CASES"
{
    for c in $CASES; do echo "$c ${RSS[$c]} ${CPUS[$c]#,} ${TIMES[$c]}"; done
} | python3 -c '
import statistics, sys
rows = {}
order = []
for line in sys.stdin:
    name, rss, cpus, *times = line.split()
    t = sorted(float(x) for x in times)
    cpu = statistics.median(float(x) for x in cpus.split(","))
    rows[name] = (statistics.median(t), t, int(rss), cpu)
    order.append(name)
ref = rows["sqlite3_import"][0]
pg_ref = rows["psql_copy"][0] if "psql_copy" in rows else None
print()
print("{:<24} {:>9} {:<22} {:>10} {:>12} {:>9}".format("case", "median s", "runs, sorted (s)", "CPU s med", "peak RSS MiB", "x sqlite3"))
for name in order:
    med, t, rss, cpu = rows[name]
    runs = " ".join(f"{x:.2f}" for x in t)
    print(f"{name:<24} {med:>9.2f} {runs:<22} {cpu:>10.2f} {rss/1024:>12.1f} {med/ref:>9.1f}")
print()
for name in order:
    med, t, rss, cpu = rows[name]
    print(f"RESULT case={name} median_s={med:.3f} min_s={t[0]:.3f} max_s={t[-1]:.3f} median_cpu_s={cpu:.2f} max_rss_kb={rss} runs={len(t)}")
for name in order:
    if not name.startswith(("sqlite3", "psql", "pg_")):
        print(f"RATIO case={name} vs=sqlite3_import value={rows[name][0]/ref:.1f}")
    elif name.startswith("pg_"):
        print(f"RATIO case={name} vs=psql_copy value={rows[name][0]/pg_ref:.1f}")
'
echo "MACHINE nproc=$(nproc) cpu=\"$(lscpu | sed -nE 's/^Model name:[[:space:]]+//p' | head -n1)\" date=$(date -u +%Y-%m-%dT%H:%M:%SZ) rows=$N runs=$RUNS sqlite3=$(sqlite3 --version | cut -d' ' -f1)"
