"""Fixtures for the browser tests: a real `crier serve` on a real SQLite file, with
Postfix's smtp-sink as its mail server, driven by Debian's Chromium through
chromedriver. Run by .ci/browser.sh, which installs what they need; `cargo test`
never runs them.

Environment: CRIER (the binary), AXE (axe.min.js), SHOTS (where screenshots go)."""

import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REPO = pathlib.Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "admin@example.test"
ADMIN_PASSWORD = "a long and honest password"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """smtp-sink on one port; `restart(flags)` swaps its behaviour (e.g. "-f RCPT" for
    a hard bounce of every recipient) while crier keeps the same address."""

    def __init__(self, root):
        self.port = free_port()
        self.dump = root / "dump"
        self.dump.mkdir()
        shutil.chown(self.dump, "nobody")
        self.binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        self.process = None

    def start(self, flags=""):
        args = [self.binary, "-u", "nobody", "-d", f"{self.dump}/%H%M%S.", *flags.split()]
        self.process = subprocess.Popen(args + [f"127.0.0.1:{self.port}", "64"])
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("smtp-sink did not start")

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait()
            self.process = None

    def restart(self, flags=""):
        self.stop()
        self.start(flags)

    def messages(self):
        return sorted(self.dump.iterdir(), key=lambda p: p.stat().st_mtime)


class Crier:
    def __init__(self, binary, root, sink):
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (root / "db").mkdir()
        self.config = root / "crier.toml"
        self.config.write_text(
            f"""
[site]
title = "Browser News"
base_url = "{self.url}/"
[store]
path = "{REPO / 'articles'}"
audiences = "{REPO / 'subscribers' / 'audiences.toml'}"
[http]
listen = "127.0.0.1:{self.port}"
[database]
url = "sqlite://{root / 'db' / 'crier.db'}"
[email]
from = "Browser News <news@news.example.test>"
[delivery]
smtp_url = "smtp://127.0.0.1:{sink.port}"
concurrency = 2
max_attempts = 1
[[digest]]
name = "weekly"
cron = "0 7 * * 1"
lookback_days = 3650
""",
            encoding="utf-8",
        )
        self.log = open(root / "crier.log", "w")
        self.process = None

    def run(self, *args, stdin=None):
        return subprocess.run(
            [self.binary, "--config", str(self.config), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "--config", str(self.config), "serve"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1)
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        raise RuntimeError("crier serve did not start: " + (self.root / "crier.log").read_text())

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=60)


@pytest.fixture(scope="session")
def shots():
    path = pathlib.Path(os.environ.get("SHOTS", REPO / "target" / "browser"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def axe_source():
    return pathlib.Path(os.environ["AXE"]).read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def sink():
    root = pathlib.Path(tempfile.mkdtemp(prefix="crier-sink-"))
    root.chmod(0o755)
    sink = Sink(root)
    sink.start()
    yield sink
    sink.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def crier(sink):
    root = pathlib.Path(tempfile.mkdtemp(prefix="crier-browser-"))
    crier = Crier(os.environ["CRIER"], root, sink)
    added = crier.run("admins", "add", ADMIN_EMAIL, stdin=ADMIN_PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    crier.start()
    yield crier
    crier.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def driver():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    driver.implicitly_wait(2)
    yield driver
    driver.quit()
