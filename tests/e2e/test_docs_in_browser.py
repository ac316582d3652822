"""/docs and /docs/events opened in a real browser (Debian's chromium, driven by Playwright): each
page renders every operation or event of its document, with nothing fetched from another host."""

import os
import shutil
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, Request, async_playwright

from tests.conftest import served_openapi

# Rendering takes 1 to 4 s here; a deadline far above it only ends a page that never renders.
RENDER_MS = 60_000
METHODS = ("get", "put", "post", "delete", "patch")


def _chromium() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.fail(
            "The browser tests need Debian's chromium (apt-get install chromium; .ci/run installs it), "
            "or CHROMIUM_PATH naming a Chromium binary. Playwright's own browser download is not used."
        )
    return path


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=_chromium(),
            # Root in a container needs --no-sandbox; the rest keeps Chromium off the network.
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        await browser.close()


class _Visit:
    """A page of the app under test, with every request it made and every response that failed."""

    def __init__(self, page: Page, host: str) -> None:
        self.page = page
        self.host = host
        self.requests: list[str] = []
        self.failures: list[str] = []
        page.on("request", self._requested)
        page.on("requestfailed", lambda request: self.failures.append(f"failed {request.url}"))
        page.on(
            "response",
            lambda response: (
                self.failures.append(f"{response.status} {response.url}") if response.status >= 400 else None
            ),
        )

    def _requested(self, request: Request) -> None:
        self.requests.append(request.url)

    def foreign(self) -> list[str]:
        return [url for url in self.requests if urlsplit(url).netloc != self.host]


async def _visit(browser: Browser, client: TestClient, path: str) -> _Visit:
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    url = client.make_url(path)
    visit = _Visit(page, f"{url.host}:{url.port}")
    await page.goto(str(url))
    return visit


async def test_docs_renders_every_operation_of_the_openapi_document(
    browser: Browser, client: TestClient
) -> None:
    document = await served_openapi(client)
    expected = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }
    # The `webhooks` section renders as operations too, each named by its event type.
    webhooks = {(method.upper(), name) for name, item in document["webhooks"].items() for method in item}
    assert ("POST", "webhook.disabled") in webhooks
    visit = await _visit(browser, client, "/docs")
    page = visit.page
    await page.locator(".opblock").first.wait_for(timeout=RENDER_MS)
    assert await page.get_by_text("Unable to render this definition").count() == 0
    assert await page.locator(".information-container .version-stamp").inner_text() == "OAS 3.1"

    summaries = await page.eval_on_selector_all(
        ".opblock",
        """blocks => blocks.map(block => [
            block.querySelector(".opblock-summary-method").textContent.trim(),
            block.querySelector(".opblock-summary-path").dataset.path])""",
    )
    rendered = {(method, path) for method, path in summaries}
    assert ("GET", "/v1/assets") in rendered
    assert ("POST", "/api/v2/asset/") in rendered
    assert rendered == expected | webhooks

    # An operation opens on its parameters and its request body's schema.
    create = page.locator(".opblock-post").filter(
        has=page.locator('.opblock-summary-path[data-path="/v1/assets"]')
    )
    await create.locator(".opblock-summary").click()
    await create.locator(".opblock-body").get_by_text("asset_type_id").first.wait_for(timeout=RENDER_MS)
    assert visit.foreign() == []
    assert [failure for failure in visit.failures if not failure.endswith("favicon.ico")] == []
    await page.close()


async def test_docs_events_renders_every_event_type_of_the_asyncapi_document(
    browser: Browser, client: TestClient
) -> None:
    document: dict[str, Any] = await (await client.get("/asyncapi.json")).json()
    visit = await _visit(browser, client, "/docs/events")
    page = visit.page
    title = f"{document['info']['title']} {document['info']['version']}"
    await page.locator("#introduction").get_by_text(title).wait_for(timeout=RENDER_MS)

    event_types = {channel["address"] for channel in document["channels"].values()}
    assert {"asset.created", "asset.updated", "asset.deleted", "asset.warranty.expiring"} <= event_types
    for operation_id, operation in document["operations"].items():
        section = page.locator(f"#operation-{operation['action']}-{operation_id}")
        await section.wait_for(timeout=RENDER_MS)
        channel = document["channels"][operation["channel"]["$ref"].rsplit("/", 1)[-1]]
        assert await section.get_by_text(channel["address"], exact=True).count() >= 1, operation_id
    # The page's style sheet is the one served beside the component, not a CDN's.
    assert any(url.endswith("/docs/events/static/default.min.css") for url in visit.requests)
    assert visit.foreign() == []
    assert [failure for failure in visit.failures if not failure.endswith("favicon.ico")] == []
    await page.close()
