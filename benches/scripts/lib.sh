# Shared by the benchmark scripts. Source it after defining `die MESSAGE` and
# `note MESSAGE`, which these functions use to report.

# need_apt PKG: installs a Debian package when running as root, or stops with the
# command to run. Postfix is installed with the "No configuration" answer.
need_apt() {
    local pkg=$1
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        note "installing $pkg"
        if [ "$pkg" = postfix ]; then
            echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        fi
        { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$pkg" >/dev/null 2>&1; } ||
            { apt-get update >/dev/null 2>&1 &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$pkg" >/dev/null 2>&1; } ||
            die "cannot install $pkg"
    else
        die "$pkg is missing (apt-get install -y $pkg)"
    fi
}

# release_binary ROOT: sets CRIER to the release binary of the repository at ROOT (in
# the target folder cargo reports, so CARGO_TARGET_DIR is honoured), building it
# first unless SKIP_BUILD=1.
release_binary() {
    local root=$1 target_dir
    target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    CRIER="$target_dir/release/crier"
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        note "building the release binary in $target_dir"
        cargo build --release --manifest-path "$root/Cargo.toml" --bin crier >&2
    fi
    [ -x "$CRIER" ] || die "no binary at $CRIER"
}

# site_corpus CORPUS N SEED SHARED: generates N articles into CORPUS unless a complete
# corpus with the same arguments is there (the marker benches/site.rs writes too).
site_corpus() {
    local corpus=$1 n=$2 seed=$3 shared=$4
    local marker=$corpus/.bench-corpus-complete
    local stamp="gen_articles.py --count $n --seed $seed"
    if [ "$(cat "$marker" 2>/dev/null)" != "$stamp" ]; then
        [ -f "$shared/corpus/gen_articles.py" ] || die "no generator at $shared/corpus (set CRIER_SHARED)"
        rm -rf "$corpus" "$corpus.partial"
        mkdir -p "$(dirname "$corpus")"
        python3 "$shared/corpus/gen_articles.py" "$corpus.partial" --count "$n" --seed "$seed"
        mv "$corpus.partial" "$corpus"
        printf '%s\n' "$stamp" > "$marker"
    fi
}
