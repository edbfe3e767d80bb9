#!/usr/bin/env bash
# The delivery suite against Postfix's smtp-sink over loopback: a normal run whose
# messages are checked with Python's email package and dkimpy, then smtp-sink's fault
# switches: -f (5xx, a hard bounce), -r (4xx, deferred), -Q (421 and a dropped
# connection, deferred). Usage: smtp-sink.sh CRIER_BINARY PYTHON_WITH_DKIMPY
set -euo pipefail
CRIER="$1"
PY="$2"
REPO="$(cd "$(dirname "$0")/.." && pwd)"

if ! command -v smtp-sink > /dev/null && [ ! -x /usr/sbin/smtp-sink ]; then
    echo "installing postfix for smtp-sink"
    apt-get update -qq
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix > /dev/null
fi
SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# scenario NAME "SINK FLAGS" [EXTRA TOML]; leaves $DIR (config, database) and $OUT
# (crier's output).
scenario() {
    local name="$1" flags="$2" extra="${3:-}"
    DIR=$(mktemp -d); chmod 755 "$DIR"
    DUMP="$DIR/dump"; mkdir "$DUMP"; chown nobody "$DUMP"
    local port; port=$(free_port)
    # shellcheck disable=SC2086
    "$SINK" -u nobody -d "$DUMP/%H%M%S." $flags "127.0.0.1:$port" 64 &
    SINK_PID=$!
    sleep 0.3
    mkdir "$DIR/articles"
    cp "$REPO"/tests/fixtures/valid/*.txt "$REPO"/tests/fixtures/valid/*.md "$DIR/articles/"
    cp "$REPO/subscribers/audiences.toml" "$DIR/audiences.toml"
    openssl genrsa -traditional -out "$DIR/dkim.pem" 2048 2> /dev/null
    cat > "$DIR/crier.toml" <<TOML
[site]
title = "CI News"
base_url = "https://news.example.test/"
[store]
path = "articles"
audiences = "audiences.toml"
[database]
url = "sqlite://crier.db"
[email]
from = "CI News <digest@news.example.test>"
dkim_selector = "ci"
dkim_key = "dkim.pem"
[delivery]
smtp_url = "smtp://127.0.0.1:$port"
concurrency = 4
max_attempts = 3
[[digest]]
name = "weekly"
cron = "0 7 * * 1"
lookback_days = 3650
$extra
TOML
    {
        echo "email,name,audiences,frequency,timezone"
        for n in $(seq 1 10); do echo "reader$n@example.org,Reader $n,security;hr,weekly,Europe/London"; done
    } > "$DIR/subscribers.csv"
    "$CRIER" --config "$DIR/crier.toml" subscribers import "$DIR/subscribers.csv" --active > /dev/null
    set +e
    OUT=$("$CRIER" --config "$DIR/crier.toml" digest send --digest weekly 2>&1)
    CODE=$?
    set -e
    kill "$SINK_PID"; wait "$SINK_PID" 2> /dev/null || true
    echo "-- $name: $(echo "$OUT" | tail -n 1) (exit $CODE)"
}

expect() {
    if ! echo "$OUT" | grep -q "$1"; then
        echo "expected '$1' in:"; echo "$OUT"; exit 1
    fi
}

scenario "normal delivery" ""
expect "10 sent, 0 deferred for a retry, 0 failed"
test "$CODE" = 0
openssl rsa -in "$DIR/dkim.pem" -pubout -outform DER 2> /dev/null | base64 -w0 > "$DIR/dkim.pub"
"$PY" - "$DUMP" "$DIR/dkim.pub" <<'PY'
import email, email.policy, pathlib, sys
import dkim
dump, pub = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]).read_text().strip()
files = sorted(dump.iterdir())
assert len(files) == 10, f"{len(files)} messages in the sink"
record = f"v=DKIM1; k=rsa; p={pub}".encode()
for path in files:
    raw = path.read_bytes()
    # smtp-sink puts its own X- and Received lines first; the message follows.
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", path
    lu = str(msg["List-Unsubscribe"])
    assert lu.startswith("<https://news.example.test/unsubscribe?token=") and "<mailto:" in lu, lu
    assert msg["List-Id"] == "weekly digest <weekly.news.example.test>", msg["List-Id"]
    assert msg["Message-ID"].endswith("@news.example.test>"), msg["Message-ID"]
    assert msg["Date"] and msg["From"] and msg["To"], path
    assert msg.get_content_type() == "multipart/alternative", msg.get_content_type()
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"], parts
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in (text, html):
        assert "https://news.example.test/unsubscribe?token=" in part and "preferences?token=" in part
        assert "1 Example Street" in part
    signature = str(msg["DKIM-Signature"])
    assert "c=relaxed/relaxed" in signature.replace(" ", ""), signature
    signed = [h.strip().lower() for h in signature.replace(" ", "").split("h=")[1].split(";")[0].split(":")]
    for header in ["from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe", "list-unsubscribe-post"]:
        assert header in signed, (header, signed)
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: record), f"{path}: DKIM does not verify"
    tampered = raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: List-Unsubscribe=Nope")
    assert not dkim.verify(tampered, dnsfunc=lambda name, timeout=5: record), "a tampered List-* header still verifies"
print(f"smtp-sink: {len(files)} digests parsed; list headers, parts and DKIM verified")
PY

scenario "hard bounce (-f RCPT)" "-f RCPT"
expect "0 sent, 0 deferred for a retry, 10 failed"
test "$CODE" = 1
bounced=$("$CRIER" --config "$DIR/crier.toml" subscribers list --status bounced --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
test "$bounced" = 10 || { echo "expected 10 bounced subscribers, got $bounced"; exit 1; }
listing=$("$CRIER" --config "$DIR/crier.toml" deliveries --failed)
failed=$(echo "$listing" | grep -cE "^ +[0-9]+  failed ")
test "$failed" = 10 || { echo "expected 10 failed deliveries, got $failed"; exit 1; }

scenario "soft failure (-r RCPT)" "-r RCPT"
expect "0 sent, 10 deferred for a retry, 0 failed"
listing=$("$CRIER" --config "$DIR/crier.toml" deliveries)
echo "$listing" | grep -q "queued 10" || { echo "expected 10 queued in: $listing"; exit 1; }

scenario "dropped connection (-Q RCPT)" "-Q RCPT"
expect "0 sent, 10 deferred for a retry, 0 failed"
# The bounce loop: every message leaves from its own signed bounces+ address; a DSN
# for one of them, sent back to the Return-Path smtp-sink saw, bounces exactly that
# subscriber; a mail to one message's signed unsubscribe+ address unsubscribes its
# reader; and the next run sends to neither. For that run the digest fires every
# minute, so that now is a new period.
BOUNCES='[bounces]
address = "bounces@news.example.test"'
# Who is not active, as "reader3=bounced …", from `subscribers list --json`.
STATES='
import json, sys
rows = json.load(sys.stdin)["subscribers"]
print(" ".join(sorted(r["email"].split("@")[0] + "=" + r["status"] for r in rows if r["status"] != "active")))'
scenario "bounces through VERP" "" "$BOUNCES"
expect "10 sent, 0 deferred for a retry, 0 failed"
"$PY" - "$DUMP" "$DIR" <<'PY'
import email, email.policy, pathlib, re, sys
from email.message import EmailMessage
dump, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
senders, mailtos = {}, {}
for path in sorted(dump.iterdir()):
    raw = path.read_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    # smtp-sink records the envelope: MAIL FROM's argument is the Return-Path.
    sender = re.search(rb"^X-Mail-Args: <([^>]*)>", raw, re.M).group(1).decode()
    to = msg["To"].addresses[0].addr_spec
    assert re.fullmatch(r"bounces\+\d+-[0-9a-f]{16}@news\.example\.test", sender), sender
    assert msg["From"].addresses[0].addr_spec == "digest@news.example.test"
    mailto = re.search(r"<mailto:(unsubscribe\+\d+-[0-9a-f]{16}@news\.example\.test)\?subject=unsubscribe>", str(msg["List-Unsubscribe"]))
    assert mailto, msg["List-Unsubscribe"]
    senders[to], mailtos[to] = sender, mailto.group(1)
assert len(set(senders.values())) == 10, "one envelope sender per message"

# A DSN from the receiving system for reader3's message, to its Return-Path.
original = [p for p in sorted(dump.iterdir()) if b"reader3@example.org" in p.read_bytes()][0]
headers = email.message_from_bytes(original.read_bytes(), policy=email.policy.default)
returned = "".join(f"{k}: {v}\n" for k, v in headers.items() if k in ("From", "To", "Subject", "Message-ID", "Date"))
dsn = f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: {senders["reader3@example.org"]}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-ci"

--dsn-ci
Content-Type: text/plain; charset=us-ascii

The mail system could not deliver your message to reader3@example.org.

--dsn-ci
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; reader3@example.org
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <reader3@example.org>: Recipient address rejected: User unknown

--dsn-ci
Content-Type: text/rfc822-headers

{returned}
--dsn-ci--
"""
(work / "dsn.eml").write_bytes(dsn.replace("\n", "\r\n").encode())

# A reader mails the signed unsubscribe address of reader5's message.
request = EmailMessage()
request["From"] = "reader5@example.org"
request["To"] = mailtos["reader5@example.org"]
request["Subject"] = "unsubscribe"
request.set_content("unsubscribe\n")
(work / "unsubscribe.eml").write_bytes(request.as_bytes())
print("smtp-sink: 10 distinct signed envelope senders and mailto addresses")
PY
ingested=$("$CRIER" --config "$DIR/crier.toml" bounces ingest --json < "$DIR/dsn.eml")
echo "$ingested" | "$PY" -c 'import json, sys; o = json.load(sys.stdin); assert [(x["kind"], x["action"], x["matched_by"], x["status"]) for x in o] == [("hard", "bounced", "verp", "5.1.1")], o'
"$CRIER" --config "$DIR/crier.toml" bounces ingest "$DIR/unsubscribe.eml" | grep -q "unsubscribe: .* → unsubscribed" \
    || { echo "the mailed unsubscribe was not applied"; exit 1; }
states=$("$CRIER" --config "$DIR/crier.toml" subscribers list --json | "$PY" -c "$STATES")
test "$states" = "reader3=bounced reader5=unsubscribed" || { echo "unexpected states: $states"; exit 1; }
"$CRIER" --config "$DIR/crier.toml" bounces list | grep -q "hard .*pipe .*bounced" || { echo "bounces list lacks the event"; exit 1; }
# The next run, in a new period, with new articles: eight readers, not ten.
for f in "$DIR"/articles/*.txt; do cp "$f" "$DIR/articles/again-$(basename "$f")"; done
sed -i 's|^cron = "0 7 \* \* 1"|cron = "* * * * *"|' "$DIR/crier.toml"
port=$(free_port)
"$SINK" -u nobody -d "$DUMP/second.%H%M%S." "127.0.0.1:$port" 64 &
SINK_PID=$!
sleep 0.3
sed -i "s|^smtp_url = .*|smtp_url = \"smtp://127.0.0.1:$port\"|" "$DIR/crier.toml"
OUT=$("$CRIER" --config "$DIR/crier.toml" digest send --digest weekly 2>&1)
kill "$SINK_PID"; wait "$SINK_PID" 2> /dev/null || true
expect "8 sent, 0 deferred for a retry, 0 failed"
if grep -lE "reader(3|5)@example.org" "$DUMP"/second.* > /dev/null 2>&1; then
    echo "the next run mailed a bounced or unsubscribed reader"; exit 1
fi
echo "-- bounces through VERP: DSN and mailed unsubscribe applied; the next run sent 8"
echo "smtp-sink suite: 5 scenarios passed"
