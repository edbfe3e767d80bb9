#!/usr/bin/env bash
# The fault test of several instances (issue #20): three `crier serve` on one
# PostgreSQL database, one digest run to $SUBSCRIBERS subscribers through Postfix's
# smtp-sink, and `kill -9` of two instances in the middle of it. Instance 2 never
# comes back: the others take over its claims when their leases run out. Instance 3
# is restarted at once under its name (`[database] instance`) and gives its own
# claims back on start. Every subscriber must get the digest; a subscriber who got it
# twice got it with the same Message-ID, and there are no more such than the killed
# instances' concurrency; and the run finishes without instance 2, within its leases.
# Run it inside .ci/postgres.sh, which starts the cluster and names it:
#   .ci/postgres.sh bash .ci/multi-instance.sh CRIER_BINARY
set -euo pipefail
CRIER="$1"
: "${CRIER_TEST_POSTGRES_URL:?run this inside .ci/postgres.sh}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
SUBSCRIBERS=${SUBSCRIBERS:-30000}
CONCURRENCY=4
LEASE=20

if ! command -v smtp-sink > /dev/null && [ ! -x /usr/sbin/smtp-sink ]; then
    echo "installing postfix for smtp-sink"
    apt-get update -qq
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix > /dev/null
fi
SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

DIR=$(mktemp -d); chmod 755 "$DIR"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2> /dev/null || true; done
    rm -rf "$DIR"
}
trap cleanup EXIT

DUMP="$DIR/dump"; mkdir "$DUMP"; chown nobody "$DUMP"
SINK_PORT=$(free_port)
"$SINK" -u nobody -d "$DUMP/%H%M%S." "127.0.0.1:$SINK_PORT" 256 &
PIDS+=($!)

mkdir "$DIR/articles"
cp "$REPO"/tests/fixtures/valid/*.txt "$REPO"/tests/fixtures/valid/*.md "$DIR/articles/"
cp "$REPO/subscribers/audiences.toml" "$DIR/audiences.toml"
config() { # config N PORT
    mkdir -p "$DIR/state$1"
    cat > "$DIR/crier$1.toml" <<TOML
[site]
title = "Fault News"
base_url = "https://news.example.test/"
[store]
path = "articles"
audiences = "audiences.toml"
[http]
listen = "127.0.0.1:$2"
[database]
url = "$CRIER_TEST_POSTGRES_URL"
state_dir = "state$1"
instance = "fault-$1"
[email]
from = "Fault News <digest@news.example.test>"
[delivery]
smtp_url = "smtp://127.0.0.1:$SINK_PORT"
concurrency = $CONCURRENCY
lease_seconds = $LEASE
[[digest]]
name = "weekly"
cron = "* * * * *"
lookback_days = 3650
TOML
}
for n in 1 2 3; do config "$n" "$(free_port)"; done

python3 - "$DIR/subscribers.csv" "$SUBSCRIBERS" <<'PY'
import sys
with open(sys.argv[1], "w") as out:
    out.write("email,name,audiences,frequency,timezone\n")
    for n in range(int(sys.argv[2])):
        out.write(f"reader{n}@example.org,Reader {n},security;hr,weekly,Europe/London\n")
PY
"$CRIER" --config "$DIR/crier1.toml" subscribers import "$DIR/subscribers.csv" --active > /dev/null

count() { find "$DUMP" -type f | wc -l; }
started=$(date +%s)
for n in 1 2 3; do
    "$CRIER" --config "$DIR/crier$n.toml" serve 2> "$DIR/serve$n.log" &
    PIDS+=($!)
done
VICTIM=${PIDS[2]} # crier 2
# Kill one instance once a tenth of the run is out.
until [ "$(count)" -ge $((SUBSCRIBERS / 10)) ]; do
    kill -0 "$VICTIM" || { tail -n 20 "$DIR/serve2.log"; echo "crier 2 died on its own"; exit 1; }
    [ $(($(date +%s) - started)) -lt 600 ] || { tail -n 20 "$DIR"/serve*.log; echo "the run did not start"; exit 1; }
    sleep 0.2
done
kill -9 "$VICTIM"
killed_at=$(date +%s)
echo "killed crier 2 with $(count) messages in the sink"

# Then crier 3, restarted at once under its name.
until [ "$(count)" -ge $((SUBSCRIBERS * 3 / 10)) ]; do
    [ $(($(date +%s) - killed_at)) -lt 300 ] || { tail -n 20 "$DIR"/serve*.log; echo "the run stalled"; exit 1; }
    sleep 0.2
done
kill -9 "${PIDS[3]}"
echo "killed crier 3 with $(count) messages in the sink; restarting it as fault-3"
"$CRIER" --config "$DIR/crier3.toml" serve 2> "$DIR/serve3b.log" &
PIDS+=($!)

# The other two finish without it: every subscriber within its leases and some slack.
deadline=$((killed_at + LEASE + 300))
until [ "$(count)" -ge "$SUBSCRIBERS" ] && python3 - "$DUMP" "$SUBSCRIBERS" <<'PY'
import pathlib, re, sys
seen = set()
for path in pathlib.Path(sys.argv[1]).iterdir():
    head = path.read_bytes()[:4096]
    m = re.search(rb"^To:[^\r\n]*?([\w.+-]+@[\w.-]+)", head, re.M)
    if m:
        seen.add(m.group(1))
sys.exit(0 if len(seen) >= int(sys.argv[2]) else 1)
PY
do
    [ "$(date +%s)" -lt "$deadline" ] || { tail -n 20 "$DIR/serve1.log" "$DIR/serve3b.log"; echo "only $(count) messages by the deadline"; exit 1; }
    sleep 2
done
finished=$(date +%s)
sleep 3 # let any late duplicate land before counting

python3 - "$DUMP" "$SUBSCRIBERS" "$((2 * CONCURRENCY))" <<'PY'
import collections, pathlib, re, sys
dump, expected, concurrency = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
by_recipient = collections.defaultdict(list)
for path in dump.iterdir():
    head = path.read_bytes()[:8192]
    to = re.search(rb"^To:[^\r\n]*?([\w.+-]+@[\w.-]+)", head, re.M)
    mid = re.search(rb"^Message-ID: (<[^>]+>)", head, re.M | re.I)
    assert to and mid, path
    by_recipient[to.group(1).decode()].append(mid.group(1).decode())
assert len(by_recipient) == expected, f"{len(by_recipient)} of {expected} subscribers got the digest"
twice = {r: ids for r, ids in by_recipient.items() if len(ids) > 1}
for recipient, ids in twice.items():
    assert len(set(ids)) == 1, f"{recipient} got different Message-IDs: {ids}"
    assert len(ids) == 2, f"{recipient} got it {len(ids)} times"
assert len(twice) <= concurrency, f"{len(twice)} subscribers got it twice (concurrency {concurrency})"
total = sum(len(ids) for ids in by_recipient.values())
print(f"multi-instance: {expected} subscribers, {total} messages, {len(twice)} sent twice "
      f"(same Message-ID; at most {concurrency}, two instances killed), none missing")
PY
echo "the run finished $((finished - killed_at)) s after the first kill (lease $LEASE s)"
released=$(grep "queued again" "$DIR/serve3b.log" | grep -o "messages=[0-9]*" | head -n 1 | cut -d= -f2 || true)
[ -n "$released" ] && [ "$released" -gt 0 ] || { tail -n 20 "$DIR/serve3b.log"; echo "restarted crier 3 gave back no claims"; exit 1; }
echo "restarted crier 3 (fault-3) gave back its $released claims at start, without waiting for their leases"
planners=$(grep -l "digest planned digest=weekly queued=$SUBSCRIBERS " "$DIR"/serve*.log | wc -l)
[ "$planners" = 1 ] || { echo "$planners instances planned the run"; exit 1; }
echo "one instance planned the run; $(grep -l "planned by another instance" "$DIR"/serve*.log | wc -l) found it planned"
