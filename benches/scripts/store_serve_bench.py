#!/usr/bin/env python3
"""`crier serve` on a large article store: start time, peak RSS and watch latency.

    python3 benches/scripts/store_serve_bench.py --count 100000 [--edits 20] [--rounds 3]

Each round starts a fresh `crier serve` on the store made by
`gen_articles.py --count N --markdown 0.2` (generated into target/bench-corpus/serve-N on
first use, with a marker recording its arguments), and:

1. times the start, from exec to "listening on" in its log, and reads the log's own
   figures (store loaded, site rendered, watcher started: `took_ms`);
2. rewrites the title line of the newest brief (`.txt`) in place, --edits times, and
   times each from the end of the write until `/feed.json` (asked over one keep-alive
   connection, every 2 ms) carries the new title; the edits are 300 ms apart;
3. reads VmHWM (peak RSS) and VmRSS from /proc/PID/status, and the process's CPU time,
   after the start and again after the edits.

The original file is written back at the end of each round. Prints one line per round
and the medians over the rounds, and `BENCH {json}` lines for scripts. Needs python3
only (and the release binary: --crier, default $CARGO_TARGET_DIR/release/crier).
"""

import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def die(message):
    print(f"store_serve_bench: {message}", file=sys.stderr)
    sys.exit(1)


def corpus(shared, count, seed):
    path = os.path.join(REPO, "target", "bench-corpus", f"serve-{count}")
    marker = os.path.join(path, ".bench-corpus-complete")
    stamp = f"gen_articles.py --count {count} --seed {seed} --markdown 0.2"
    try:
        with open(marker) as f:
            if f.read().strip() == stamp:
                return path
    except OSError:
        pass
    generator = os.path.join(shared, "corpus", "gen_articles.py")
    if not os.path.exists(generator):
        die(f"no generator at {generator} (set CRIER_SHARED)")
    subprocess.run(["rm", "-rf", path, path + ".partial"], check=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run(
        [sys.executable, generator, path + ".partial", "--count", str(count), "--seed", str(seed),
         "--markdown", "0.2"],
        check=True, stdout=subprocess.DEVNULL)
    os.rename(path + ".partial", path)
    with open(marker, "w") as f:
        f.write(stamp + "\n")
    return path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    die(f"no {field} in /proc/{pid}/status")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def took(log, message):
    m = re.search(r"took_ms=(\d+)[^\n]*?" + re.escape(message) + "|" + re.escape(message)
                  + r"[^\n]*?took_ms=(\d+)", log)
    if not m:
        return None
    return int(m.group(1) or m.group(2))


def newest_brief(articles):
    # Feeds list newest first, then by slug: the first name of the newest day.
    names = [n for n in os.listdir(articles) if n.endswith(".txt")]
    if not names:
        die("no brief in the store")
    newest = max(n[:10] for n in names)
    return os.path.join(articles, min(n for n in names if n[:10] == newest))


def one_round(crier, store, edits):
    tmp = tempfile.mkdtemp(prefix="crier-store-bench.")
    port = free_port()
    config = os.path.join(tmp, "crier.toml")
    with open(config, "w") as f:
        f.write(f"""[site]
title = "crier bench"
base_url = "http://127.0.0.1:{port}/"
description = "Generated briefs for the store benchmark."
author = "The bench desk"
templates = "{tmp}/no-templates"

[store]
path = "{store}/articles"
audiences = "{store}/audiences.toml"

[http]
listen = "127.0.0.1:{port}"

[feeds]
limit = 50

[database]
url = "sqlite://{tmp}/crier.db"
""")
    log_path = os.path.join(tmp, "crier.log")
    log_file = open(log_path, "w")
    env = dict(os.environ, RUST_LOG="info", NO_COLOR="1")
    started = time.monotonic()
    proc = subprocess.Popen([crier, "--config", config, "serve"], stderr=log_file,
                            stdout=subprocess.DEVNULL, env=env)
    target = newest_brief(os.path.join(store, "articles"))
    with open(target, "rb") as f:
        original = f.read()
    try:
        log = ""
        while "listening on http://" not in log:
            if proc.poll() is not None:
                die("crier serve exited:\n" + open(log_path).read())
            if time.monotonic() - started > 300:
                die("crier serve did not start within 300 s")
            time.sleep(0.005)
            log = open(log_path).read()
        start_s = time.monotonic() - started
        start_cpu = cpu_seconds(proc.pid)
        hwm_start = status_kib(proc.pid, "VmHWM") / 1024
        rss_start = status_kib(proc.pid, "VmRSS") / 1024

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def feed():
            conn.request("GET", "/feed.json")
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                die(f"/feed.json answered {response.status}")
            return body.decode()

        lines = original.decode().split("\n")
        title = lines[1]
        if json.dumps(title)[1:-1] not in feed() and title not in feed():
            die(f"the newest brief's title {title!r} is not in /feed.json")
        latencies = []
        for i in range(edits):
            new_title = f"{title} (edit {i} {os.getpid()})"
            edited = "\n".join(lines[:1] + [new_title] + lines[2:]).encode()
            with open(target, "wb") as f:
                f.write(edited)
            written = time.monotonic()
            while True:
                if new_title in feed():
                    break
                if time.monotonic() - written > 20:
                    die(f"edit {i} not visible in /feed.json after 20 s")
                time.sleep(0.002)
            latencies.append((time.monotonic() - written) * 1000)
            time.sleep(0.3)
        conn.close()
        hwm_end = status_kib(proc.pid, "VmHWM") / 1024
        rss_end = status_kib(proc.pid, "VmRSS") / 1024
        log = open(log_path).read()
    finally:
        with open(target, "wb") as f:
            f.write(original)
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log_file.close()
        subprocess.run(["rm", "-rf", tmp])
    return {
        "start_s": start_s,
        "start_cpu_s": start_cpu,
        "store_loaded_ms": took(log, "article store loaded"),
        "site_rendered_ms": took(log, "site rendered"),
        "watcher_start_ms": took(log, "watching the article store"),
        "peak_rss_after_start_mib": hwm_start,
        "rss_after_start_mib": rss_start,
        "peak_rss_mib": hwm_end,
        "rss_after_edits_mib": rss_end,
        "watch_median_ms": statistics.median(latencies),
        "watch_max_ms": max(latencies),
        "watch_min_ms": min(latencies),
    }


def main():
    # Killed part-way, a round still writes the edited article back (its `finally`).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100000)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--crier", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "release", "crier"))
    parser.add_argument("--store", help="an existing generated store (default: generate one)")
    args = parser.parse_args()
    if not os.access(args.crier, os.X_OK):
        die(f"no binary at {args.crier} (cargo build --release)")
    shared = os.environ.get("CRIER_SHARED", os.path.join(REPO, "..", "shared"))
    store = args.store or corpus(shared, args.count, args.seed)
    rounds = []
    for r in range(args.rounds):
        load = os.getloadavg()[0]
        result = one_round(args.crier, store, args.edits)
        result["load"] = load
        rounds.append(result)
        print(f"round {r + 1} (load {load:.2f}): " + ", ".join(
            f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()),
            flush=True)
    print(f"medians of {args.rounds} rounds, {args.count} articles, {args.edits} edits each:")
    for key in rounds[0]:
        values = [r[key] for r in rounds if r[key] is not None]
        if values:
            median = statistics.median(values)
            print(f"  {key:28} {median:10.1f}   (rounds: "
                  + ", ".join(f"{v:.1f}" for v in values) + ")")
            print("BENCH " + json.dumps({"figure": key, "count": args.count, "median": median,
                                         "rounds": values}))


if __name__ == "__main__":
    main()
