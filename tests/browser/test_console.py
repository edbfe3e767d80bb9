"""The admin console in a real browser, in the order an admin would use it: a wrong
password, logging in, every page through axe-core (with a screenshot each), the
everyday tasks, a forged POST, and logging out. The tests share one browser session
and run in file order."""

import http.client
import urllib.parse
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from util import check_page, navigate, text, wait


def log_in(driver, crier, password):
    driver.get(crier.url + "/admin/login")
    driver.find_element(By.ID, "email").send_keys(ADMIN_EMAIL)
    driver.find_element(By.ID, "password").send_keys(password)
    button = driver.find_element(By.CSS_SELECTOR, "form.login button[type='submit']")
    navigate(driver, button.click)


def submit(driver, form_css):
    button = driver.find_element(By.CSS_SELECTOR, f"{form_css} button[type='submit']")
    navigate(driver, button.click)


def test_wrong_password_is_refused(driver, crier, axe_source, shots):
    log_in(driver, crier, "not the password at all")
    assert "not right" in text(driver)
    assert driver.find_elements(By.ID, "password"), "the login form is shown again"
    check_page(driver, axe_source, shots, "console-login-failed")
    driver.get(crier.url + "/admin")
    assert "/admin/login" in driver.current_url


def test_logging_in(driver, crier, axe_source, shots):
    log_in(driver, crier, ADMIN_PASSWORD)
    assert "/admin/login" not in driver.current_url
    assert ADMIN_EMAIL in text(driver)
    cookie = driver.get_cookie("crier_admin")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"


CONSOLE_PAGES = [
    ("/admin", "console-dashboard"),
    ("/admin/subscribers", "console-subscribers"),
    ("/admin/import", "console-import"),
    ("/admin/audiences", "console-audiences"),
    ("/admin/articles", "console-articles"),
    ("/admin/digests", "console-digests"),
    ("/admin/deliveries", "console-deliveries"),
]


def test_every_console_page(driver, crier, axe_source, shots):
    for path, name in CONSOLE_PAGES:
        driver.get(crier.url + path)
        assert driver.current_url.rstrip("/").endswith(path.rstrip("/")), driver.current_url
        assert "Not found" not in driver.title, path
        check_page(driver, axe_source, shots, name)


def test_searching_and_editing_a_subscriber(driver, crier, axe_source, shots):
    for n, name in enumerate(["Ada Lovelace", "Grace Hopper", "Alan Turing"]):
        added = crier.run("subscribers", "add", f"person{n}@example.org", "--name", name,
                          "--audiences", "hr", "--active")
        assert added.returncode == 0, added.stderr
    driver.get(crier.url + "/admin/subscribers")
    driver.find_element(By.ID, "f-q").send_keys("hopper")
    submit(driver, "form.filters")
    rows = driver.find_elements(By.CSS_SELECTOR, "main table tbody tr")
    assert len(rows) == 1 and "person1@example.org" in rows[0].text
    check_page(driver, axe_source, shots, "console-subscribers-search")
    navigate(driver, rows[0].find_element(By.TAG_NAME, "a").click)
    check_page(driver, axe_source, shots, "console-subscriber")
    name = driver.find_element(By.ID, "e-name")
    name.clear()
    name.send_keys("Rear Admiral Grace Hopper")
    navigate(driver, name.submit)
    assert "Rear Admiral Grace Hopper" in driver.find_element(By.ID, "e-name").get_attribute("value")
    shown = crier.run("subscribers", "show", "person1@example.org")
    assert "Rear Admiral Grace Hopper" in shown.stdout, shown.stdout + shown.stderr


def test_a_bulk_action(driver, crier, axe_source, shots):
    driver.get(crier.url + "/admin/subscribers?q=person")
    Select(driver.find_element(By.ID, "b-action")).select_by_value("add_audience")
    Select(driver.find_element(By.ID, "b-target")).select_by_value("developers")
    navigate(driver, driver.find_element(By.ID, "b-action").submit)
    assert "3" in driver.find_element(By.TAG_NAME, "main").text
    check_page(driver, axe_source, shots, "console-bulk-confirm")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/admin/subscribers/bulk'] button").click)
    for n in range(3):
        shown = crier.run("subscribers", "show", f"person{n}@example.org")
        assert "developers" in shown.stdout, shown.stdout


def test_previewing_a_digest(driver, crier, axe_source, shots):
    driver.get(crier.url + "/admin/digests")
    assert "At 07:00 on Monday" in text(driver)
    driver.get(crier.url + "/admin/digests/weekly/preview?subscriber=person0@example.org")
    frame = driver.find_element(By.CSS_SELECTOR, "iframe[sandbox]")
    check_page(driver, axe_source, shots, "console-digest-preview")
    assert driver.find_element(By.CSS_SELECTOR, "pre").text.strip(), "no text part"
    driver.switch_to.frame(frame)
    try:
        assert driver.find_elements(By.CSS_SELECTOR, "a"), "the framed digest has no links"
    finally:
        driver.switch_to.default_content()


def test_importing_a_csv_with_two_bad_rows(driver, crier, axe_source, shots, tmp_path):
    upload = tmp_path / "readers.csv"
    upload.write_text(
        "email,name,audiences\n"
        "imported1@example.org,First Reader,hr\n"
        "not an address,Broken Row,hr\n"
        "imported2@example.org,Second Reader,developers\n"
        "imported3@example.org,Third Reader,no-such-audience\n"
        "imported4@example.org,Fourth Reader,hr\n",
        encoding="utf-8",
    )
    driver.get(crier.url + "/admin/import")
    driver.find_element(By.ID, "import-file").send_keys(str(upload))
    driver.find_element(By.ID, "mode-active").click()
    navigate(driver, driver.find_element(By.ID, "import-file").submit)
    assert "imported1@example.org" in text(driver), "the preview shows the first rows"
    check_page(driver, axe_source, shots, "console-import-preview")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form[action$='/start'] button[type='submit']").click)
    wait(driver).until(lambda d: "Bad rows" in text(d))
    check_page(driver, axe_source, shots, "console-import-result")
    report = text(driver)
    assert "3" in report and "5" in report
    link = driver.find_element(By.CSS_SELECTOR, "a[href$='/report.csv']").get_attribute("href")
    cookie = driver.get_cookie("crier_admin")["value"]
    request = urllib.request.Request(link, headers={"Cookie": f"crier_admin={cookie}"})
    lines = urllib.request.urlopen(request).read().decode().strip().splitlines()
    assert len(lines) == 3, lines  # a header and the two bad rows
    for n in (1, 2, 4):
        shown = crier.run("subscribers", "show", f"imported{n}@example.org")
        assert shown.returncode == 0, shown.stderr


def deliveries_count(driver, crier, status):
    driver.get(crier.url + "/admin/deliveries")
    for card in driver.find_elements(By.CSS_SELECTOR, ".card"):
        if card.find_element(By.TAG_NAME, "a").text.lower() == status:
            return int(card.find_element(By.CSS_SELECTOR, ".big").text)
    raise AssertionError(f"no {status} card")


def test_retrying_a_failed_delivery(driver, crier, sink, axe_source, shots):
    sink.restart("-f RCPT")
    driver.get(crier.url + "/admin/digests/weekly/preview?subscriber=person0@example.org")
    to = driver.find_element(By.ID, "to")
    to.clear()
    to.send_keys("tester@example.org")
    navigate(driver, to.submit)
    wait(driver).until(lambda d: deliveries_count(d, crier, "failed") >= 1)
    check_page(driver, axe_source, shots, "console-deliveries-failed")
    sent_before = deliveries_count(driver, crier, "sent")
    sink.restart()
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/admin/deliveries/retry'] button").click)
    wait(driver).until(lambda d: deliveries_count(d, crier, "failed") == 0)
    wait(driver).until(lambda d: deliveries_count(d, crier, "sent") > sent_before)


def test_a_post_without_csrf_is_refused(driver, crier):
    """A forged form: the session cookie, but no CSRF token. It must be refused and
    must not end the session."""
    session = driver.get_cookie("crier_admin")["value"]
    connection = http.client.HTTPConnection("127.0.0.1", crier.port)
    connection.request(
        "POST",
        "/admin/logout",
        body=urllib.parse.urlencode({}),
        headers={"Cookie": f"crier_admin={session}",
                 "Content-Type": "application/x-www-form-urlencoded"},
    )
    response = connection.getresponse()
    response.read()
    assert response.status == 403
    driver.get(crier.url + "/admin/logout")
    assert ADMIN_EMAIL in text(driver), "the forged POST ended the session"


def test_logging_out(driver, crier, axe_source, shots):
    # The dashboard again, now with the rows the tests above made (README's picture).
    driver.get(crier.url + "/admin")
    check_page(driver, axe_source, shots, "console-dashboard-in-use")
    driver.get(crier.url + "/admin/logout")
    check_page(driver, axe_source, shots, "console-logout")
    submit(driver, "form.logout")
    driver.get(crier.url + "/admin")
    assert "/admin/login" in driver.current_url
    check_page(driver, axe_source, shots, "console-login")
