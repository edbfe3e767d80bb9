#!/usr/bin/env python3
"""Benchmark: the admin console's pages at 100,000 subscribers and 10,000 articles.

What one run does:
  1. generates 10,000 articles with ../shared/corpus/gen_articles.py (seed 7) and a
     CSV of 100,000 subscribers over its 20 audiences (deterministic), imports them
     with `crier subscribers import --active`, and sends one weekly digest to all of
     them into Postfix's smtp-sink, so that the outbox holds 100,000 sent rows;
  2. adds an admin (`crier admins add`), starts `crier serve`, logs in;
  3. asks every console page (the list below) REPEAT times over one keep-alive
     connection, after two unmeasured requests, and keeps the median time from
     sending the request to the last byte of the answer;
  4. serves the same bytes of each page from nginx (one worker, same machine) and
     times them the same way: the reference for what the client and loopback cost.

Prints one line per page:
  BENCH page=<path> crier_median_ms=<m> nginx_median_ms=<n> bytes=<b>
and a summary with the slowest page. The target is under 100 ms of server time for
every page; crier's median minus nginx's is the server-time estimate.

Usage: benches/scripts/console_bench.py CRIER_BINARY [SHARED_DIR]
Environment: SUBSCRIBERS (default 100000), ARTICLES (default 10000), REPEAT (default 15),
KEEP=1 keeps the temporary folder.
"""

import csv
import http.client
import os
import pathlib
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

CRIER = os.path.abspath(sys.argv[1])
ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else ROOT.parent / "shared")
SUBSCRIBERS = int(os.environ.get("SUBSCRIBERS", 100_000))
ARTICLES = int(os.environ.get("ARTICLES", 10_000))
REPEAT = int(os.environ.get("REPEAT", 15))
PASSWORD = "benchmark password, long enough"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, process, what):
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if process.poll() is not None:
                sys.exit(f"{what} exited")
            time.sleep(0.1)
    sys.exit(f"{what} did not start")


def run(*args, stdin=None):
    done = subprocess.run([CRIER, "--config", str(CONFIG), *args], input=stdin, text=True,
                          capture_output=True)
    if done.returncode != 0:
        sys.exit(f"crier {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


def audiences(path):
    return re.findall(r"^\[([a-z0-9-]+)\]|^slug\s*=\s*\"([^\"]+)\"", path.read_text(), re.M)


class Client:
    """One keep-alive connection and a cookie."""

    def __init__(self, port):
        self.connection = http.client.HTTPConnection("127.0.0.1", port)
        self.cookie = None

    def request(self, method, path, body=None):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        start = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - start
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, response.getheader("Location"), data, elapsed


tmp = pathlib.Path(tempfile.mkdtemp(prefix="crier-console-bench-"))
tmp.chmod(0o755)
processes = []
try:
    corpus = tmp / "corpus"
    subprocess.run([sys.executable, str(SHARED / "corpus" / "gen_articles.py"), str(corpus),
                    "--count", str(ARTICLES), "--seed", "7"], check=True, capture_output=True)
    taxonomy = corpus / "audiences.toml"
    slugs = sorted({a or b for a, b in audiences(taxonomy)})
    rng = random.Random(7)
    with open(tmp / "subscribers.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["email", "name", "audiences", "frequency", "timezone"])
        for i in range(SUBSCRIBERS):
            w.writerow([f"reader{i}@example.org", f"Reader {i} {rng.choice(['Ng', 'Okafor', 'Silva', 'Berg'])}",
                        ";".join(rng.sample(slugs, rng.randint(1, 3))),
                        "weekly", rng.choice(["UTC", "Europe/London", "America/New_York"])])

    sink_port, port = free_port(), free_port()
    sink = subprocess.Popen(["/usr/sbin/smtp-sink", *(["-u", "nobody"] if os.getuid() == 0 else []),
                             f"127.0.0.1:{sink_port}", "256"], stdout=subprocess.DEVNULL)
    processes.append(sink)
    wait_port(sink_port, sink, "smtp-sink")
    (tmp / "db").mkdir()
    CONFIG = tmp / "crier.toml"
    CONFIG.write_text(f"""
[site]
title = "Bench News"
base_url = "http://127.0.0.1:{port}/"
[store]
path = "{corpus / 'articles'}"
audiences = "{taxonomy}"
[http]
listen = "127.0.0.1:{port}"
[database]
url = "sqlite://{tmp / 'db' / 'crier.db'}"
[email]
from = "Bench News <news@bench.example.test>"
[delivery]
smtp_url = "smtp://127.0.0.1:{sink_port}"
concurrency = 8
[[digest]]
name = "weekly"
cron = "0 7 * * 1"
lookback_days = 3650
""")
    started = time.time()
    run("subscribers", "import", str(tmp / "subscribers.csv"), "--active")
    print(f"imported {SUBSCRIBERS} in {time.time() - started:.1f} s", file=sys.stderr)
    started = time.time()
    run("digest", "send", "--digest", "weekly")
    print(f"sent the digest in {time.time() - started:.1f} s", file=sys.stderr)
    run("admins", "add", "admin@bench.example.test", stdin=PASSWORD + "\n")
    serve = subprocess.Popen([CRIER, "--config", str(CONFIG), "serve"], stdout=subprocess.DEVNULL,
                             stderr=open(tmp / "crier.log", "w"))
    processes.append(serve)
    wait_port(port, serve, "crier serve")

    client = Client(port)
    status, location, _, _ = client.request(
        "POST", "/admin/login",
        urllib.parse.urlencode({"email": "admin@bench.example.test", "password": PASSWORD}))
    assert status == 303 and client.cookie, f"login: {status}"
    _, _, page, _ = client.request("GET", "/admin/subscribers?q=reader4242")
    found = re.search(rb'href="/admin/subscribers/(\d+)"', page)
    assert found, "no subscriber link on the search page"
    subscriber = found.group(1).decode()
    audience = slugs[0]
    pages = [
        "/admin",
        "/admin/subscribers",
        "/admin/subscribers?q=reader4242",
        "/admin/subscribers?q=okafor",
        f"/admin/subscribers?status=active&audience={audience}&sort=email&order=asc&page=400",
        f"/admin/subscribers/{subscriber}",
        "/admin/import",
        "/admin/audiences",
        "/admin/articles",
        "/admin/articles?page=100",
        "/admin/digests",
        f"/admin/digests/weekly/preview?subscriber=reader4242@example.org",
        "/admin/deliveries",
        "/admin/deliveries?status=sent",
    ]

    www = tmp / "www"
    www.mkdir()
    www.chmod(0o755)
    results = []
    for i, path in enumerate(pages):
        for _ in range(2):
            client.request("GET", path)
        times, body = [], b""
        for _ in range(REPEAT):
            status, _, body, elapsed = client.request("GET", path)
            assert status == 200, f"{path}: {status}"
            times.append(elapsed)
        (www / f"p{i}.html").write_bytes(body)
        (www / f"p{i}.html").chmod(0o644)
        results.append((path, statistics.median(times), len(body)))

    nginx_port = free_port()
    (tmp / "nginx").mkdir()
    (tmp / "nginx.conf").write_text(f"""
worker_processes 1; daemon off; pid {tmp}/nginx/pid; error_log {tmp}/nginx/error.log warn;
events {{ worker_connections 64; }}
http {{ access_log off; default_type text/html; client_body_temp_path {tmp}/nginx/b;
  proxy_temp_path {tmp}/nginx/p; fastcgi_temp_path {tmp}/nginx/f; uwsgi_temp_path {tmp}/nginx/u;
  scgi_temp_path {tmp}/nginx/s;
  server {{ listen 127.0.0.1:{nginx_port}; root {www}; }} }}
""")
    nginx = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(tmp / "nginx"),
                              "-c", str(tmp / "nginx.conf")])
    processes.append(nginx)
    wait_port(nginx_port, nginx, "nginx")
    reference = Client(nginx_port)
    print(f"{'page':<80} {'crier ms':>9} {'nginx ms':>9} {'bytes':>8}")
    slowest = None
    for i, (path, crier_s, size) in enumerate(results):
        for _ in range(2):
            reference.request("GET", f"/p{i}.html")
        times = []
        for _ in range(REPEAT):
            status, _, body, elapsed = reference.request("GET", f"/p{i}.html")
            assert status == 200 and len(body) == size
            times.append(elapsed)
        nginx_s = statistics.median(times)
        print(f"{path:<80} {crier_s * 1000:9.2f} {nginx_s * 1000:9.2f} {size:8}")
        print(f"BENCH page={path} crier_median_ms={crier_s * 1000:.2f} "
              f"nginx_median_ms={nginx_s * 1000:.2f} bytes={size}")
        if slowest is None or crier_s > slowest[1]:
            slowest = (path, crier_s)
    print(f"RESULT slowest_page={slowest[0]} crier_median_ms={slowest[1] * 1000:.2f} "
          f"pages={len(results)} subscribers={SUBSCRIBERS} articles={ARTICLES} repeat={REPEAT}")
finally:
    for p in processes:
        p.terminate()
    for p in processes:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    if os.environ.get("KEEP") == "1":
        print(f"kept {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
