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
# ROUNDS rounds are run one after the other, each of every case and the reference,
# and the medians printed at the end (MEDIAN lines).
#
# SINK_DELAY=S makes every sink (crier's and the reference's) wait S seconds before
# answering DATA (`smtp-sink -w`): a remote mail server that is slow to accept, where
# the rate is bounded by connections, not CPU. Each instance opens at most
# CONCURRENCY connections (as a provider's per-host connection limit would allow),
# so N instances on N hosts may hold N times the connections; that case shows
# whether instances add up on a machine too small to show it by CPU.
# Environment: N (100000), CONCURRENCY (8 an instance), CASES ("sqlite 1 3"),
# ROUNDS (3), SINK_DELAY (0: none).
set -euo pipefail
CRIER=$(realpath "$1")
: "${CRIER_TEST_POSTGRES_URL:?run this inside .ci/postgres.sh}"
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
N=${N:-100000}
CONCURRENCY=${CONCURRENCY:-8}
CASES=${CASES:-"sqlite 1 3"}
ROUNDS=${ROUNDS:-3}
SINK_DELAY=${SINK_DELAY:-0}
SINK_ARGS=()
[ "$SINK_DELAY" = 0 ] || SINK_ARGS=(-w "$SINK_DELAY")
SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
TICK=$(getconf CLK_TCK)
listening() { # waits until something accepts on 127.0.0.1:PORT
    local tries=0
    until (: < "/dev/tcp/127.0.0.1/$1") 2> /dev/null; do
        tries=$((tries + 1)); [ "$tries" -lt 100 ] || { echo "nothing listens on $1" >&2; exit 1; }
        sleep 0.05
    done
}
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
    local k=$1 db="bench_${1}_${ROUND}_$$" port url state
    if [ "$k" = sqlite ]; then
        rm -f "$WORK"/sqlite.db*
        url="sqlite://$WORK/sqlite.db"
    else
        psql -q "$CRIER_TEST_POSTGRES_URL" -c "CREATE DATABASE $db" > /dev/null
        url="${CRIER_TEST_POSTGRES_URL%/*}/$db"
    fi
    local dump="$WORK/dump$k"; mkdir "$dump"; chown nobody "$dump"
    port=$(free_port)
    "$SINK" "${SINK_ARGS[@]}" -u nobody -d "$dump/%H%M%S." "127.0.0.1:$port" 512 & PIDS+=($!)
    local sink=$!
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
    echo "IMPORT round=$ROUND instances=$k rows=$N seconds=$(echo "$t1 - $t0" | bc)"
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
    echo "SEND round=$ROUND instances=$k messages=$count seconds=$secs msgs_per_s=$(echo "$N / $secs" | bc) \
pg_cpu_us_per_msg=$(echo "($after - $before) * 1000000 / $TICK / $N" | bc)"
    for p in $(pgrep -f "crier --config $WORK/crier$k-"); do kill "$p" 2> /dev/null || true; done
    sleep 1
    cp "$(find "$dump" -type f | head -n 1)" "$WORK/sample.eml"
    kill "$sink" 2> /dev/null || true
    rm -rf "$dump"
}

# The reference: smtp-source sending a digest crier sent (as the sink saved it) N
# times into a sink like the ones above, over as many sessions as the most instances
# of the run have connections, each kept open from message to message (`-d`).
reference() {
    local k most=1 dump="$WORK/dumpref" port t0 t1 sink
    for k in $CASES; do [ "$k" != sqlite ] && [ "$k" -gt "$most" ] && most=$k; done
    mkdir "$dump"; chown nobody "$dump"
    port=$(free_port)
    "$SINK" "${SINK_ARGS[@]}" -u nobody -d "$dump/%H%M%S." "127.0.0.1:$port" 512 & PIDS+=($!)
    local sink=$!
    listening "$port"
    t0=$(date +%s.%N)
    "$SOURCE" -d -s $((CONCURRENCY * most)) -m "$N" -F "$WORK/sample.eml" "127.0.0.1:$port"
    t1=$(date +%s.%N)
    echo "SOURCE round=$ROUND sessions=$((CONCURRENCY * most)) bytes=$(stat -c %s "$WORK/sample.eml") messages=$N seconds=$(echo "$t1 - $t0" | bc) msgs_per_s=$(echo "$N / ($t1 - $t0)" | bc)"
    kill "$sink" 2> /dev/null || true
    rm -rf "$dump"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ROUND in $(seq 1 "$ROUNDS"); do
    for k in $CASES; do run_case "$k"; done
    reference
done > >(tee "$WORK/results.txt") 2>&1
sleep 1 # tee writes the last lines
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$WORK/results.txt" <<'PY'
import collections, re, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    kind = line.split(" ", 1)[0]
    if kind not in ("IMPORT", "SEND", "SOURCE"):
        continue
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    rows[(kind, f.get("instances", "ref"))].append(f)
for (kind, who), runs in sorted(rows.items()):
    keys = [k for k in ("seconds", "msgs_per_s", "pg_cpu_us_per_msg") if k in runs[0]]
    print(f"MEDIAN {kind} instances={who} runs={len(runs)} " + " ".join(
        f"{k}={statistics.median(float(r[k]) for r in runs):g}" for k in keys))
PY
