#!/usr/bin/env bash
# rss2email (PyPI, 3.13.x) on the demo site's Atom and RSS feeds, with a sendmail stub
# that keeps each mail: for every article, the mail made from its Atom entry must hold
# the full brief (a sentence from the end of its body), as the one from its RSS item
# does. rss2email prefers a text/plain part, so an Atom entry whose summary were plain
# text would be mailed as its one-sentence summary. Usage: rss2email.sh CRIER_BINARY VENV
set -euo pipefail
CRIER="$1"
VENV="$2"
REPO="$(cd "$(dirname "$0")/.." && pwd)"

"$VENV/bin/pip" install --quiet --disable-pip-version-check "rss2email==3.13.*"

DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
(cd "$REPO" && "$CRIER" build --out "$DIR/site" 2> /dev/null)
mkdir "$DIR/mail"
cat > "$DIR/sendmail" <<SH
#!/bin/sh
# A sendmail that keeps the message: rss2email passes -F name -f sender recipient.
cat > "\$(mktemp "$DIR/mail/XXXXXXXX.eml")"
SH
chmod +x "$DIR/sendmail"

R2E=("$VENV/bin/r2e" -c "$DIR/r2e.cfg" -d "$DIR/r2e.json")
"${R2E[@]}" new ci@example.org
# The built files, read by feedparser from their paths: no server needed.
"${R2E[@]}" add atom "$DIR/site/atom.xml"
"${R2E[@]}" add rss "$DIR/site/feed.xml"
"$VENV/bin/python" - "$DIR/r2e.cfg" "$DIR/sendmail" <<'PY'
import configparser, sys
path, stub = sys.argv[1:]
config = configparser.ConfigParser(interpolation=None)
config.read(path)
config["DEFAULT"].update({
    "email-protocol": "sendmail",
    "sendmail": stub,
    "html-mail": "False",  # the default, said out loud: text/plain preferred
    "from": "r2e@example.org",
})
with open(path, "w") as f:
    config.write(f)
PY
"${R2E[@]}" run

"$VENV/bin/python" - "$DIR/site/feed.json" "$DIR/mail" <<'PY'
import email, email.policy, html, json, pathlib, re, sys

feed = json.load(open(sys.argv[1], encoding="utf-8"))
mails = {}
for path in sorted(pathlib.Path(sys.argv[2]).glob("*.eml")):
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    kind = "atom" if msg["X-RSS-Feed"].endswith("atom.xml") else "rss"
    body = msg.get_body(preferencelist=("plain", "html")).get_content()
    mails[(kind, str(msg["Subject"]))] = body

def words(text):
    # html2text wraps and escapes; compare the words alone.
    return " ".join(re.findall(r"[A-Za-z0-9]+", text))

checked = 0
for item in feed["items"]:
    # The last paragraph or list item of the body: deep in the brief, never the summary.
    blocks = re.findall(r"<(?:p|li)>(.*?)</(?:p|li)>", item["content_html"], re.S)
    texts = [html.unescape(re.sub(r"<[^>]+>", "", b)) for b in blocks]
    texts = [t for t in texts if len(words(t)) > 30 and "http" not in t]
    assert texts, f"{item['title']}: no sentence to look for"
    deep = texts[-1]
    assert deep != item.get("summary"), item["title"]
    for kind in ("atom", "rss"):
        body = mails.get((kind, item["title"]))
        assert body is not None, f"no {kind} mail for {item['title']!r}: {sorted(mails)[:5]}"
        assert words(deep) in words(body), (
            f"the {kind} mail for {item['title']!r} lacks the brief's end {deep!r}:\n{body}"
        )
    checked += 1
assert checked >= 10, checked
print(f"rss2email: {checked} articles mailed in full from Atom and from RSS ({len(mails)} mails)")
PY
