"""The public pages in a real browser: the site, the sign-up flow and the pages a
subscriber reaches from the confirmation mail, each through axe-core."""

import email
import email.policy
import re
import time

from selenium.webdriver.common.by import By

from util import check_page, navigate, text


def wait_for_mail(sink, count, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        files = sink.messages()
        if len(files) >= count:
            return files
        time.sleep(0.2)
    raise AssertionError(f"{count} messages expected at smtp-sink, {len(sink.messages())} arrived")


def test_site_pages(driver, crier, axe_source, shots):
    driver.get(crier.url + "/")
    check_page(driver, axe_source, shots, "public-index")
    first = driver.find_element(By.CSS_SELECTOR, "main a[href$='.html'], main a[href*='/articles/']")
    navigate(driver, first.click)
    check_page(driver, axe_source, shots, "public-article")


def test_sign_up_confirm_preferences_unsubscribe(driver, crier, sink, axe_source, shots):
    before = len(sink.messages())
    driver.get(crier.url + "/subscribe")
    check_page(driver, axe_source, shots, "public-subscribe")
    driver.find_element(By.NAME, "email").send_keys("reader@example.org")
    driver.find_element(By.CSS_SELECTOR, "input[name='audiences']").click()
    button = driver.find_element(By.CSS_SELECTOR, "form button[type='submit'], form input[type='submit']")
    navigate(driver, button.click)
    assert "check your inbox" in text(driver).lower()
    check_page(driver, axe_source, shots, "public-subscribe-done")

    [path] = wait_for_mail(sink, before + 1)[before:]
    raw = path.read_bytes()
    message = email.message_from_bytes(raw[raw.index(b"\n") + 1 :] if raw.startswith(b"X-") else raw,
                                       policy=email.policy.default)
    body = message.get_body(("plain",)).get_content()
    link = re.search(r"https?://\S+/confirm\?token=\S+", body).group(0)
    driver.get(link)
    check_page(driver, axe_source, shots, "public-confirm")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form button[type='submit']").click)
    check_page(driver, axe_source, shots, "public-confirmed")

    preferences = driver.find_element(By.CSS_SELECTOR, "a[href*='/preferences?token=']")
    navigate(driver, preferences.click)
    check_page(driver, axe_source, shots, "public-preferences")
    unsubscribe = re.sub(r"/preferences\?", "/unsubscribe?", driver.current_url)
    driver.get(unsubscribe)
    check_page(driver, axe_source, shots, "public-unsubscribe")
