#!/usr/bin/env bash
# Benchmark for issue #20: one digest run to N subscribers through Postfix's smtp-sink
# with 1 and with 3 `crier serve` instances on one PostgreSQL database, beside
# smtp-source pushing N messages of the same size into the same kind of sink, and the
# database's CPU per message. Run it inside the throwaway cluster of .ci/postgres.sh:
#
#   CARGO_TARGET_DIR=... cargo build --release
#   .ci/postgres.sh bash benches/scripts/multi_instance_bench.sh target/release/crier
#
# For each case a fresh database: `crier subscribers import --active` (timed: the
# import figure), then the instances start with a digest that fires every minute;
# the clock runs from the first message in the sink to the N-th. The PostgreSQL
# server's CPU (user + system of every process of the cluster, from /proc) is read
# before and after the sending (for the SQLite case it counts nothing of crier's).
# Environment: N (100000), CONCURRENCY (8 an instance), CASES ("sqlite 1 3").
set -euo pipefail
CRIER=$(realpath "$1")
: "${CRIER_TEST_POSTGRES_URL:?run this inside .ci/postgres.sh}"
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
N=${N:-100000}
CONCURRENCY=${CONCURRENCY:-8}
CASES=${CASES:-"sqlite 1 3"}
SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
TICK=$(getconf CLK_TCK)
pg_ticks() { # CPU ticks of every process of the cluster
    local total=0 pid
    for pid in $(pgrep -x postgres); do
        [ -r "/proc/$pid/stat" ] || continue
        total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
    done
    echo "$total"
}

WORK=$(mktemp -d /tmp/crier-mi-bench.XXXXXX); chmod 755 "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2> /dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir "$WORK/articles"
cp "$REPO"/tests/fixtures/valid/*.txt "$REPO"/tests/fixtures/valid/*.md "$WORK/articles/"
cp "$REPO/subscribers/audiences.toml" "$WORK/audiences.toml"
python3 - "$WORK/subscribers.csv" "$N" <<'PY'
import sys
with open(sys.argv[1], "w") as out:
    out.write("email,name,audiences,frequency,timezone\n")
    for n in range(int(sys.argv[2])):
        out.write(f"reader{n}@example.org,Reader {n},security;hr,weekly,UTC\n")
PY

run_case() { # run_case INSTANCES|sqlite
    local k=$1 db="bench_${1}_$$" port url state
    if [ "$k" = sqlite ]; then
        url="sqlite://$WORK/sqlite.db"
    else
        psql -q "$CRIER_TEST_POSTGRES_URL" -c "CREATE DATABASE $db" > /dev/null
        url="${CRIER_TEST_POSTGRES_URL%/*}/$db"
    fi
    local dump="$WORK/dump$k"; mkdir "$dump"; chown nobody "$dump"
    port=$(free_port)
    "$SINK" -u nobody -d "$dump/%H%M%S." "127.0.0.1:$port" 512 & PIDS+=($!)
    local instances=$k
    [ "$k" = sqlite ] && instances=1
    for i in $(seq 1 "$instances"); do
        mkdir -p "$WORK/state$k-$i"
        state="state_dir = \"$WORK/state$k-$i\""
        [ "$k" = sqlite ] && state=""
        cat > "$WORK/crier$k-$i.toml" <<TOML
[site]
title = "Bench"
base_url = "https://news.example.test/"
[store]
path = "$WORK/articles"
audiences = "$WORK/audiences.toml"
[http]
listen = "127.0.0.1:$(free_port)"
[database]
url = "$url"
$state
[email]
from = "Bench <digest@news.example.test>"
[delivery]
smtp_url = "smtp://127.0.0.1:$port"
concurrency = $CONCURRENCY
[[digest]]
name = "weekly"
cron = "* * * * *"
lookback_days = 3650
TOML
    done
    local t0 t1
    t0=$(date +%s.%N)
    "$CRIER" --config "$WORK/crier$k-1.toml" subscribers import "$WORK/subscribers.csv" --active > /dev/null 2>&1
    t1=$(date +%s.%N)
    echo "IMPORT instances=$k rows=$N seconds=$(echo "$t1 - $t0" | bc)"
    local before start end after count
    before=$(pg_ticks)
    for i in $(seq 1 "$instances"); do
        "$CRIER" --config "$WORK/crier$k-$i.toml" serve 2> "$WORK/serve$k-$i.log" & PIDS+=($!)
    done
    until [ "$(find "$dump" -type f | head -n 1 | wc -l)" = 1 ]; do sleep 0.05; done
    start=$(date +%s.%N)
    while :; do
        count=$(find "$dump" -type f | wc -l)
        [ "$count" -ge "$N" ] && break
        sleep 0.2
    done
    end=$(date +%s.%N)
    after=$(pg_ticks)
    local secs; secs=$(echo "$end - $start" | bc)
    echo "SEND instances=$k messages=$count seconds=$secs msgs_per_s=$(echo "$N / $secs" | bc) \
pg_cpu_us_per_msg=$(echo "($after - $before) * 1000000 / $TICK / $N" | bc)"
    for p in $(pgrep -f "crier --config $WORK/crier$k-"); do kill "$p" 2> /dev/null || true; done
    sleep 1
    cp "$(find "$dump" -type f | head -n 1)" "$WORK/sample.eml"
    rm -rf "$dump"
}

for k in $CASES; do run_case "$k"; done

# The reference: smtp-source sending a digest crier sent (as the sink saved it) N
# times into a sink like the ones above, with CONCURRENCY × 3 sessions.
dump="$WORK/dumpref"; mkdir "$dump"; chown nobody "$dump"
port=$(free_port)
"$SINK" -u nobody -d "$dump/%H%M%S." "127.0.0.1:$port" 512 & PIDS+=($!)
t0=$(date +%s.%N)
"$SOURCE" -d -s $((CONCURRENCY * 3)) -m "$N" -F "$WORK/sample.eml" "127.0.0.1:$port"
t1=$(date +%s.%N)
echo "SOURCE bytes=$(stat -c %s "$WORK/sample.eml") messages=$N seconds=$(echo "$t1 - $t0" | bc) msgs_per_s=$(echo "$N / ($t1 - $t0)" | bc)"
