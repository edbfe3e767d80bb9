#!/usr/bin/env bash
# Benchmark: `crier digest send` of a weekly digest to 100,000 subscribers over 20
# audiences, into Postfix's smtp-sink on loopback, beside smtp-source pushing the same
# number of same-sized messages into the same sink.
#
# What it does, in one run of the script:
#   1. builds the release binary (honours CARGO_TARGET_DIR; the binary is found through
#      `cargo metadata`'s target_directory),
#   2. generates the article store (../shared/corpus/gen_articles.py, 2,000 articles,
#      seed 7, its audiences.toml with 20 audiences as the taxonomy) and a deterministic
#      CSV of N subscribers (default 100,000), each in 1-4 of the 20 audiences, all
#      weekly, all in UTC,
#   3. starts one smtp-sink on a free loopback port (it lives for the whole script),
#   4. captures real digests: a small site (the first CAPTURE rows of the CSV) sends
#      through a second, dumping smtp-sink; the message of median size becomes the
#      file smtp-source sends (-F),
#   5. RUNS times (default 3), alternating:
#        crier         fresh folder + database, `subscribers import --active`, then
#                      `/usr/bin/time -v crier digest send --digest weekly`, its output
#                      lines timestamped (planning + queueing vs delivery) together with
#                      the peak RSS so far (VmHWM) when each line appears
#        smtp-source   `/usr/bin/time -v smtp-source -d -s CONCURRENCY -m N -F msg.eml`
#      Every run is checked: crier must print "N sent, 0 deferred for a retry, 0 failed",
#      `crier deliveries` must count N sent, and the sink's message counter must grow by
#      exactly N (for smtp-source too), or the script stops with an error.
#   6. prints a table of medians and machine-readable lines:
#        BENCH case=<crier|smtp_source> run=<i> seconds=<s> msgs_per_s=<r> ...
#        RESULT case=<name> median_s=<s> median_msgs_per_s=<r> max_rss_kb=<kb> runs=<n>
#        RATIO crier_vs_smtp_source=<x> (medians of messages per second)
#        MESSAGE bytes=<wire size of the smtp-source message> ...
#
# Usage: benches/scripts/digest_bench.sh
# Time: about 6 minutes for the default three runs at commit 2f306c9 (one crier run of
# 100,000 takes about 40 s; it took 15-17 minutes at commit 1568833). For a quick look:
# N=10000 RUNS=1.
# Environment: N (subscribers, default 100000), RUNS (default 3), CONCURRENCY (default 8,
#   crier's [delivery] concurrency and smtp-source's -s), ARTICLES (default 2000),
#   CAPTURE (subscribers of the capture run, default 200), KEEP=1 keeps the temp folder,
#   CARGO_TARGET_DIR, SKIP_BUILD=1 (use the existing binary), CRIER_SHARED (the shared
#   folder, default ../shared beside the repository).
set -euo pipefail

N=${N:-100000}
RUNS=${RUNS:-3}
CONCURRENCY=${CONCURRENCY:-8}
ARTICLES=${ARTICLES:-2000}
CAPTURE=${CAPTURE:-200}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${CRIER_SHARED:-$ROOT/../shared}
GEN="$SHARED/corpus/gen_articles.py"

die() { echo "digest_bench: FAIL: $*" >&2; exit 1; }
note() { echo "digest_bench: $*" >&2; }

# --- tools ---------------------------------------------------------------------------
# shellcheck source=benches/scripts/lib.sh
. "$ROOT/benches/scripts/lib.sh"
[ -x /usr/bin/time ] || need_apt time
[ -x /usr/sbin/smtp-sink ] && [ -x /usr/sbin/smtp-source ] || need_apt postfix
command -v python3 >/dev/null || die "python3 is missing"
[ -f "$GEN" ] || die "no article generator at $GEN (set CRIER_SHARED)"
SOURCE=/usr/sbin/smtp-source
SINK_USER=()
[ "$(id -u)" = 0 ] && SINK_USER=(-u nobody)

# --- 1. build --------------------------------------------------------------------------
release_binary "$ROOT"

WORK=$(mktemp -d /tmp/crier-digest-bench.XXXXXX)
chmod 755 "$WORK" # smtp-sink runs as nobody and writes its capture dumps in here
# The sink runs from a copy with a name of its own, so that a `pkill smtp-sink` elsewhere
# on a shared machine does not end it in the middle of a run.
SINK="$WORK/digest-bench-sink"
cp /usr/sbin/smtp-sink "$SINK"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then note "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_sink OUTFILE PORT [EXTRA ARGS...]: a sink on 127.0.0.1:PORT; sets SINK_PID.
start_sink() {
    local out=$1 port=$2
    shift 2
    "$SINK" "${SINK_USER[@]}" -c "$@" "127.0.0.1:$port" 256 >"$out" 2>&1 &
    SINK_PID=$!
    PIDS+=("$SINK_PID")
    local i
    for i in $(seq 1 50); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "smtp-sink did not start on port $port: $(cat "$out")"
}

# sink_count OUTFILE: the sink's message counter (the last "mesg=N" it printed).
sink_count() {
    local n
    n=$(tr '\r' '\n' <"$1" | sed -nE 's/.*mesg=([0-9]+).*/\1/p' | tail -n1)
    echo "${n:-0}"
}

# cpu_ticks PID: user + system CPU time of a process, in clock ticks.
cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# sink_alive WHEN: stops the script if the main sink has died.
sink_alive() {
    kill -0 "$MAIN_SINK" 2>/dev/null ||
        die "smtp-sink (pid $MAIN_SINK) is gone $1; its last counter: $(tr '\r' '\n' <"$SINK_OUT" | tail -n1)"
}

# stamp.py MARKER: copies stdin to stdout, each line prefixed with the Unix time, and
# with the VmHWM (peak RSS so far, kB) of the process whose command line holds MARKER.
STAMP="$WORK/stamp.py"
cat >"$STAMP" <<'PY'
import os, sys, time
marker = sys.argv[1].encode()
def hwm():
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
            if marker in cmd and not cmd.startswith(b"/usr/bin/time") and b"stamp.py" not in cmd:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmHWM:"):
                        return line.split()[1]
        except OSError:
            pass
    return "0"
for line in sys.stdin:
    now = time.time()
    sys.stdout.write(f"{now:.6f} hwm_kb={hwm()} {line}")
    sys.stdout.flush()
PY
TICKS=$(getconf CLK_TCK)

# --- 2. data ---------------------------------------------------------------------------
CORPUS="$WORK/corpus"
note "generating $ARTICLES articles"
python3 "$GEN" "$CORPUS" --count "$ARTICLES" --seed 7 >/dev/null
[ -d "$CORPUS/articles" ] && [ -f "$CORPUS/audiences.toml" ] || die "the generator wrote no articles/audiences.toml"

CSV="$WORK/subscribers-$N.csv"
python3 - "$CORPUS/audiences.toml" "$N" "$CSV" <<'PY'
import random, re, sys
taxonomy, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
slugs = re.findall(r'^slug\s*=\s*"([^"]+)"', open(taxonomy).read(), re.M)
assert len(slugs) == 20, slugs
rng = random.Random(20261126)  # fixed seed: the same file every time
first = ["Ada", "Bea", "Carl", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jun",
         "Kofi", "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq"]
last = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Byrne", "Haddad",
        "Kowalski", "Nguyen", "Schmidt", "Oneil", "Garcia", "Ivanova", "Mensah", "Rossi"]
with open(out, "w", newline="") as f:
    f.write("email,name,audiences,frequency,timezone\n")
    for i in range(1, n + 1):
        name = f"{rng.choice(first)} {rng.choice(last)}" if i % 10 else ""  # 10% without a name
        audiences = ";".join(rng.sample(slugs, rng.randint(1, 4)))
        f.write(f"user{i:06d}@example.org,{name},{audiences},weekly,UTC\n")
PY
SETS=$(python3 -c "
import csv, sys
rows = list(csv.DictReader(open('$CSV')))
print(len({frozenset(r['audiences'].split(';')) for r in rows}))")
note "generated $CSV ($(du -h "$CSV" | cut -f1), $SETS distinct audience sets)"

# fresh_site DIR PORT: a config, the corpus as the store, an empty database.
fresh_site() {
    local dir=$1 port=$2
    rm -rf "$dir"
    mkdir -p "$dir"
    cat >"$dir/crier.toml" <<EOF
[site]
base_url = "https://news.example.test/"

[store]
path = "$CORPUS/articles"
audiences = "$CORPUS/audiences.toml"

[database]
url = "sqlite://crier.db"

[security]
secret = "digest-bench-secret-0123456789abcdef0123456789"

[email]
from = "Bench <bench@news.example.test>"

[delivery]
smtp_url = "smtp://127.0.0.1:$port"
concurrency = $CONCURRENCY
rate_per_second = 0

[[digest]]
name = "weekly"
cron = "0 7 * * 1"
lookback_days = 3650
EOF
}

# import_into DIR CSV ROWS: imports every row as active, checks the summary.
import_into() {
    local dir=$1 csv=$2 rows=$3
    "$CRIER" --config "$dir/crier.toml" subscribers import --active "$csv" >"$dir/import.out" 2>"$dir/import.err" ||
        die "import into $dir failed: $(head -n5 "$dir/import.err")"
    grep -qE "^$rows rows: $rows added, 0 updated, 0 with errors" "$dir/import.out" ||
        die "unexpected import summary: $(cat "$dir/import.out")"
}

# --- 3. the sink -----------------------------------------------------------------------
PORT=$(free_port)
SINK_OUT="$WORK/sink.out"
start_sink "$SINK_OUT" "$PORT"
MAIN_SINK=$SINK_PID
note "smtp-sink (pid $MAIN_SINK) on 127.0.0.1:$PORT"

# --- 4. capture real digests for smtp-source's message ---------------------------------
CAP="$WORK/capture"
mkdir -p "$CAP/dump"
chmod 1777 "$CAP/dump"
CAP_PORT=$(free_port)
start_sink "$CAP/sink.out" "$CAP_PORT" -d "$CAP/dump/msg."
CAP_SINK=$SINK_PID
head -n $((CAPTURE + 1)) "$CSV" >"$CAP/subscribers.csv"
fresh_site "$CAP/site" "$CAP_PORT"
import_into "$CAP/site" "$CAP/subscribers.csv" "$CAPTURE"
"$CRIER" --config "$CAP/site/crier.toml" digest send --digest weekly >"$CAP/send.out" 2>"$CAP/send.err" ||
    die "the capture run failed: $(cat "$CAP/send.out") $(head -n5 "$CAP/send.err")"
grep -q "^$CAPTURE sent, 0 deferred for a retry, 0 failed" "$CAP/send.out" ||
    die "the capture run: $(cat "$CAP/send.out")"
[ "$(sink_count "$CAP/sink.out")" = "$CAPTURE" ] || die "the capture sink counted $(sink_count "$CAP/sink.out"), not $CAPTURE"
kill "$CAP_SINK"
# Strip smtp-sink's own header lines (up to the 3-line Received header) and the empty
# line it appends; keep the message of median wire size (CRLF line ends).
MSG="$WORK/digest-message.eml"
read -r MSG_BYTES MSG_MIN MSG_MAX MSG_MEAN MSG_LINES < <(python3 - "$CAP/dump" "$MSG" <<'PY'
import os, statistics, sys
folder, out = sys.argv[1], sys.argv[2]
messages = []
for name in sorted(os.listdir(folder)):
    lines = open(os.path.join(folder, name), "rb").read().split(b"\n")
    i = next(k for k, l in enumerate(lines) if l.startswith(b"Received: from "))
    body = lines[i + 3:]
    while body and body[-1] == b"":
        body.pop()
    assert body and body[-1] != b"", name
    wire = sum(len(l) + 2 for l in body)  # each line ends in CRLF on the wire
    messages.append((wire, body))
messages.sort(key=lambda m: m[0])
wire, body = messages[len(messages) // 2]
open(out, "wb").write(b"\n".join(body) + b"\n")
sizes = [m[0] for m in messages]
print(wire, sizes[0], sizes[-1], round(statistics.mean(sizes)), len(body))
PY
)
note "captured $(ls "$CAP/dump" | wc -l) digests: wire size median $MSG_BYTES bytes (min $MSG_MIN, max $MSG_MAX, mean $MSG_MEAN); smtp-source sends the median one ($MSG_LINES lines)"

# --- 5. the runs -----------------------------------------------------------------------
declare -A SECS RATE RSS CPU SINKCPU
record() { # record CASE RUN SECONDS RATE RSS_KB CPU_S SINK_CPU_S [EXTRA]
    SECS[$1]="${SECS[$1]:-} $3"
    RATE[$1]="${RATE[$1]:-} $4"
    CPU[$1]="${CPU[$1]:-} $6"
    SINKCPU[$1]="${SINKCPU[$1]:-} $7"
    if [ "$5" -gt "${RSS[$1]:-0}" ]; then RSS[$1]=$5; fi
    echo "BENCH case=$1 run=$2 seconds=$3 msgs_per_s=$4 max_rss_kb=$5 cpu_s=$6 sink_cpu_s=$7 ${8:-}"
}
time_field() { # time_field FILE LABEL
    awk -F': ' -v l="$2" '$1 ~ l {print $2}' "$1" | head -n1
}
cpu_of() { # cpu_of TIMEFILE: user + system seconds
    python3 -c "print(round($(time_field "$1" 'User time') + $(time_field "$1" 'System time'), 2))"
}

for run in $(seq 1 "$RUNS"); do
    # --- crier ---
    site="$WORK/run-$run"
    fresh_site "$site" "$PORT"
    note "run $run: importing $N subscribers"
    import_into "$site" "$CSV" "$N"
    before=$(sink_count "$SINK_OUT")
    sink_before=$(cpu_ticks "$MAIN_SINK")
    note "run $run: crier digest send (load $(cut -d' ' -f1 /proc/loadavg))"
    start=$(date +%s.%N)
    rc=0
    /usr/bin/time -v -o "$site/send.time" "$CRIER" --config "$site/crier.toml" digest send --digest weekly \
        2>"$site/send.err" | python3 "$STAMP" "$site/crier.toml" >"$site/send.out" || rc=$?
    end=$(date +%s.%N)
    sink_after=$(cpu_ticks "$MAIN_SINK")
    sleep 0.2 # let the sink print its last counter
    after=$(sink_count "$SINK_OUT")
    sink_alive "after crier run $run"
    [ "$rc" = 0 ] || die "crier digest send exited $rc: $(cat "$site/send.out") $(tail -n5 "$site/send.err")"
    grep -qE " weekly: $N digests queued \([0-9]+ distinct contents\), 0 with nothing new$" "$site/send.out" ||
        die "unexpected queue line: $(cat "$site/send.out")"
    grep -qE " $N sent, 0 deferred for a retry, 0 failed$" "$site/send.out" ||
        die "unexpected delivery line: $(cat "$site/send.out") $(tail -n5 "$site/send.err")"
    [ $((after - before)) = "$N" ] || die "the sink counted $((after - before)) messages, crier says $N"
    sent=$("$CRIER" --config "$site/crier.toml" deliveries --limit 0 | sed -nE 's/^queued ([0-9]+), sending ([0-9]+), sent ([0-9]+), failed ([0-9]+)$/\1 \2 \3 \4/p')
    [ "$sent" = "0 0 $N 0" ] || die "crier deliveries says queued/sending/sent/failed = $sent"
    contents=$(sed -nE 's/.*digests queued \(([0-9]+) distinct contents\).*/\1/p' "$site/send.out")
    queued_at=$(awk '/digests queued/ {print $1; exit}' "$site/send.out")
    plan_hwm=$(awk '/digests queued/ {sub("hwm_kb=", "", $2); print $2; exit}' "$site/send.out")
    sent_at=$(awk '/ sent, / {print $1; exit}' "$site/send.out")
    read -r secs rate plan_s deliver_s deliver_rate < <(python3 -c "
s, e, q, d, n = $start, $end, $queued_at, $sent_at, $N
print(f'{e - s:.3f} {n / (e - s):.0f} {q - s:.3f} {d - q:.3f} {n / (d - q):.0f}')")
    rss=$(time_field "$site/send.time" 'Maximum resident set size')
    record crier "$run" "$secs" "$rate" "$rss" "$(cpu_of "$site/send.time")" \
        "$(python3 -c "print(round(($sink_after - $sink_before) / $TICKS, 2))")" \
        "plan_queue_s=$plan_s plan_queue_max_rss_kb=$plan_hwm deliver_s=$deliver_s deliver_msgs_per_s=$deliver_rate contents=$contents sink_count=$((after - before))"
    PLAN_S="${PLAN_S:-} $plan_s"
    PLAN_HWM="${PLAN_HWM:-} $plan_hwm"
    DELIVER_S="${DELIVER_S:-} $deliver_s"
    DELIVER_RATE="${DELIVER_RATE:-} $deliver_rate"
    if [ "${KEEP:-0}" != 1 ]; then rm -f "$site/crier.db" "$site/crier.db-wal" "$site/crier.db-shm"; fi

    # --- smtp-source, same sink, same number of messages of the same size ---
    before=$(sink_count "$SINK_OUT")
    sink_before=$(cpu_ticks "$MAIN_SINK")
    note "run $run: smtp-source -s $CONCURRENCY -m $N (load $(cut -d' ' -f1 /proc/loadavg))"
    start=$(date +%s.%N)
    rc=0
    /usr/bin/time -v -o "$WORK/source-$run.time" "$SOURCE" -d -s "$CONCURRENCY" -m "$N" -F "$MSG" \
        -f bench@news.example.test -t reader@example.org "127.0.0.1:$PORT" \
        >"$WORK/source-$run.out" 2>&1 || rc=$?
    end=$(date +%s.%N)
    sink_after=$(cpu_ticks "$MAIN_SINK")
    sleep 0.2
    after=$(sink_count "$SINK_OUT")
    sink_alive "after smtp-source run $run"
    [ "$rc" = 0 ] || die "smtp-source exited $rc: $(tail -n5 "$WORK/source-$run.out")"
    [ $((after - before)) = "$N" ] || die "the sink counted $((after - before)) messages from smtp-source, not $N"
    read -r secs rate < <(python3 -c "s, e, n = $start, $end, $N; print(f'{e - s:.3f} {n / (e - s):.0f}')")
    record smtp_source "$run" "$secs" "$rate" "$(time_field "$WORK/source-$run.time" 'Maximum resident set size')" \
        "$(cpu_of "$WORK/source-$run.time")" "$(python3 -c "print(round(($sink_after - $sink_before) / $TICKS, 2))")" \
        "sink_count=$((after - before))"
done

# --- 6. report -------------------------------------------------------------------------
python3 - <<PY
import statistics as st
def nums(s): return [float(x) for x in s.split()]
cases = {
    "crier": dict(secs=nums("${SECS[crier]}"), rate=nums("${RATE[crier]}"), cpu=nums("${CPU[crier]}"),
                  sink=nums("${SINKCPU[crier]}"), rss=int("${RSS[crier]}")),
    "smtp_source": dict(secs=nums("${SECS[smtp_source]}"), rate=nums("${RATE[smtp_source]}"),
                        cpu=nums("${CPU[smtp_source]}"), sink=nums("${SINKCPU[smtp_source]}"),
                        rss=int("${RSS[smtp_source]}")),
}
plan, deliver, drate = nums("${PLAN_S}"), nums("${DELIVER_S}"), nums("${DELIVER_RATE}")
plan_hwm = max(nums("${PLAN_HWM}"))
print()
print(f"{'case':<12} {'median s':>9} {'msgs/s (median)':>16} {'runs msgs/s':<22} {'CPU s':>6} {'sink CPU s':>10} {'peak RSS MiB':>12}")
for name, c in cases.items():
    runs = " ".join(f"{r:.0f}" for r in c["rate"])
    print(f"{name:<12} {st.median(c['secs']):>9.2f} {st.median(c['rate']):>16.0f} {runs:<22} "
          f"{st.median(c['cpu']):>6.2f} {st.median(c['sink']):>10.2f} {c['rss']/1024:>12.1f}")
print(f"crier phases (median): plan + queue {st.median(plan):.2f} s, delivery {st.median(deliver):.2f} s "
      f"({st.median(drate):.0f} msgs/s while delivering); peak RSS by the end of queueing {plan_hwm/1024:.1f} MiB")
ratio = st.median(cases["crier"]["rate"]) / st.median(cases["smtp_source"]["rate"])
dratio = st.median(drate) / st.median(cases["smtp_source"]["rate"])
print(f"crier / smtp-source: {ratio:.2f} end to end, {dratio:.2f} delivery phase only")
print()
for name, c in cases.items():
    print(f"RESULT case={name} median_s={st.median(c['secs']):.3f} median_msgs_per_s={st.median(c['rate']):.0f} "
          f"median_cpu_s={st.median(c['cpu']):.2f} median_sink_cpu_s={st.median(c['sink']):.2f} max_rss_kb={c['rss']} runs={len(c['secs'])}")
print(f"RESULT case=crier_phases median_plan_queue_s={st.median(plan):.3f} median_deliver_s={st.median(deliver):.3f} "
      f"median_deliver_msgs_per_s={st.median(drate):.0f} plan_queue_max_rss_kb={plan_hwm:.0f}")
print(f"RATIO crier_vs_smtp_source={ratio:.3f} delivery_only={dratio:.3f}")
print(f"TARGET rate_ge_60pct={'met' if ratio >= 0.6 else 'missed'} "
      f"peak_rss_lt_150MB={'met' if cases['crier']['rss'] * 1024 < 150e6 else 'missed'}")
PY
echo "MESSAGE bytes=$MSG_BYTES captured=$CAPTURE min=$MSG_MIN max=$MSG_MAX mean=$MSG_MEAN"
echo "MACHINE nproc=$(nproc) cpu=\"$(lscpu | sed -nE 's/^Model name:[[:space:]]+//p' | head -n1)\" date=$(date -u +%Y-%m-%dT%H:%M:%SZ) subscribers=$N audience_sets=$SETS articles=$ARTICLES concurrency=$CONCURRENCY runs=$RUNS postfix=$(dpkg-query -W -f='${Version}' postfix 2>/dev/null || echo '?') commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') tree_changes=$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | wc -l)"
