"""The dashboard end to end in a real headless Chromium (Debian's), driven by selenium.

The server is started here with ``clustersim.viz.app.main`` (what ``clustersim-dashboard``
runs) on a free 127.0.0.1 port; nothing is fetched from outside the machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from clustersim.config import ConfigError
from clustersim.viz.scenario import DashboardModel, Scenario, field_of, validate

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1600,1200",
]
WAIT = 90  # seconds for anything the page does (a fresh model is three configurations)

browser = pytest.mark.skipif(
    not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
    reason="needs Debian's Chromium: apt-get install -y chromium chromium-driver (/usr/bin/chromium absent)",
)


# ------------------------------------------------------------------ without a browser
def test_model_keeps_paired_arms_in_lockstep():
    model = DashboardModel(**Scenario(clusters="seven", population="small").as_params())
    assert set(model.pair) == {"twelve", "reform"}
    for _ in range(3):
        model.step()
    assert model.months_done == 3
    assert all(len(sim.recorder.rows) == 3 for sim in model.pair.values())


def test_invalid_numbers_name_their_control():
    with pytest.raises(ConfigError) as info:
        validate(Scenario(population="small", cmo_grant_eur="-5"))
    assert field_of(info.value) == "cmo_grant_eur"
    assert "allowed: a number from 0 to 1,000,000,000,000" in str(info.value)
    with pytest.raises(ConfigError) as info:
        DashboardModel(**Scenario(population="small", run_fte="-2").as_params())
    assert field_of(info.value) == "run_fte"


# ------------------------------------------------------------------ in the browser
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The dashboard served by ``main()`` on a free port; stopped (its process group) afterwards."""
    port = free_port()
    log = tmp_path_factory.mktemp("dashboard") / "server.log"
    code = "import sys; from clustersim.viz.app import main; sys.exit(main(sys.argv[1:]))"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the dashboard server exited ({proc.returncode}):\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the dashboard server did not answer within 120 s:\n{log.read_text()}")
            time.sleep(0.5)
        yield url, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def driver(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    drv.set_page_load_timeout(WAIT)
    try:
        yield drv
    finally:
        drv.quit()


def wait_for(drv, condition, what: str, timeout: float = WAIT):
    """Wait until ``condition(drv)`` is truthy; an element re-rendered meanwhile (stale) is retried."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(
            drv, timeout, poll_frequency=0.25, ignored_exceptions=[StaleElementReferenceException]
        ).until(lambda d: condition(d))
    except TimeoutException:
        body = drv.find_element("tag name", "body").text
        pytest.fail(f"timed out waiting for {what}; page text:\n{body[:3000]}")


def read_fresh(read, attempts: int = 20):
    """Read from the page, retrying when Solara re-renders the element between finding and reading it."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(attempts - 1):
        try:
            return read()
        except StaleElementReferenceException:
            time.sleep(0.1)
    return read()


def status(drv) -> str:
    def read() -> str:
        found = drv.find_elements("css selector", ".cs-status")
        return found[0].text if found else ""

    return read_fresh(read)


def image_src(drv, chart: str) -> str:
    def read() -> str:
        found = drv.find_elements("css selector", f".cs-chart-{chart} img")
        return (found[0].get_attribute("src") or "") if found else ""

    return read_fresh(read)


def click_text(drv, css: str, text: str) -> None:
    """Click the first enabled element matching ``css`` whose text reads ``text`` (retried if re-rendered)."""

    def attempt(d) -> bool:
        for element in d.find_elements("css selector", css):
            if element.text.strip().upper() == text.upper() and element.is_enabled():
                element.click()
                return True
        return False

    wait_for(drv, attempt, f"{text!r} to click")


def type_into(drv, field: str, text: str, until, what: str) -> None:
    """Type ``text`` into a field as a person would, press Enter, and wait for ``until``.

    A person whose typing is swept away by the page re-rendering (a restart in progress on a
    busy machine) types again; so does this, up to three times, before failing.
    """
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    for _ in range(2):
        type_once(drv, field, text)
        try:
            return WebDriverWait(drv, WAIT / 3, poll_frequency=0.25).until(lambda d: read_fresh(lambda: until(d)))
        except TimeoutException:
            continue
    type_once(drv, field, text)
    return wait_for(drv, until, what)


def type_once(drv, field: str, text: str) -> None:
    """Type ``text`` into a field, wait for the browser to hold it, then press Enter."""
    from selenium.webdriver.common.keys import Keys

    css = f".cs-{field} input"
    wait_for(drv, lambda d: d.find_elements("css selector", css), f"the {field} field")

    def type_text() -> None:
        box = drv.find_element("css selector", css)
        box.click()
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.BACKSPACE)
        box.send_keys(text)

    read_fresh(type_text)
    # the browser syncs the typed text to the server as it goes; Enter then reads it there
    wait_for(drv, lambda d: d.find_element("css selector", css).get_attribute("value") == text, "typing")
    time.sleep(0.5)
    read_fresh(lambda: drv.find_element("css selector", css).send_keys(Keys.ENTER))


def messages(drv, field: str) -> str:
    return read_fresh(
        lambda: " ".join(e.text for e in drv.find_elements("css selector", f".cs-{field} .v-messages__message"))
    )


@browser
def test_dashboard_in_chromium(server, driver, tmp_path):
    url, log = server
    started = time.monotonic()
    driver.get(url)

    # the page loads: scenario controls, Mesa's controller and the charts, all served locally
    wait_for(driver, lambda d: "simulated 0 of 144" in status(d), "the page to load")
    wait_for(driver, lambda d: image_src(d, "members") and image_src(d, "network"), "the charts")
    wait_for(driver, lambda d: "12 clusters, erdf_5m, setup6_run21, seed 1" in status(d), "the default scenario")

    # change a control: 7 clusters from the start
    click_text(driver, ".cs-clusters button", "seven")
    wait_for(driver, lambda d: status(d).startswith("7 clusters"), "the 7-cluster scenario")

    # advance the run: a year with our button, one month with Mesa's Step; the charts follow
    before = image_src(driver, "members")
    click_text(driver, ".cs-run-year, button", "Run 12 months")
    wait_for(driver, lambda d: "simulated 12 of 144" in status(d), "12 months")
    wait_for(driver, lambda d: image_src(d, "members") != before, "the members chart to update")
    click_text(driver, "button", "Step")
    wait_for(driver, lambda d: "simulated 13 of 144" in status(d), "Mesa's Step")
    wait_for(driver, lambda d: d.find_elements("xpath", "//*[contains(text(), 'members: month 13')]"), "month 13")

    # an invalid budget: the configuration's message beside the field, the model as it was
    refused = "allowed: a number from 0 to"
    type_into(driver, "cmo_grant_eur", "-5", lambda d: refused in messages(d, "cmo_grant_eur"), "the message")
    wait_for(driver, lambda d: "erdf_2014_2020.cmo_grant_eur" in messages(d, "cmo_grant_eur"), "the key")
    wait_for(driver, lambda d: status(d).startswith("7 clusters") and "simulated 13 of 144" in status(d), "same state")
    driver.save_screenshot(str(tmp_path / "dashboard-invalid.png"))

    # a valid budget restarts the run; negative staff is refused beside its own field
    type_into(driver, "cmo_grant_eur", "7.5e6", lambda d: not messages(d, "cmo_grant_eur"), "the message to clear")
    wait_for(driver, lambda d: "simulated 0 of 144" in status(d), "the restart")
    type_into(driver, "run_fte", "-2", lambda d: "staffing.run_fte" in messages(d, "run_fte"), "the staffing message")
    wait_for(driver, lambda d: "simulated 0 of 144" in status(d), "the model as it was")
    body = read_fresh(lambda: driver.find_element("tag name", "body").text)
    assert "Traceback" not in body

    # the paired view (Page 1) draws 12 vs 7 from the same history
    type_into(driver, "run_fte", "", lambda d: not messages(d, "run_fte"), "the staffing message to clear")
    network = image_src(driver, "network")
    click_text(driver, ".cs-run-end, button", "Run to end")
    wait_for(driver, lambda d: "simulated 144 of 144" in status(d), "the run to the end")
    wait_for(driver, lambda d: "network: month 144" in d.find_element("tag name", "body").text, "final charts")
    wait_for(driver, lambda d: image_src(d, "network") != network, "the network picture to update")
    driver.save_screenshot(str(tmp_path / "dashboard.png"))
    click_text(driver, ".v-tab", "Page 1")
    wait_for(driver, lambda d: image_src(d, "paired"), "the paired view")
    driver.save_screenshot(str(tmp_path / "dashboard-paired.png"))

    assert "Traceback" not in log.read_text()
    print(f"browser test took {time.monotonic() - started:.1f} s; screenshots in {tmp_path}")
