"""The report pages of ``plugins/dossier_reports.py`` as a user sees them: headless Chromium
against a real ``airflow api-server`` (the shared ``api_server`` fixture of tests/conftest.py).

Chromium is driven over the DevTools protocol (``--remote-debugging-port``, through the
``websockets`` client that Airflow's uvicorn already brings), because a page of a running
Airflow is only reachable signed in, and a browser signs in through Airflow's login page: it
posts the user's password to ``POST /auth/token`` and keeps the JWT in the ``_token`` cookie
(``COOKIE_NAME_JWT_TOKEN``), which the browser then sends with every page, the iframe of the
UI's "Dossier reports" view included. The reports are published by the KPI duty's own code
(``kpi.scorecard`` then ``publish_duty_report``) over a seeded company.

The UI shows the view in an iframe sandboxed by Airflow (``allow-scripts allow-same-origin
allow-forms``): no popups, no downloads, no PDF viewer. The index's links therefore open in
the same frame (a ``target="_blank"`` link was dead there); HTML reports open in the view,
PDF and CSV from the page opened in a tab of its own (the menu's second entry).

Screenshots are kept under ``test-artifacts/report-pages/`` (git-ignored; paths printed with
``pytest -s``); with ``DOSSIER_UPDATE_DOCS=1`` the one of the reports inside the Airflow UI
also replaces the README's ``docs/reports-in-airflow.png``. Skipped, with the reason, when
Debian's ``chromium`` is not installed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from sqlalchemy import text

from dossiers.api.report_pages import MEDIA
from dossiers.core import db
from dossiers.reports.model import KINDS, format_value
from dossiers.workflows import staff

if TYPE_CHECKING:
    from conftest import AirflowServer

pytestmark = [pytest.mark.airflow, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "report-pages"
#: The README's screenshot of the reports inside Airflow: rewritten from this test's own
#: screenshot when ``DOSSIER_UPDATE_DOCS=1``, so the documentation shows the current UI.
DOCS_SCREENSHOT = REPO / "docs" / "reports-in-airflow.png"
PREFIX = "/dossier-reports"
DEADLINE_S = 30  # for any one page to load, or a condition on it to hold
T = TypeVar("T")


# --- a small DevTools-protocol client ----------------------------------------------------------


class DevToolsError(Exception):
    """The browser refused a command, or a page's script threw."""


class Chromium:
    """Headless Chromium with one page, driven over the DevTools protocol."""

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", "--window-size=1280,900", "--remote-debugging-port=0")

    def __init__(self, exe: str, profile: Path, log: Path) -> None:
        import httpx
        from websockets.sync.client import connect

        self.log = log
        with log.open("wb") as sink:  # its own process group: its helpers end with it
            self.proc = subprocess.Popen([exe, *self.FLAGS, f"--user-data-dir={profile}",
                                          "about:blank"], stdout=sink, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        try:
            # Chromium writes the port it chose into the profile once it listens.
            active = profile / "DevToolsActivePort"
            port = self._until(lambda: active.exists() and active.read_text().split("\n")[0],
                               "DevTools to listen")
            pages = self._until(lambda: [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list",
                                                              timeout=5).json()
                                         if t["type"] == "page"], "the first page",
                                retry=(httpx.TransportError,))
            self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
            self._id = 0
            self.events: list[dict[str, Any]] = []
            for domain in ("Page", "Network", "Runtime", "Log"):
                self.send(f"{domain}.enable")
        except BaseException:
            self._stop()
            raise

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self._stop()

    def _stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def _until(self, probe: Callable[[], T], what: str,
               retry: tuple[type[Exception], ...] = ()) -> T:
        """Poll ``probe`` until it returns something true (not a fixed wait), at most
        ``DEADLINE_S``; ``retry`` are errors that mean "not yet" (the last one is reported)."""
        deadline = time.monotonic() + DEADLINE_S
        last: Exception | None = None
        while True:
            assert self.proc.poll() is None, f"chromium exited:\n{self.log.read_text()[-2000:]}"
            try:
                found = probe()
            except (OSError, ValueError, *retry) as exc:  # not up yet, half a file, a page unloading
                found, last = None, exc
            if found:
                return found
            assert time.monotonic() < deadline, f"timed out waiting for {what} ({last!r})"
            time.sleep(0.1)

    def _receive(self, timeout: float) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        if "id" not in message:
            self.events.append(message)
        return message

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One command; its result (events that arrive meanwhile are kept in ``events``)."""
        self._id += 1
        ask = self._id
        self.ws.send(json.dumps({"id": ask, "method": method, "params": params}))
        deadline = time.monotonic() + DEADLINE_S
        while True:
            message = self._receive(max(0.1, deadline - time.monotonic()))
            if message.get("id") == ask:
                if "error" in message:
                    raise DevToolsError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def wait_event(self, method: str, since: int = 0) -> dict[str, Any]:
        """The first event ``method`` after ``events[since]``, waiting for it if needed."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            for event in self.events[since:]:
                if event["method"] == method:
                    return event
            since = len(self.events)
            assert time.monotonic() < deadline, f"timed out waiting for {method}"
            self._receive(max(0.1, deadline - time.monotonic()))

    def evaluate(self, expression: str) -> Any:
        """A JavaScript expression's value in the page (JSON-serialisable values)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str) -> Any:
        """Poll a JavaScript expression until it is truthy (the page renders in its own time;
        while it loads, its scripts may not be there yet)."""
        return self._until(lambda: self.evaluate(expression), what, retry=(DevToolsError,))

    def open(self, url: str) -> int:
        """Load ``url`` in the page as a user would (typed in the address bar); its HTTP status."""
        since = len(self.events)
        navigated = self.send("Page.navigate", url=url)
        assert "errorText" not in navigated, navigated
        self.wait_event("Page.loadEventFired", since)
        return self.status(url, since)

    def status(self, url: str, since: int = 0) -> int:
        """The HTTP status of the last page load of ``url`` after ``events[since]``."""
        statuses = [e["params"]["response"]["status"] for e in self.events[since:]
                    if e["method"] == "Network.responseReceived" and e["params"]["type"] == "Document"
                    and e["params"]["response"]["url"] == url]
        assert statuses, f"no page load of {url}"
        return int(statuses[-1])

    def errors(self, since: int = 0) -> list[str]:
        """What the page's console shows as errors (CSP violations, failed loads, exceptions)."""
        return [e["params"]["entry"]["text"] for e in self.events[since:]
                if e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"] + \
               [json.dumps(e["params"]["exceptionDetails"]) for e in self.events[since:]
                if e["method"] == "Runtime.exceptionThrown"]

    def type_into(self, selector: str, value: str) -> None:
        """Focus a field and type into it (real key input: React sees it as a user's)."""
        assert self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                             " if (!e) return false; e.focus(); return true; })()"), selector
        self.send("Input.insertText", text=value)

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """The page as a PNG: all of it (beyond the window), or what the window shows (the
        Airflow UI lays itself out to the window's height)."""
        clip = {}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            clip = {"captureBeyondViewport": True, "clip": {
                "x": 0, "y": 0, "width": max(size["width"], 1280),
                "height": max(size["height"], 900), "scale": 1}}
        shot = self.send("Page.captureScreenshot", format="png", **clip)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        print(f"\nscreenshot: {path}")
        return path


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Chromium]:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("chromium is not installed (make system-deps: Debian's chromium)")
    browser = Chromium(exe, tmp_path / "chromium-profile", tmp_path / "chromium.log")
    try:
        yield browser
    finally:
        browser.close()


# --- what is published, and what a page looks like --------------------------------------------

#: The KPI duty's runs the reports come from: (scorecard kind, first day, report kind).
RUNS = (("month", date(2026, 10, 1), "kpi_monthly"), ("month", date(2026, 11, 1), "kpi_monthly"),
        ("quarter", date(2026, 7, 1), "kpi_quarterly"))


@pytest.fixture
def published(api_server: AirflowServer) -> dict[tuple[str, str], dict[str, Any]]:
    """A seeded company's KPI scorecards, published into the server's report store by the
    duty's own code; the scorecards' figures by (report kind, period)."""
    from dossiers.duties import kpi
    from dossiers.local.seed import seed_company
    from dossiers.reports.duty_reports import publish_duty_report
    from dossiers.reports.store import open_store

    seed_company(clients=40, seed=5, today=date(2026, 12, 1))
    with db.transaction() as conn:  # the reader: a manager (report.read), onboarded by CS
        head = conn.execute(text("SELECT s.username FROM staff s JOIN staff_role r ON "
                                 "r.staff_id = s.id WHERE r.role = 'cs_head'")).scalar_one()
        staff.add(conn, head, "mgmt.wu", "management", ["management"])
    store = open_store(str(api_server.report_store))
    cards = {}
    for scorecard, start, kind in RUNS:
        with db.transaction() as conn:
            card = kpi.scorecard(conn, scorecard, start)
            assert len(publish_duty_report(kind, card["period"], card, conn=conn, store=store)) == 3
        cards[(kind, card["period"])] = card
    with db.transaction() as conn:
        assert conn.execute(text("SELECT count(*) FROM report")).scalar_one() == 3 * len(RUNS)
    return cards


def title(kind: str) -> str:
    """A report kind's title as the pages show it: Chinese, then English."""
    label = KINDS[kind][0]
    return f"{label.zh} {label.en}"


def assert_drawn(png: Path, *, min_colours: int = 16) -> None:
    """A real screenshot: wide as the window, tall enough, and not one flat colour."""
    from PIL import Image

    assert png.stat().st_size > 10_000, png
    with Image.open(png) as image:
        assert image.width >= 1280 and image.height >= 600, image.size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    assert len(colours) >= min_colours, f"{png}: {len(colours)} colours"
    background = max(count for count, _ in colours)
    assert background < 0.98 * image.width * image.height, f"{png}: almost one colour"


ROWS_JS = """[...document.querySelectorAll('tbody tr')].map(tr => ({
    latest: tr.classList.contains('latest'),
    cells: [...tr.cells].map(td => td.innerText.trim()),
    links: Object.fromEntries([...tr.querySelectorAll('a')].map(a => [a.innerText, a.href]))}))"""


# --- the test ---------------------------------------------------------------------------------


def test_a_user_reads_the_reports_in_airflow(chromium: Chromium, api_server: AirflowServer,
                                             published: dict[tuple[str, str], dict[str, Any]]) -> None:
    # (chromium first: without it the test is skipped before Airflow starts)
    base = api_server.base
    index = f"{base}{PREFIX}/"

    # Not signed in (Airflow mounts the app as it is; the app asks Airflow who the user is):
    # a browser is sent to Airflow's login page, to come back after it; a client that does
    # not ask for a page gets a 401 with the reason (test_reports.py).
    assert "errorText" not in chromium.send("Page.navigate", url=f"{base}{PREFIX}/latest/kpi_monthly")
    assert chromium.wait_for("location.pathname === '/auth/login' && location.search", "login") == \
        f"?next={PREFIX}/latest/kpi_monthly"
    assert "errorText" not in chromium.send("Page.navigate", url=index)
    chromium.wait_for(f"location.search === '?next={PREFIX}/' && "
                      "!!document.querySelector('form input[name=password]')", "the login form")
    chromium.type_into("input[name=username]", "mgmt.wu")
    chromium.type_into("input[name=password]", api_server.passwords["mgmt.wu"])
    chromium.wait_for("!document.querySelector('button[type=submit]').disabled", "Sign in enabled")
    since = len(chromium.events)
    chromium.evaluate("document.querySelector('button[type=submit]').click()")
    chromium.wait_for(f"location.href === {json.dumps(index)} && document.readyState === 'complete'"
                      " && !!document.querySelector('tbody tr')", "the reports page")
    assert chromium.status(index, since) == 200
    # what let the browser in: the JWT the login page got, in Airflow's session cookie
    cookies = {c["name"]: c for c in chromium.send("Network.getCookies", urls=[index])["cookies"]}
    assert "_token" in cookies and cookies["_token"]["path"] == "/"

    # (a) The index: one line per kind and period, titles in Chinese and English, newest
    # period of each kind first and marked, every format linked under the plugin's mount.
    assert chromium.evaluate("document.querySelector('h1').innerText") == "檔案報告 Dossier reports"
    assert "mgmt.wu" in chromium.evaluate("document.body.innerText")  # who is signed in
    rows = chromium.evaluate(ROWS_JS)
    listed = [(r["cells"][0], r["cells"][1]) for r in rows]
    assert sorted(listed) == sorted((title(kind), period) for kind, period in published)
    assert [period for _, period in listed] == ["2026-11", "2026-10", "2026-Q3"]  # newest first
    assert {(r["cells"][1], r["latest"]) for r in rows} == \
        {("2026-11", True), ("2026-10", False), ("2026-Q3", True)}
    for r in rows:
        assert set(r["links"]) == {"PDF", "CSV", "HTML"}, r
        assert all(href.startswith(f"{base}{PREFIX}/reports/") for href in r["links"].values())
    assert not chromium.errors(since), chromium.errors(since)
    assert_drawn(chromium.screenshot(ARTIFACTS / "index.png"))

    # (b) One report, its HTML link followed: title and figures in Chinese and English.
    [november] = [r for r in rows if r["cells"][1] == "2026-11"]
    since = len(chromium.events)
    assert chromium.open(november["links"]["HTML"]) == 200
    assert chromium.evaluate("document.title") == f"{title('kpi_monthly')} 2026-11"
    h1 = chromium.evaluate("document.querySelector('h1').innerText")  # English on its own line
    assert h1.split("\n") == [KINDS["kpi_monthly"][0].zh, KINDS["kpi_monthly"][0].en]
    card = published[("kpi_monthly", "2026-11")]
    figures = {row[0]: row[1:] for row in chromium.evaluate(
        "[...document.querySelectorAll('main table')[0].querySelectorAll('tbody tr')]"
        ".map(tr => [...tr.cells].map(td => td.innerText.trim()))")}
    creation = card["creation_timeliness"]
    assert creation["total"] > 0  # the seed's November has new dossiers
    assert figures["建檔及時率 Creation timeliness"][:2] == \
        [str(creation["total"]), format_value(creation["rate"], "percent")]
    text_ = chromium.evaluate("document.body.innerText")
    for expected in ("主要數字", "Key figures", "期間", "Period", "依據條款", "Art. 22",
                     "附錄：數據來源", "Appendix: sources of the figures", "kpi_month/2026-11"):
        assert expected in text_, expected
    assert not chromium.errors(since), chromium.errors(since)  # nothing the CSP blocked
    assert_drawn(chromium.screenshot(ARTIFACTS / "kpi_monthly-2026-11.png"))

    # (c) The same index inside Airflow's own UI, found as a user finds it: the "Dossier
    # reports" entry of the Browse menu shows it in an iframe; its HTML links open there.
    assert chromium.open(f"{base}/") == 200
    # outside the sandboxed view (the page's own CSP allows no fetch), every file of a report
    # comes to the signed-in browser with its type
    fetched = {fmt: chromium.evaluate(
        f"fetch({json.dumps(href)}).then(r => [r.status, r.headers.get('content-type')])")
        for fmt, href in rows[0]["links"].items()}
    assert {fmt: (status, kind.split(";")[0]) for fmt, (status, kind) in fetched.items()} == {
        "PDF": (200, MEDIA["pdf"]), "CSV": (200, MEDIA["csv"]), "HTML": (200, "text/html")}, fetched
    browse = "[...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Browse')"
    chromium.wait_for(f"!!{browse}", "the UI's navigation")
    chromium.evaluate(f"{browse}.click()")
    entry = "document.querySelector('a[role=menuitem][data-value=\"Dossier reports 檔案報告\"]')"
    assert chromium.wait_for(f"{entry}?.getAttribute('href')", "the view in the Browse menu") == \
        "/plugin/dossier-reports"
    chromium.evaluate(f"{entry}.click()")
    frame = "document.querySelector('iframe[title=\"Dossier reports 檔案報告\"]')"
    assert chromium.wait_for(
        f"{frame}?.contentDocument?.readyState === 'complete' && "
        f"{frame}.contentDocument.querySelectorAll('tbody tr').length", "the view's iframe") == 3
    assert chromium.evaluate("location.pathname") == "/plugin/dossier-reports"
    assert chromium.evaluate(f"{frame}.contentDocument.location.href") == index
    assert chromium.evaluate(f"{frame}.contentDocument.querySelector('h1').innerText") == \
        "檔案報告 Dossier reports"
    in_airflow = chromium.screenshot(ARTIFACTS / "airflow-ui-dossier-reports.png", full_page=False)
    assert_drawn(in_airflow)
    if os.environ.get("DOSSIER_UPDATE_DOCS") == "1":
        assert in_airflow.stat().st_size < 300_000, "too heavy for the README: crop or compress"
        shutil.copyfile(in_airflow, DOCS_SCREENSHOT)
        print(f"\nREADME screenshot updated: {DOCS_SCREENSHOT}")

    # The UI's iframe is sandboxed without allow-popups: a link that opened a new window
    # would be blocked (and logged), so the report opens in the frame itself.
    since = len(chromium.events)
    chromium.evaluate(f"[...{frame}.contentDocument.querySelectorAll('tbody tr')]"
                      ".find(tr => tr.cells[1].innerText.trim() === '2026-11')"
                      ".querySelector('a[href$=\"/reports/" + november["links"]["HTML"].rsplit("/", 1)[1]
                      + "\"]').click()")
    shown = json.dumps(f"{title('kpi_monthly')} 2026-11")
    assert chromium.wait_for(f"{frame}.contentDocument?.readyState === 'complete' && "
                             f"{frame}.contentDocument.title === {shown} && "
                             f"{frame}.contentDocument.location.href",
                             "the report in the view") == november["links"]["HTML"]
    assert not chromium.errors(since), chromium.errors(since)
    assert "建檔及時率 Creation timeliness" in chromium.evaluate(
        f"{frame}.contentDocument.body.innerText")
    assert_drawn(chromium.screenshot(ARTIFACTS / "airflow-ui-kpi_monthly-2026-11.png",
                                     full_page=False))

    # The second entry of the menu opens the same page in a tab (no iframe): there the PDF
    # and CSV files open, which the sandboxed view blocks.
    chromium.evaluate(f"{browse}.click()")
    tab = ("document.querySelector('a[role=menuitem]"
           "[data-value=\"Dossier reports, new tab (PDF, CSV) 檔案報告（新分頁）\"]')")
    assert chromium.wait_for(f"{tab}?.getAttribute('href')", "the new-tab entry") == f"{PREFIX}/"
    assert chromium.evaluate(f"{tab}.getAttribute('target')") == "_blank"
