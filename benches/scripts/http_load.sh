#!/usr/bin/env bash
# HTTP load on the site feed: `crier serve` against nginx serving the same bytes from a
# file, both on loopback, measured with wrk in the same run.
#
#   benches/scripts/http_load.sh            # from the repository root
#
# 1. Uses the corpus of `cargo bench --bench site` (target/bench-corpus/site-$N,
#    generated if missing); at 10,000 articles `/feed.xml` (50 entries) is ~145 KB.
# 2. Starts `crier serve` on 127.0.0.1:<free port> and waits for "listening on".
# 3. Copies crier's `/feed.xml` bytes into a folder and serves it with nginx set up as it
#    is deployed for static files: one server on 127.0.0.1:<free port>, that folder as
#    root, `sendfile on; tcp_nopush on; keepalive_requests 100000; etag on`, access_log
#    off, worker_processes 2, daemon off, pid and temp paths in a temporary folder.
# 4. Runs `wrk -t2 -c64 -d10s` against both: the 200 case (no validators) and the 304
#    case (`If-None-Match` with each server's own ETag), $ROUNDS rounds, alternating
#    servers, and prints requests/s medians and the crier/nginx ratios (also in
#    $WORK/http-results.txt), and each server's CPU time per request (from
#    /proc/PID/stat before and after each run), steadier than requests/s on a busy
#    machine. Both servers are stopped on exit.
#
# Environment: N (10000), ROUNDS (3), DURATION (10s), CONNECTIONS (64), THREADS (2),
# CRIER_BIN (default $CARGO_TARGET_DIR or target, then release/crier; built with
# `cargo build --release` when missing), WORK (target/bench-http), CRIER_SHARED.
# Needs: nginx, wrk, curl (apt-get install -y nginx wrk curl), python3.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=${N:-10000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
SEED=7
SHARED=${CRIER_SHARED:-$REPO/../shared}
CORPUS=$REPO/target/bench-corpus/site-$N
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
CRIER=${CRIER_BIN:-$TARGET_DIR/release/crier}
WORK=${WORK:-$REPO/target/bench-http}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

die() { echo "http_load: $*" >&2; exit 1; }
[ -x "$NGINX" ] || die "nginx is missing (apt-get install -y nginx)"
command -v wrk >/dev/null || die "wrk is missing (apt-get install -y wrk)"
command -v curl >/dev/null || die "curl is missing (apt-get install -y curl)"

# The corpus, shared with benches/site.rs (same marker).
# shellcheck source=benches/scripts/lib.sh
. "$REPO/benches/scripts/lib.sh"
site_corpus "$CORPUS" "$N" "$SEED" "$SHARED"
if [ ! -x "$CRIER" ]; then
    (cd "$REPO" && cargo build --release)
fi

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
TMP=$(mktemp -d /tmp/crier-http-load.XXXXXX)
chmod 755 "$TMP" # nginx workers run as an unprivileged user when started as root
CRIER_PID=""
NGINX_PID=""
cleanup() {
    for pid in $CRIER_PID $NGINX_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $CRIER_PID $NGINX_PID; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
CRIER_PORT=$(free_port)
NGINX_PORT=$(free_port)
[ "$CRIER_PORT" != "$NGINX_PORT" ] || NGINX_PORT=$(free_port)

# crier
cat > "$TMP/crier.toml" <<EOF
[site]
title = "crier bench"
base_url = "http://127.0.0.1:$CRIER_PORT/"
description = "Generated briefs for the site benchmark."
author = "The bench desk"
templates = "$TMP/no-templates"

[store]
path = "$CORPUS/articles"
audiences = "$CORPUS/audiences.toml"

[http]
listen = "127.0.0.1:$CRIER_PORT"

[feeds]
limit = 50

[database]
url = "sqlite://$TMP/crier.db"
EOF
"$CRIER" --config "$TMP/crier.toml" serve 2> "$TMP/crier.log" &
CRIER_PID=$!
for _ in $(seq 600); do
    grep -q "listening on http://" "$TMP/crier.log" 2>/dev/null && break
    kill -0 "$CRIER_PID" 2>/dev/null || { cat "$TMP/crier.log" >&2; die "crier serve exited"; }
    sleep 0.1
done
grep -q "listening on http://" "$TMP/crier.log" || die "crier serve did not start within 60 s"
CRIER_URL="http://127.0.0.1:$CRIER_PORT/feed.xml"

# The same bytes for nginx.
mkdir -p "$TMP/www"
curl -sSf -D "$TMP/crier.headers" -o "$TMP/www/feed.xml" "$CRIER_URL"
chmod 755 "$TMP/www"
chmod 644 "$TMP/www/feed.xml"
SIZE=$(stat -c %s "$TMP/www/feed.xml")
ITEMS=$(grep -o "<item>" "$TMP/www/feed.xml" | wc -l)
if [ "$SIZE" -lt 100000 ] || [ "$SIZE" -gt 200000 ]; then
    echo "warning: feed.xml is $SIZE bytes, outside 100-200 KB" >&2
fi

mkdir -p "$TMP/nginx"
cat > "$TMP/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    types {
        application/rss+xml xml;
    }
    default_type application/octet-stream;
    # Tuned as nginx is deployed for static files: the reference is the best nginx,
    # not a default one.
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    etag on;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $TMP/www;
    }
}
EOF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx.conf" 2> "$TMP/nginx/stderr.log" &
NGINX_PID=$!
NGINX_URL="http://127.0.0.1:$NGINX_PORT/feed.xml"
for _ in $(seq 100); do
    curl -sf -o /dev/null "$NGINX_URL" && break
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx/stderr.log" >&2; die "nginx exited"; }
    sleep 0.1
done
curl -sSf -D "$TMP/nginx.headers" -o "$TMP/nginx.body" "$NGINX_URL"
cmp -s "$TMP/nginx.body" "$TMP/www/feed.xml" || die "nginx does not send crier's bytes"

etag_of() { tr -d '\r' < "$1" | awk -F': ' 'tolower($1) == "etag" {print $2}'; }
CRIER_ETAG=$(etag_of "$TMP/crier.headers")
NGINX_ETAG=$(etag_of "$TMP/nginx.headers")
[ -n "$CRIER_ETAG" ] && [ -n "$NGINX_ETAG" ] || die "a server sent no ETag"
for pair in "$CRIER_URL $CRIER_ETAG" "$NGINX_URL $NGINX_ETAG"; do
    set -- $pair
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $2" "$1")
    [ "$code" = 304 ] || die "$1 answered $code to If-None-Match: $2"
    code=$(curl -s -o /dev/null -w '%{http_code}' "$1")
    [ "$code" = 200 ] || die "$1 answered $code"
done

# CPU time (user + system, clock ticks) of a server: crier's process (all threads), or
# nginx's master and workers.
TICK_US=$((1000000 / $(getconf CLK_TCK)))
server_ticks() {
    local pids=$1
    [ "$1" = "$NGINX_PID" ] && pids="$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"
    local total=0 pid
    for pid in $pids; do
        # Fields after "(comm)": utime is the 14th field of the line, stime the 15th.
        total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
    done
    echo "$total"
}

# bench NAME URL [ETAG]: one wrk run; appends requests/s to $TMP/NAME.rps and the
# server's CPU microseconds per request to $TMP/NAME.cpu
bench() {
    local name=$1 url=$2 etag=${3:-}
    local out=$TMP/$name.wrk
    local pid=$CRIER_PID
    [ "${name%%-*}" = nginx ] && pid=$NGINX_PID
    local before after
    before=$(server_ticks "$pid")
    local timed=()
    [ -x /usr/bin/time ] && timed=(/usr/bin/time -f "%U %S" -o "$TMP/$name.wrktime")
    if [ -n "$etag" ]; then
        "${timed[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -H "If-None-Match: $etag" "$url" > "$out"
    else
        "${timed[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$url" > "$out"
    fi
    if grep -qE "Non-2xx or 3xx|Socket errors" "$out"; then
        echo "note ($name): $(grep -E "Non-2xx or 3xx|Socket errors" "$out" | tr -s ' ')" >&2
    fi
    after=$(server_ticks "$pid")
    local rps requests cpu
    rps=$(awk '/Requests\/sec:/ {print $2}' "$out")
    requests=$(awk '/requests in/ {print $1}' "$out")
    cpu=$(echo "($after - $before) * $TICK_US / $requests" | bc -l)
    local client=nan
    if [ -f "$TMP/$name.wrktime" ]; then
        client=$(awk -v n="$requests" '{printf "%.2f", ($1 + $2) * 1000000 / n}' "$TMP/$name.wrktime")
    fi
    echo "$rps" >> "$TMP/$name.rps"
    echo "$cpu" >> "$TMP/$name.cpu"
    echo "$client" >> "$TMP/$name.client"
    printf '  %-12s %10.0f requests/s %8.1f us server CPU, %6.1f us wrk CPU per request\n' "$name" "$rps" "$cpu" "$client"
}

# One short warm-up each, not counted.
wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$CRIER_URL" > /dev/null
wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$NGINX_URL" > /dev/null
for round in $(seq "$ROUNDS"); do
    echo "round $round/$ROUNDS"
    bench crier-200 "$CRIER_URL"
    bench nginx-200 "$NGINX_URL"
    bench crier-304 "$CRIER_URL" "$CRIER_ETAG"
    bench nginx-304 "$NGINX_URL" "$NGINX_ETAG"
done

median() { sort -g "$1" | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
c200=$(median "$TMP/crier-200.rps"); n200=$(median "$TMP/nginx-200.rps")
c304=$(median "$TMP/crier-304.rps"); n304=$(median "$TMP/nginx-304.rps")
cc200=$(median "$TMP/crier-200.cpu"); nc200=$(median "$TMP/nginx-200.cpu")
cc304=$(median "$TMP/crier-304.cpu"); nc304=$(median "$TMP/nginx-304.cpu")
{
    echo "http_load: /feed.xml, $SIZE bytes, $ITEMS items; wrk -t$THREADS -c$CONNECTIONS -d$DURATION, median of $ROUNDS rounds, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "nginx: $("$NGINX" -v 2>&1 | head -1); $(wrk -v 2>&1 | head -1)"
    echo "ETags: crier $CRIER_ETAG, nginx $NGINX_ETAG"
    printf '%-26s %14s %14s %10s\n' "" "crier req/s" "nginx req/s" "crier/nginx"
    printf '%-26s %14.0f %14.0f %9.2fx\n' "200 (full body)" "$c200" "$n200" "$(echo "$c200/$n200" | bc -l)"
    printf '%-26s %14.0f %14.0f %9.2fx\n' "304 (If-None-Match)" "$c304" "$n304" "$(echo "$c304/$n304" | bc -l)"
    echo "server CPU per request (user + system of the server processes during the run / requests):"
    printf '%-26s %12.1f us %12.1f us %9.2fx\n' "200 (full body)" "$cc200" "$nc200" "$(echo "$cc200/$nc200" | bc -l)"
    printf '%-26s %12.1f us %12.1f us %9.2fx\n' "304 (If-None-Match)" "$cc304" "$nc304" "$(echo "$cc304/$nc304" | bc -l)"
    if [ -x /usr/bin/time ]; then
        echo "wrk's own CPU per request (the client shares the 2 cores with the server):"
        printf '%-26s %12.1f us %12.1f us\n' "200 (full body)" "$(median "$TMP/crier-200.client")" "$(median "$TMP/nginx-200.client")"
        printf '%-26s %12.1f us %12.1f us\n' "304 (If-None-Match)" "$(median "$TMP/crier-304.client")" "$(median "$TMP/nginx-304.client")"
    fi
    echo "rounds (requests/s | server CPU us per request | wrk CPU us per request):"
    for name in crier-200 nginx-200 crier-304 nginx-304; do
        echo "  $name: $(tr '\n' ' ' < "$TMP/$name.rps")| $(xargs printf '%.1f ' < "$TMP/$name.cpu")| $(tr '\n' ' ' < "$TMP/$name.client")"
    done
} | tee "$WORK/http-results.txt"
