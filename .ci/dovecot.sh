#!/usr/bin/env bash
# The IMAP test against a real server: Debian's dovecot-imapd with a throwaway
# configuration in a temporary folder (no system service, its own base_dir, one user
# in a passwd-file, Maildirs in the folder), a CA and a server certificate made here
# with openssl, and listeners on free high ports: IMAP with STARTTLS and IMAPS. Runs `cargo test --test imap -- --ignored` against it.
# Usage: dovecot.sh [CARGO TEST ARGS...]
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"

if ! command -v dovecot > /dev/null && [ ! -x /usr/sbin/dovecot ]; then
    echo "installing dovecot-imapd"
    apt-get update -qq
    # The package's own service is never started: policy-rc.d or no init in CI, and
    # this script runs its own instance.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        dovecot-imapd > /dev/null
fi
DOVECOT=$(command -v dovecot || echo /usr/sbin/dovecot)
"$DOVECOT" --version

TMP=$(mktemp -d)
PID=""
stop() {
    if [ -n "$PID" ]; then
        kill "$PID" 2> /dev/null || true
        wait "$PID" 2> /dev/null || true
    fi
    rm -rf "$TMP"
}
trap stop EXIT

# Two free ports, asked of the kernel.
read -r PORT PORTS < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)

# A CA and a server certificate for 127.0.0.1 signed by it: rustls refuses a CA
# certificate as a server's own, so a single self-signed one would not do.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=crier test CA" \
    -keyout "$TMP/ca.key" -out "$TMP/ca.pem" 2> /dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$TMP/server.key" -out "$TMP/server.csr" 2> /dev/null
printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" > "$TMP/server.ext"
openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" \
    -CAcreateserial -days 2 -extfile "$TMP/server.ext" -out "$TMP/server.pem" 2> /dev/null

# Mail is stored under an unprivileged user: dovecot will not run a mailbox as root.
# Its own users (dovecot, dovenull) come with the package.
if [ "$(id -u)" = 0 ]; then
    MAIL_USER=dovecot
else
    MAIL_USER=$(id -un)
fi
MAIL_UID=$(id -u "$MAIL_USER")
MAIL_GID=$(id -g "$MAIL_USER")
mkdir -p "$TMP/mail" "$TMP/run" "$TMP/state"
chown "$MAIL_UID:$MAIL_GID" "$TMP/mail"
chmod 755 "$TMP"

USER_NAME=bounces
PASSWORD="test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
echo "$USER_NAME:{PLAIN}$PASSWORD:$MAIL_UID:$MAIL_GID::$TMP/mail/$USER_NAME" > "$TMP/users"

if [ "$(id -u)" = 0 ]; then
    RUN_AS="default_internal_user = dovecot
default_login_user = dovenull"
else
    # Not root: every process runs as this user.
    RUN_AS="default_internal_user = $(id -un)
default_login_user = $(id -un)"
fi

cat > "$TMP/dovecot.conf" <<CONF
# Throwaway: nothing here is read from /etc/dovecot.
base_dir = $TMP/run
state_dir = $TMP/state
log_path = $TMP/dovecot.log
instance_name = crier-test-$$
protocols = imap
listen = 127.0.0.1
$RUN_AS
first_valid_uid = $MAIL_UID
last_valid_uid = $MAIL_UID
first_valid_gid = 0

ssl = required
ssl_cert = <$TMP/server.pem
ssl_key = <$TMP/server.key
# Dovecot counts 127.0.0.1 as secure and would take a clear-text login from it
# anyway; that crier starts TLS first is shown by the test that gets a TLS error
# over imap:// from a certificate it does not trust.
disable_plaintext_auth = yes
auth_mechanisms = plain login

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $TMP/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $TMP/users
}
mail_location = maildir:$TMP/mail/%u

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $PORTS
    ssl = yes
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
CONF

"$DOVECOT" -F -c "$TMP/dovecot.conf" &
PID=$!
for _ in $(seq 1 100); do
    if (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null; then
        break
    fi
    if ! kill -0 "$PID" 2> /dev/null; then
        cat "$TMP/dovecot.log" >&2 || true
        echo "dovecot did not start" >&2
        exit 1
    fi
    sleep 0.1
done
echo "dovecot: imap (STARTTLS) on $PORT, imaps on $PORTS, user $USER_NAME"

status=0
(
    cd "$REPO"
    CRIER_TEST_IMAP_HOST=127.0.0.1 \
    CRIER_TEST_IMAP_PORT="$PORT" \
    CRIER_TEST_IMAPS_PORT="$PORTS" \
    CRIER_TEST_IMAP_USER="$USER_NAME" \
    CRIER_TEST_IMAP_PASSWORD="$PASSWORD" \
    CRIER_TEST_IMAP_CA_FILE="$TMP/ca.pem" \
        cargo test --locked --test imap "$@" -- --ignored
) || status=$?
if [ "$status" != 0 ]; then
    echo "--- dovecot.log" >&2
    tail -n 40 "$TMP/dovecot.log" >&2 || true
fi
exit "$status"
