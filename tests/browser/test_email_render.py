"""The HTML digest as a mail client would draw it: written by `crier digest preview
--html` from the demo articles for a reader of Everything and for a reader of one
audience, then opened in Chromium 390 and 600 px wide, in light and dark mode. No
horizontal overflow, every image with alt text, every link absolute (https), and
text and links at 4.5:1 or more against the background they sit on."""

import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from util import axe_violations

REPO = pathlib.Path(__file__).resolve().parents[2]
WIDTHS = (390, 600)
SCHEMES = ("light", "dark")

# The contrast of every visible text node's element against the nearest ancestor
# with an opaque background, as WCAG computes it; the worst few are returned.
CONTRAST = """
function rgb(s) {
  const m = s.match(/rgba?\\(([^)]+)\\)/);
  if (!m) return null;
  const p = m[1].split(',').map(x => parseFloat(x));
  return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
}
function lum(c) {
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
}
function background(el) {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c && c.a > 0.99) return c;
  }
  return {r: 255, g: 255, b: 255, a: 1};
}
const out = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  if (!n.textContent.trim()) continue;
  const el = n.parentElement;
  const rect = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  if (rect.width < 2 || rect.height < 2 || style.visibility === 'hidden') continue;
  let hidden = false;
  for (let e = el; e; e = e.parentElement) {
    if (parseFloat(getComputedStyle(e).opacity) === 0) { hidden = true; break; }
  }
  if (hidden) continue;
  const fg = rgb(style.color), bg = background(el);
  const [a, b] = [lum(fg), lum(bg)];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  out.push({ratio: Math.round(ratio * 100) / 100, text: n.textContent.trim().slice(0, 40),
            color: style.color, background: `rgb(${bg.r}, ${bg.g}, ${bg.b})`});
}
out.sort((x, y) => x.ratio - y.ratio);
return out.slice(0, 5);
"""


def write_config(root):
    config = root / "crier.toml"
    (root / "db").mkdir()
    config.write_text(
        f"""
[site]
title = "Browser News"
base_url = "https://news.example.test/"
[store]
path = "{REPO / 'articles'}"
audiences = "{REPO / 'subscribers' / 'audiences.toml'}"
[database]
url = "sqlite://{root / 'db' / 'crier.db'}"
[email]
from = "Browser News <news@news.example.test>"
[[digest]]
name = "weekly"
cron = "0 7 * * 1"
lookback_days = 3650
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture(scope="module")
def digests():
    """The HTML of two readers' digests: {name: path}."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="crier-email-"))
    config = write_config(root)
    binary = os.environ["CRIER"]

    def crier(*args):
        done = subprocess.run([binary, "--config", str(config), *args],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        return done

    files = {}
    for name, audiences in (("everything", "everything"), ("security", "security")):
        address = f"{name}@example.org"
        crier("subscribers", "add", address, "--audiences", audiences, "--active", "--name", "Ada")
        path = root / f"{name}.html"
        crier("digest", "preview", "--email", address, "--digest", "weekly", "--html", str(path))
        files[name] = path
    yield files
    shutil.rmtree(root, ignore_errors=True)


def show(driver, path, width, scheme):
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500},
    )
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
    driver.get(path.as_uri())


def reset(driver):
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


@pytest.mark.parametrize("reader", ["everything", "security"])
def test_digest_html_in_a_mail_sized_window(driver, digests, axe_source, shots, reader):
    html = digests[reader].read_text(encoding="utf-8")
    if reader == "everything":
        assert ">More</h2>" in html, "the demo's articles for no audience are under More"
    else:
        assert ">More</h2>" not in html
    try:
        for width in WIDTHS:
            for scheme in SCHEMES:
                where = f"{reader} at {width} px, {scheme}"
                show(driver, digests[reader], width, scheme)
                driver.save_screenshot(str(shots / f"email-{reader}-{width}-{scheme}.png"))
                widths = driver.execute_script(
                    "return [document.documentElement.scrollWidth, window.innerWidth];"
                )
                assert widths[0] <= widths[1], f"{where}: {widths[0]} px wide"
                images = driver.execute_script(
                    "return [...document.images].filter(i => !i.hasAttribute('alt'))"
                    ".map(i => i.src);"
                )
                assert images == [], f"{where}: images without alt text: {images}"
                links = driver.execute_script(
                    "return [...document.querySelectorAll('a')].map(a => a.getAttribute('href'));"
                )
                assert links, where
                relative = [link for link in links if not (link or "").startswith("https://")]
                assert relative == [], f"{where}: links that are not absolute: {relative}"
                worst = driver.execute_script(CONTRAST)
                assert worst and worst[0]["ratio"] >= 4.5, f"{where}: {worst}"
                violations = [v for v in axe_violations(driver, axe_source)
                              if v["id"] in ("color-contrast", "image-alt", "link-name")]
                assert violations == [], f"{where}: {violations}"
    finally:
        reset(driver)
