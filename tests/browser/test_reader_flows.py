"""The reader's subscription flows of issue #19 in a real browser: sign up, confirm,
ask for a link to the preferences without one, the preference page, the erase
confirmation and the unsubscribe page. Each page is checked at 390 px and 1280 px,
in light and dark mode: axe-core finds nothing, and nothing scrolls sideways."""

import email
import email.policy
import re
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from util import assert_accessible, navigate, text

WIDTHS = (390, 1280)
SCHEMES = ("light", "dark")


def wait_for_mail(sink, count, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        files = sink.messages()
        if len(files) >= count:
            return files
        time.sleep(0.2)
    raise AssertionError(f"{count} messages expected at smtp-sink, {len(sink.messages())} arrived")


def text_body(path):
    raw = path.read_bytes()
    message = email.message_from_bytes(raw[raw.index(b"\n") + 1 :] if raw.startswith(b"X-") else raw,
                                       policy=email.policy.default)
    return message.get_body(("plain",)).get_content()


def check_every_way(driver, axe_source, shots, name):
    """axe-core and the page's width at each width and colour scheme."""
    try:
        for width in WIDTHS:
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
            )
            for scheme in SCHEMES:
                driver.execute_cdp_cmd(
                    "Emulation.setEmulatedMedia",
                    {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
                )
                driver.save_screenshot(str(shots / f"{name}-{width}-{scheme}.png"))
                assert_accessible(driver, axe_source)
                widths = driver.execute_script(
                    "return [document.documentElement.scrollWidth, window.innerWidth];"
                )
                assert widths[0] <= widths[1], (
                    f"{name} at {width} px, {scheme}: {widths[0]} px wide in {widths[1]} px"
                )
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def submit(driver, form_selector):
    navigate(driver, driver.find_element(By.CSS_SELECTOR, form_selector + " button[type='submit']").click)


def test_reader_flows(driver, crier, sink, axe_source, shots):
    before = len(sink.messages())
    driver.get(crier.url + "/subscribe")
    check_every_way(driver, axe_source, shots, "flows-subscribe")
    # The time zone picker is grouped by region, and the script chose a zone the
    # list offers (the browser's, or the site's when it has none there).
    zone = Select(driver.find_element(By.ID, "timezone"))
    assert driver.find_elements(By.CSS_SELECTOR, "#timezone optgroup[label='Europe']")
    assert zone.first_selected_option.get_attribute("value")
    driver.find_element(By.NAME, "email").send_keys("flows@example.org")
    driver.find_element(By.CSS_SELECTOR, "input[name='audiences']").click()
    submit(driver, "form[action$='/subscribe']")
    assert "check your inbox" in text(driver).lower()
    check_every_way(driver, axe_source, shots, "flows-subscribe-done")

    [mail] = wait_for_mail(sink, before + 1)[before:]
    confirm = re.search(r"https?://\S+/confirm\?token=\S+", text_body(mail)).group(0)
    driver.get(confirm)
    submit(driver, "form")
    assert "one more click" not in text(driver).lower()
    check_every_way(driver, axe_source, shots, "flows-confirmed")
    preferences = driver.find_element(By.CSS_SELECTOR, "a[href*='/preferences?token=']").get_attribute("href")

    # Without a link: the form that emails one.
    driver.get(crier.url + "/preferences")
    assert "email me a link" in text(driver).lower()
    check_every_way(driver, axe_source, shots, "flows-preferences-without-link")
    driver.find_element(By.ID, "link-email").send_keys("flows@example.org")
    submit(driver, "form")
    assert "check your inbox" in text(driver).lower()
    check_every_way(driver, axe_source, shots, "flows-preferences-link-sent")

    driver.get(preferences)
    check_every_way(driver, axe_source, shots, "flows-preferences")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "button.danger").click)
    assert "delete your data?" in text(driver).lower()
    check_every_way(driver, axe_source, shots, "flows-erase-confirm")

    driver.get(re.sub(r"/preferences\?", "/unsubscribe?", preferences))
    buttons = driver.find_elements(By.CSS_SELECTOR, "form button[type='submit']")
    assert buttons[0].text == "Unsubscribe", "leaving comes first"
    check_every_way(driver, axe_source, shots, "flows-unsubscribe")
