#!/usr/bin/env bash
# The browser suite: Debian's Chromium and chromedriver drive a real `crier serve`
# (real SQLite file, Postfix's smtp-sink as its mail server) through Python's
# selenium, and axe-core from npm checks every page. Screenshots of every console page
# are left in target/browser/ as CI artefacts. Usage: browser.sh CRIER_BINARY VENV
set -euo pipefail
CRIER="$1"
VENV="$2"
REPO="$(cd "$(dirname "$0")/.." && pwd)"

need=()
command -v chromium > /dev/null || need+=(chromium)
command -v chromedriver > /dev/null || need+=(chromium-driver)
command -v smtp-sink > /dev/null || [ -x /usr/sbin/smtp-sink ] || need+=(postfix)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    apt-get update -qq
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "selenium==4.*" "pytest==8.*"

NODE="$REPO/target/browser-node"
if [ ! -f "$NODE/node_modules/axe-core/axe.min.js" ]; then
    mkdir -p "$NODE"
    npm install --silent --no-audit --no-fund --prefix "$NODE" "axe-core@4" > /dev/null
fi

rm -rf "$REPO/target/browser"
mkdir -p "$REPO/target/browser"
CRIER="$CRIER" AXE="$NODE/node_modules/axe-core/axe.min.js" SHOTS="$REPO/target/browser" \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$REPO/tests/browser"
echo "screenshots: $(ls "$REPO/target/browser" | wc -l) in target/browser/"
