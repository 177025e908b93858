"""The operator console in a real browser: headless Chromium (Debian's ``chromium``,
driven by Playwright with ``executable_path``; never ``playwright install``) against a
real worker and broker. Each step saves a screenshot in the test's output directory."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import report_line
from tests.integration.console import SCRIPT, suspended_with_an_appeal
from tests.integration.http import call

pytestmark = pytest.mark.integration



@pytest_asyncio.fixture
async def chromium() -> AsyncIterator[Browser]:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Chromium is missing: run 'sudo apt-get install chromium' (./dev test "
                    "installs it when run as root)")  # fmt: skip
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        report_line(f"browser: the console's tests drove Chromium {browser.version} ({path}) "
                    f"with Playwright {version('playwright')}")  # fmt: skip
        try:
            yield browser
        finally:
            await browser.close()


async def log_in(page: Page, base: str, token: str, shots: Path, name: str) -> None:
    await page.goto(f"{base}/console/accounts/acme")  # redirected to the login
    await page.fill("input[name=token]", token)
    await page.screenshot(path=shots / f"{name}-login.png")
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/accounts/acme")


async def test_the_console_in_a_browser(worker_factory, pipeline, tmp_path, chromium) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    case = await suspended_with_an_appeal(worker_factory, pipeline, tmp_path)
    base, alice, vera = case.base, case.alice, case.vera
    view = (await call(base, "GET", "/accounts/acme", vera)).json()["channels"]["marketing"]

    context = await chromium.new_context()
    page = await context.new_page()
    await log_in(page, base, alice, shots, "alice")
    await page.screenshot(path=shots / "case.png", full_page=True)
    marketing = page.locator("section[data-channel=marketing]")
    assert await marketing.locator("span.state-suspended").inner_text() == view["state"]
    complaints = marketing.locator("tr", has=page.locator("th", has_text="abuse_complaints"))
    assert await complaints.locator("td").inner_text() == str(
        view["counts"]["abuse_complaints"]
    )
    chart = marketing.locator("svg[data-rate=hard_bounce_rate]")
    assert await chart.locator("line[data-limit=warn]").get_attribute("data-value") == "0.02"
    assert await chart.locator("line[data-limit=suspend]").get_attribute("data-value") == "0.05"
    # The account's <script> is text on the page, and never ran.
    await page.locator("details summary").click()
    assert SCRIPT in await page.locator("section.appeal pre").inner_text()
    assert await page.title() == "Account acme · Sendguard"

    verdict = marketing.locator("p.shadow-differs")
    assert "lenient" in await verdict.inner_text()
    assert await verdict.get_attribute("data-shadow-state") == "active"
    shadow_list = await context.new_page()
    await shadow_list.goto(f"{base}/console/shadow")
    differs = shadow_list.locator("tr.differs")
    assert [await c.inner_text() for c in await differs.locator("td").all()][:4] == [
        "acme", "marketing", "suspended", "abuse_complaint"]
    await shadow_list.screenshot(path=shots / "shadow.png", full_page=True)
    await shadow_list.close()

    # The queue, filtered in the URL: a view to share.
    queue = await context.new_page()
    await queue.goto(f"{base}/console/appeals?queue=deliverability&channel=marketing")
    for _ in range(50):  # the worker reads the appeals topic a moment after the filing
        if await queue.locator("#count").inner_text() == "1":
            break
        await queue.wait_for_timeout(200)
        await queue.reload()
    assert await queue.locator(f"tr[data-appeal='{case.appeal_id}']").count() == 1
    assert await queue.locator("select[name=queue]").input_value() == "deliverability"
    await queue.screenshot(path=shots / "queue.png", full_page=True)
    await queue.close()

    # A second tab, opened now, decides late.
    late = await context.new_page()
    await late.goto(f"{base}/console/accounts/acme")

    await page.click("form.decide button[value=deny]")  # no note
    assert "note: a note is required" in await page.locator(".error").inner_text()
    await page.screenshot(path=shots / "deny-without-note.png", full_page=True)

    await page.fill("form.decide textarea[name=note]", "list cleaned, double opt-in")
    await page.click("form.decide button[value=restore]")
    await page.wait_for_url("**/console/accounts/acme?decided=restore")
    await page.screenshot(path=shots / "restored.png", full_page=True)
    assert await marketing.locator("span.state-active").inner_text() == "active"
    probation = marketing.locator("tr", has=page.locator("th", has_text="probation until"))
    assert (await probation.locator("td").inner_text()).startswith("20")
    decided = marketing.locator("tr", has=page.locator("th", has_text="decided by"))
    assert await decided.locator("td").inner_text() == "alice"

    await late.fill("form.decide textarea[name=note]", "looks fine to me")
    await late.click("form.decide button[value=deny]")
    await late.screenshot(path=shots / "late-second-tab.png", full_page=True)
    assert "Already decided by alice at " in await late.locator(".error").inner_text()

    audit = await context.new_page()
    for _ in range(50):
        await audit.goto(f"{base}/console/audit")
        if await audit.locator("tr.audit", has_text="restored").count():
            break
        await audit.wait_for_timeout(200)
    row = audit.locator("tr.audit", has_text="restored")
    assert [await c.inner_text() for c in await row.locator("td").all()][1:3] == [
        "alice", "restored"]
    await audit.screenshot(path=shots / "audit.png", full_page=True)
    await context.close()

    viewer = await chromium.new_context()
    page = await viewer.new_page()
    await log_in(page, base, vera, shots, "vera")
    assert await page.locator("form.decide").count() == 0
    assert await page.locator("button[value=restore]").count() == 0
    await page.screenshot(path=shots / "viewer.png", full_page=True)
    # A POST from this session without the form's CSRF token (as another site's would be).
    refused = await page.request.post(f"{base}/console/appeals/{case.appeal_id}"
                                      "/decision", form={"decision": "restore", "note": "x"})  # fmt: skip
    assert refused.status == 403
    await viewer.close()
    assert len(list(shots.glob("*.png"))) == 10
