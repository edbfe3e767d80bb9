#!/usr/bin/env bash
# Hugo as a reference for `crier build`: the same generated articles built by both,
# timed the same way in the same run.
#
#   benches/scripts/hugo_compare.sh            # from the repository root
#
# 1. Uses the corpus of `cargo bench --bench site` (target/bench-corpus/site-$N,
#    generated with ../shared/corpus/gen_articles.py --count $N --seed 7 if missing).
# 2. Converts it with hugo_site.py into a minimal Hugo site (content/*.md with title,
#    date, tags = audiences, categories = category; theme-less single/list layouts;
#    HTML + RSS for home, taxonomies and terms, 50 items per list and feed).
# 3. Times `hugo --quiet` and `crier --config … build --out …` alike: one warm-up, then
#    $RUNS timed runs each, alternating, each into a fresh output folder under
#    $OUT_BASE (`sync` run before the clock starts), under `/usr/bin/time -v` for
#    user/sys CPU and peak RSS. Output folders are removed only at the end: on an ext4
#    without a journal (as here) the inode allocator skips, at a cost, inodes freed in
#    the last minutes, so removing between runs would slow the next run down. For the
#    same reason the default $OUT_BASE is the temporary folder, not target/, where
#    cargo keeps replacing files (writing there cost crier 4x the system time).
# 4. Prints a table with medians and the Hugo/crier ratios, also kept in
#    $WORK/results.txt.
#
# Environment: N (10000), RUNS (3), CRIER_BIN (default $CARGO_TARGET_DIR or target,
# then release/crier; built with `cargo build --release` when missing), HUGO (hugo),
# WORK (target/bench-hugo), OUT_BASE (where outputs go, default ${TMPDIR:-/tmp}; e.g.
# /dev/shm for tmpfs), RESULTS (default $WORK/results.txt), CRIER_SHARED (../shared).
# Needs: hugo (apt-get install -y hugo), /usr/bin/time (apt-get install -y time), python3.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=${N:-10000}
RUNS=${RUNS:-3}
SEED=7
SHARED=${CRIER_SHARED:-$REPO/../shared}
CORPUS=$REPO/target/bench-corpus/site-$N
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
CRIER=${CRIER_BIN:-$TARGET_DIR/release/crier}
HUGO=${HUGO:-hugo}
WORK=${WORK:-$REPO/target/bench-hugo}

die() { echo "hugo_compare: $*" >&2; exit 1; }
command -v "$HUGO" >/dev/null || die "hugo is missing (apt-get install -y hugo)"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install -y time)"

# The corpus, shared with benches/site.rs (same marker).
# shellcheck source=benches/scripts/lib.sh
. "$REPO/benches/scripts/lib.sh"
site_corpus "$CORPUS" "$N" "$SEED" "$SHARED"

if [ ! -x "$CRIER" ]; then
    (cd "$REPO" && cargo build --release)
fi

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
OUT_BASE=${OUT_BASE:-${TMPDIR:-/tmp}}
OUTS=$(mktemp -d "$OUT_BASE/hugo-compare-out.XXXXXX")
trap 'rm -rf "$OUTS"' EXIT
python3 "$REPO/benches/scripts/hugo_site.py" "$CORPUS" "$WORK/hugo-site" --limit 50
cat > "$WORK/crier.toml" <<EOF
[site]
title = "crier bench"
base_url = "https://news.example.test/"
description = "Generated briefs for the site benchmark."
author = "The bench desk"
templates = "$WORK/no-templates"

[store]
path = "$CORPUS/articles"
audiences = "$CORPUS/audiences.toml"

[feeds]
limit = 50
EOF

# run NAME OUT -- COMMAND…: one run into OUT, appends "wall user sys rss_kib files" to $WORK/NAME.runs
run() {
    local name=$1 out=$2
    shift 3
    sync
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -v -o "$WORK/$name.time" "$@" > "$WORK/$name.log" 2>&1 \
        || { cat "$WORK/$name.log" >&2; die "$name failed"; }
    end=$(date +%s.%N)
    local user sys rss files
    user=$(awk -F': ' '/User time/ {print $2}' "$WORK/$name.time")
    sys=$(awk -F': ' '/System time/ {print $2}' "$WORK/$name.time")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/$name.time")
    files=$(find "$out" -type f | wc -l)
    echo "$(echo "$end - $start" | bc -l) $user $sys $rss $files" >> "$WORK/$name.runs"
}

RUN=0
hugo_run() {
    RUN=$((RUN + 1))
    run hugo "$OUTS/hugo-$RUN" -- "$HUGO" --quiet --source "$WORK/hugo-site" --destination "$OUTS/hugo-$RUN"
}
crier_run() {
    RUN=$((RUN + 1))
    run crier "$OUTS/crier-$RUN" -- env RUST_LOG=warn "$CRIER" --config "$WORK/crier.toml" build --out "$OUTS/crier-$RUN"
}

rm -f "$WORK/hugo.runs" "$WORK/crier.runs"
echo "warm-up …"
hugo_run
crier_run
rm -f "$WORK/hugo.runs" "$WORK/crier.runs"
for i in $(seq "$RUNS"); do
    echo "round $i/$RUNS …"
    hugo_run
    crier_run
done

# median COLUMN FILE
median() {
    awk -v c="$1" '{print $c}' "$2" | sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
cpu_median() {
    awk '{print $2+$3}' "$1" | sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
max_col() { awk -v c="$1" 'BEGIN {m=0} $c>m {m=$c} END {print m}' "$2"; }

hw=$(median 1 "$WORK/hugo.runs");  cw=$(median 1 "$WORK/crier.runs")
hc=$(cpu_median "$WORK/hugo.runs"); cc=$(cpu_median "$WORK/crier.runs")
hr=$(max_col 4 "$WORK/hugo.runs"); cr=$(max_col 4 "$WORK/crier.runs")
hf=$(max_col 5 "$WORK/hugo.runs"); cf=$(max_col 5 "$WORK/crier.runs")
{
    echo "hugo_compare: $N articles, median of $RUNS runs after a warm-up, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "output on: $OUT_BASE ($(df -T "$OUTS" | awk 'NR==2 {print $2}'))"
    echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "hugo: $("$HUGO" version | head -1)"
    echo "crier: $CRIER"
    printf '%-16s %12s %14s %14s %8s\n' "" "wall (s)" "CPU u+s (s)" "peak RSS (MiB)" "files"
    printf '%-16s %12.2f %14.2f %14.0f %8d\n' "hugo" "$hw" "$hc" "$(echo "$hr/1024" | bc -l)" "$hf"
    printf '%-16s %12.2f %14.2f %14.0f %8d\n' "crier build" "$cw" "$cc" "$(echo "$cr/1024" | bc -l)" "$cf"
    printf '%-16s %12.1fx %13.1fx %13.1fx\n' "hugo / crier" "$(echo "$hw/$cw" | bc -l)" "$(echo "$hc/$cc" | bc -l)" "$(echo "$hr/$cr" | bc -l)"
    echo "runs (wall user sys rss_kib files):"
    sed 's/^/  hugo  /' "$WORK/hugo.runs"
    sed 's/^/  crier /' "$WORK/crier.runs"
} | tee "${RESULTS:-$WORK/results.txt}"
