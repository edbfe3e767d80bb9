#!/usr/bin/env bash
# Regenerates docs/digest.png, the README's picture of a digest: the demo articles'
# weekly digest for a reader of Everything, as `crier digest preview --html` writes it,
# drawn by headless Chromium in a mail-sized window (600 x 1400) and shrunk with
# pngquant. Usage: docs/digest-screenshot.sh [CRIER_BINARY] (default: target/debug/crier,
# built when missing). Needs chromium and pngquant (installed with apt-get when missing).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CRIER="${1:-$REPO/target/debug/crier}"
if [ ! -x "$CRIER" ]; then
    (cd "$REPO" && cargo build --locked --quiet)
fi
need=()
command -v chromium > /dev/null || need+=(chromium)
command -v pngquant > /dev/null || need+=(pngquant)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/db"
cat > "$WORK/crier.toml" <<TOML
[site]
title = "crier demo"
base_url = "https://news.example.org/"
[store]
path = "$REPO/articles"
audiences = "$REPO/subscribers/audiences.toml"
[database]
url = "sqlite://$WORK/db/crier.db"
[email]
from = "crier demo <news@news.example.org>"
postal_address = "The crier demo desk, 1 Example Street, Exampleton"
[[digest]]
name = "weekly"
cron = "0 7 * * 1"
lookback_days = 3650
TOML
run() { "$CRIER" --config "$WORK/crier.toml" "$@" > /dev/null 2>> "$WORK/log"; }
run subscribers add ada@example.org --name Ada --audiences everything --active
run digest preview --email ada@example.org --digest weekly --html "$WORK/digest.html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=600,1400 --screenshot="$WORK/digest.png" "file://$WORK/digest.html" \
    > /dev/null 2>&1
pngquant --quality=70-90 --strip --speed 1 --force --output "$REPO/docs/digest.png" -- "$WORK/digest.png"
echo "docs/digest.png: $(stat -c %s "$REPO/docs/digest.png") bytes"
