"""What every browser test does to a page: run axe-core on it, check that it does not
scroll sideways on a 390 px wide phone, and keep a screenshot."""

import json

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

PHONE_WIDTH = 390


def axe_violations(driver, axe_source):
    """axe-core's violations on the current page (WCAG 2.x A and AA rules and axe's
    best practices). Injected through WebDriver, which the page's CSP does not govern."""
    driver.execute_script(axe_source)
    return driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']})
            .then(r => done(r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))))
            .catch(e => done([{id: 'axe-error', help: String(e), nodes: []}]));
        """
    )


def assert_accessible(driver, axe_source):
    violations = axe_violations(driver, axe_source)
    assert violations == [], f"{driver.current_url}: " + json.dumps(violations, indent=1)


def assert_fits_phone(driver):
    """On a phone 390 CSS pixels wide the page has no horizontal scroll (a wide table
    scrolls inside its own box)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE_WIDTH, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    try:
        widths = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth];"
        )
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert widths[0] <= widths[1], f"{driver.current_url}: {widths[0]} px wide at {widths[1]} px"


def check_page(driver, axe_source, shots, name):
    """axe, the phone width and a screenshot (target/browser/NAME.png) for the current page."""
    driver.save_screenshot(str(shots / f"{name}.png"))
    assert_accessible(driver, axe_source)
    assert_fits_phone(driver)


def text(driver):
    return driver.find_element(By.TAG_NAME, "body").text


def wait(driver, seconds=30):
    """A wait that looks again when the page it was reading reloaded under it (the
    import's progress page refreshes itself)."""
    return WebDriverWait(
        driver, seconds, 0.2, ignored_exceptions=(StaleElementReferenceException, WebDriverException)
    )


def navigate(driver, act):
    """Runs `act` (a click or a submit that loads a page) and waits for the new page."""
    old = driver.find_element(By.TAG_NAME, "html")
    act()
    wait(driver).until(expected_conditions.staleness_of(old))
    wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")
