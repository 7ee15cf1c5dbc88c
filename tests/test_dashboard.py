"""The dashboard: its checks, link, money and comparison; then end to end in a real headless Chromium.

The server is started here with ``clustersim.viz.app.main`` (what ``clustersim-dashboard``
runs) on a free 127.0.0.1 port; nothing is fetched from outside the machine.
"""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from clustersim.viz.compare import comparison_view, comparison_zip, run_comparison
from clustersim.viz.scenario import (
    MONEY_PARTS,
    DashboardModel,
    Scenario,
    field_errors,
    from_query,
    group_options,
    money,
    notes,
    to_query,
)

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
WAIT = 120  # seconds for anything the page does on a busy 2-core machine
SMALL = Scenario(population="small", replications="3")

browser = pytest.mark.skipif(
    not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
    reason="needs Debian's Chromium: apt-get install -y chromium chromium-driver (/usr/bin/chromium absent)",
)


# ------------------------------------------------------------------ without a browser
def test_every_option_has_a_human_name():
    for group in ("clusters", "funding", "staffing", "population"):
        for option in group_options(group):
            assert notes().option(group, option) != option, f"{group}={option} has no label in conf/report/"


def test_every_invalid_field_is_flagged_at_once_in_plain_words():
    bad = replace(SMALL, seed="abc", cmo_grant_eur="5 million", setup_fte="1e9", run_fte="-2", replications="1")
    errors = field_errors(bad)
    assert set(errors) == {"seed", "cmo_grant_eur", "setup_fte", "run_fte", "replications"}
    assert errors["cmo_grant_eur"] == (
        "Type a number in digits from EUR 0 to EUR 50,000,000, e.g. 5000000 (you typed '5 million')."
    )
    assert errors["setup_fte"] == "Type a number from 0 FTE to 100 FTE (you typed 1e9)."
    assert "from 0 to 4,294,967,295" in errors["seed"] and "from 2 to 20" in errors["replications"]
    assert not any("staffing." in m or "funding." in m or "allowed:" in m for m in errors.values())
    assert field_errors(replace(SMALL, cmo_grant_eur="7,500,000", run_fte=" 14 ")) == {}
    same = field_errors(replace(SMALL, treatment=SMALL.baseline))
    assert set(same) == {"treatment"} and "other than the reference" in same["treatment"]


def test_a_link_holds_the_whole_scenario():
    s = replace(SMALL, page="explore", funding="erdf_double", seed="7", run_fte="14")
    query = to_query(s)
    assert "funding=erdf_double" in query and "page=explore" in query and "staffing" not in query  # defaults left out
    assert from_query(query) == s and from_query("?" + query) == s
    assert from_query("bogus=1&seed=3") == replace(Scenario(), seed="3")


def test_the_public_money_adds_up_every_month():
    model = DashboardModel(**replace(SMALL, clusters="reform").as_params())
    for _ in range(120):
        model.step()
    frame = money(model)
    assert len(frame) == 120
    parts = frame[list(MONEY_PARTS)].sum(axis=1)
    assert (parts - frame["allocated"]).abs().max() < 0.005  # to the cent
    # the calls' money is on screen: once calls open, the Region's balance falls and the calls hold it
    assert (
        frame["In calls, not (yet) awarded"].max() > 0
        and frame["With the Region, not yet paid out"].iloc[-1] < (frame["allocated"].iloc[-1])
    )


def test_a_comparison_reports_progress_and_can_be_cancelled():
    seen: list[float] = []
    stopped = run_comparison(SMALL, progress=lambda share, _text: seen.append(share), stop=lambda: len(seen) >= 5)
    assert stopped is None and len(seen) == 5  # it stopped at the first check after being asked
    seen.clear()
    result = run_comparison(replace(SMALL, replications="2"), progress=lambda share, _text: seen.append(share))
    assert result is not None and seen == sorted(seen) and seen[-1] == 1.0
    assert len(result.wide) == 4 and sorted(result.wide["clusters"].unique()) == sorted({"twelve", "reform"})
    view = comparison_view(result, notes())
    assert (view["effects"]["n_pairs"] == 2).all()
    assert "2 paired replications" in view["paragraph"]
    where = view["where"]
    assert ((where[list(MONEY_PARTS)].sum(axis=1) - where["allocated"]).abs() < 0.01).all()
    with zipfile.ZipFile(io.BytesIO(comparison_zip(result, view))) as z:
        names = set(z.namelist())
        assert {"README.txt", "effects.csv", "summary.csv", "monthly.csv", "money.csv"} <= names
        assert {f"config_{a}.yaml" for a in result.arms} <= names
        assert "replication=range(0,2)" in z.read("README.txt").decode()


# ------------------------------------------------------------------ in the browser
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(port: int, log: Path) -> subprocess.Popen:
    code = "import sys; from clustersim.viz.app import main; sys.exit(main(sys.argv[1:]))"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + WAIT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the dashboard server exited ({proc.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the dashboard server did not answer within {WAIT} s:\n{log.read_text()}")
        time.sleep(0.5)


def test_stopping_the_command_leaves_nothing_listening(tmp_path):
    port = free_port()
    proc = start(port, tmp_path / "server.log")
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert children == []  # the command is the server: no child left behind when it stops
    proc.send_signal(signal.SIGTERM)  # this process only, as a service manager would
    assert proc.wait(timeout=30) is not None
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The dashboard served by ``main()`` on a free port; stopped afterwards."""
    log = tmp_path_factory.mktemp("dashboard") / "server.log"
    port = free_port()
    proc = start(port, log)
    try:
        yield f"http://127.0.0.1:{port}/", log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def driver(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    drv.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    drv.set_page_load_timeout(WAIT)
    drv.downloads = downloads
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


def texts(drv, css: str) -> list[str]:
    return read_fresh(lambda: [e.text for e in drv.find_elements("css selector", css)])


def status(drv) -> str:
    return " ".join(texts(drv, ".cs-status"))


def body(drv) -> str:
    return read_fresh(lambda: drv.find_element("tag name", "body").text)


def image_src(drv, css: str) -> str:
    def read() -> str:
        found = drv.find_elements("css selector", f"{css} img")
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


def button_enabled(drv, text: str) -> bool:
    def read() -> bool:
        for element in drv.find_elements("css selector", "button"):
            if element.text.strip().upper() == text.upper():
                return element.is_enabled() and "v-btn--disabled" not in (element.get_attribute("class") or "")
        return False

    return read_fresh(read)


def field_value(drv, name: str) -> str:
    def read() -> str:
        found = drv.find_elements("css selector", f".cs-field-{name} input")
        return (found[0].get_attribute("value") or "") if found else ""

    return read_fresh(read)


def select_text(drv, name: str) -> str:
    return " ".join(texts(drv, f".cs-field-{name} .v-select__selection"))


def messages(drv, field: str) -> str:
    return " ".join(texts(drv, f".cs-field-{field} .v-messages__message"))


def type_into(drv, field: str, text: str, until, what: str) -> None:
    """Type ``text`` into a field as a person would, press Enter, and wait for ``until`` (retyping if swept away)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    css = f".cs-field-{field} input"

    def type_once() -> None:
        wait_for(drv, lambda d: d.find_elements("css selector", css), f"the {field} field")

        def type_text() -> None:
            box = drv.find_element("css selector", css)
            box.click()
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys(Keys.BACKSPACE)
            box.send_keys(text)

        read_fresh(type_text)
        wait_for(drv, lambda d: d.find_element("css selector", css).get_attribute("value") == text, "typing")
        read_fresh(lambda: drv.find_element("css selector", css).send_keys(Keys.ENTER))

    for _ in range(2):
        type_once()
        try:
            return WebDriverWait(drv, WAIT / 4, poll_frequency=0.25).until(lambda d: read_fresh(lambda: until(d)))
        except TimeoutException:
            continue
    type_once()
    return wait_for(drv, until, what)


def choose(drv, field: str, label: str) -> None:
    """Open a list and pick an option by the name a person reads."""
    read_fresh(lambda: drv.find_element("css selector", f".cs-field-{field} .v-select__slot").click())
    click_text(drv, ".menuable__content__active .v-list-item", label)


@browser
@pytest.mark.slow
@pytest.mark.xdist_group("services")
def test_dashboard_in_chromium(server, driver, tmp_path):
    url, log = server
    started = time.monotonic()
    driver.get(url + "?population=small&replications=3&seed=7")

    # named pages, the link's choices in the fields, no developer controls
    wait_for(driver, lambda d: "COMPARE TWO SET-UPS" in body(d).upper(), "the page to load")
    for tab in ("Compare two set-ups", "Watch one run", "Caveats and method"):
        assert tab.upper() in body(driver).upper()
    wait_for(driver, lambda d: field_value(d, "seed") == "7", "the seed from the link")
    assert "Small test population" in select_text(driver, "population")
    page = body(driver)
    for developer in ("Play Interval", "Use Threads", "PAGE 0", "PAGE 1", "erdf_5m", "setup6_run21"):
        assert developer.upper() not in page.upper(), developer

    # three wrong fields at once: each flagged in words with its range, nothing runs
    type_into(driver, "seed", "abc", lambda d: "whole number from 0" in messages(d, "seed"), "the seed message")
    type_into(driver, "cmo_grant_eur", "5 million", lambda d: "EUR 50,000,000" in messages(d, "cmo_grant_eur"), "€")
    type_into(driver, "setup_fte", "1e9", lambda d: "0 FTE to 100 FTE" in messages(d, "setup_fte"), "the staff message")
    wait_for(driver, lambda d: "3 field(s) need a change" in " ".join(texts(d, ".cs-errors")), "the summary")
    assert "whole number from 0" in messages(driver, "seed")  # the first message is still there
    assert not button_enabled(driver, "Run comparison")
    assert "staffing.setup_fte" not in body(driver) and "allowed:" not in body(driver)
    driver.save_screenshot(str(tmp_path / "dashboard-invalid.png"))
    for field, value in (("seed", "7"), ("cmo_grant_eur", ""), ("setup_fte", "")):
        type_into(
            driver, field, value, lambda d, f=field: "Type a" not in messages(d, f), f"the {field} message to clear"
        )
    wait_for(driver, lambda d: not texts(d, ".cs-errors"), "the summary to go")

    # a budget chosen by its name; the address follows
    choose(driver, "funding", "EUR 10M for cluster managers")
    wait_for(driver, lambda d: "funding=erdf_double" in d.current_url, "the address to hold the budget")

    # the comparison runs in the background: progress, cancel, run again to the end
    click_text(driver, "button", "Run comparison")
    wait_for(driver, lambda d: any(t.startswith("Running") for t in texts(d, ".cs-progress")), "the progress")
    click_text(driver, "button", "Cancel")
    wait_for(driver, lambda d: any(t.startswith("Cancelled") for t in texts(d, ".cs-progress")), "the cancel")
    click_text(driver, "button", "Run comparison")
    wait_for(driver, lambda d: "Member firms" in " ".join(texts(d, ".cs-effects")), "the comparison's effects")
    assert "3 paired replications" in " ".join(texts(driver, ".cs-compare-result"))
    wait_for(driver, lambda d: image_src(d, ".cs-chart-compare"), "the paths figure")

    # money that adds up on screen: the parts' total equals the budget in each row
    rows = read_fresh(lambda: driver.find_elements("css selector", ".cs-money tr"))
    header = [c.text for c in rows[0].find_elements("css selector", "th")]
    for row in rows[1:]:
        cells = dict(zip(header, [c.text for c in row.find_elements("css selector", "td")], strict=True))
        assert cells["Total"] == cells["Budget of the run"] and cells["Total"].startswith("EUR")

    # the results and configurations download as one archive
    click_text(driver, "button", "Download the results and configurations (ZIP)")
    archive = driver.downloads / "clustersim-comparison.zip"
    wait_for(driver, lambda d: archive.is_file() and zipfile.is_zipfile(archive), "the download")
    with zipfile.ZipFile(archive) as z:
        assert {"effects.csv", "summary.csv", "money.csv", "README.txt"} <= set(z.namelist())
        assert "funding=erdf_double" in z.read("README.txt").decode()

    # a link reproduces the scenario
    link = driver.current_url
    driver.get(link)
    wait_for(driver, lambda d: "EUR 10M" in select_text(d, "funding"), "the budget from the link")
    assert field_value(driver, "seed") == "7"

    # one run, month by month, with the money where it is
    click_text(driver, ".v-tab", "Watch one run")
    wait_for(driver, lambda d: "simulated 0 of 144" in status(d), "the one-run page")
    wait_for(driver, lambda d: "page=explore" in d.current_url, "the address to hold the page")
    before = image_src(driver, ".cs-chart-money")
    click_text(driver, "button", "Run 12 months")
    wait_for(driver, lambda d: "simulated 12 of 144" in status(d), "12 months")
    wait_for(driver, lambda d: image_src(d, ".cs-chart-money") != before, "the money chart to update")
    wait_for(driver, lambda d: "money: month 12" in body(d), "the charts' month")
    click_text(driver, "button", "Run to the end")
    wait_for(driver, lambda d: "simulated 144 of 144" in status(d), "the run to the end")
    driver.save_screenshot(str(tmp_path / "dashboard.png"))

    assert "Traceback" not in log.read_text()
    print(f"browser test took {time.monotonic() - started:.1f} s; screenshots in {tmp_path}")
