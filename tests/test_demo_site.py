"""The bundled demo ministry site: pages, links, charsets, caching, the form, path safety."""

from __future__ import annotations

import asyncio
import re
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import pytest
from aiohttp import hdrs, web
from aiohttp.test_utils import TestClient
from bs4 import BeautifulSoup
from pytest_aiohttp import AiohttpClient

from proxy.demo.app import SITE_ROOT, create_demo_app

Client = TestClient[web.Request, web.Application]

# Every page the site promises, with the language it is written in.
PAGES = {
    "/": "en",
    "/news/": "en",
    "/news/mobile-diagnostic-units.html": "en",
    "/news/influenza-vaccination-campaign.html": "en",
    "/news/elektronna-cherga.html": "uk",
    "/statistics.html": "en",
    "/feedback.html": "en",
    "/about.html": "en",
    "/archive/2019.html": "uk",
}
ASSETS = {
    "/css/site.css": "text/css",
    "/js/bvi.js": "application/javascript",
    "/img/logo.svg": "image/svg+xml",
    "/img/hero-clinic.svg": "image/svg+xml",
    "/img/favicon.png": "image/png",
}
NAV_TARGETS = {"/", "/news/", "/statistics.html", "/feedback.html", "/about.html"}
UK_ARTICLE = "/news/elektronna-cherga.html"
ARCHIVE = "/archive/2019.html"
CYRILLIC = re.compile(r"[\u0400-\u04FF]{4,}")  # a Cyrillic word


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(create_demo_app())


def soup_of(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "lxml")


def references(soup: BeautifulSoup) -> list[str]:
    """Every URL a page makes the browser fetch or offers as a link."""
    found = [str(tag["href"]) for tag in soup.select("a[href], link[href]")]
    found += [str(tag["src"]) for tag in soup.select("img[src], script[src]")]
    return found


async def crawl(client: Client) -> dict[str, bytes]:
    """Fetch everything reachable on the site's own origin from ``/``; each must answer 200."""
    origin = str(client.make_url("/").origin())
    bodies: dict[str, bytes] = {}
    queue = ["/"]
    while queue:
        path = queue.pop()
        async with client.get(path) as response:
            assert response.status == 200, path
            bodies[path] = await response.read()
            if response.content_type != "text/html":
                continue
            page = soup_of(await response.text())
        for ref in references(page):
            url = urlsplit(urljoin(origin + path, ref))
            if url.scheme not in ("http", "https") or f"{url.scheme}://{url.netloc}" != origin:
                continue
            if url.path not in bodies and url.path not in queue:
                queue.append(url.path)
    return bodies


async def raw_get(client: Client, target: str) -> tuple[int, bytes]:
    """Send a request target verbatim; an HTTP client library would normalise the dots away."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {client.host}:{client.port}\r\nConnection: close\r\n\r\n"
    )
    writer.write(request.encode("latin-1"))
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize("path", PAGES)
async def test_page_is_html_in_its_declared_charset(client: Client, path: str) -> None:
    async with client.get(path) as response:
        assert response.status == 200
        charset = "windows-1251" if path == ARCHIVE else "utf-8"
        assert response.headers[hdrs.CONTENT_TYPE] == f"text/html; charset={charset}"
        page = soup_of(await response.text())
    assert page.html is not None
    assert page.html["lang"] == PAGES[path]
    meta = page.select_one("meta[charset]")
    assert meta is not None
    assert str(meta["charset"]).lower() == charset


@pytest.mark.parametrize(("path", "content_type"), ASSETS.items())
async def test_asset_has_its_content_type(client: Client, path: str, content_type: str) -> None:
    async with client.get(path) as response:
        assert response.status == 200
        assert response.content_type == content_type
        assert await response.read()


async def test_crawl_from_home_resolves_every_link_and_reaches_every_page(client: Client) -> None:
    bodies = await crawl(client)
    assert set(PAGES) | set(ASSETS) <= set(bodies)


async def test_origin_placeholder_never_reaches_the_client(client: Client) -> None:
    bodies = await crawl(client)
    async with client.get("/no-such-page.html") as missing:
        bodies["404"] = await missing.read()
    async with client.post("/feedback", data={"name": "Ann"}) as thanks:
        bodies["thanks"] = await thanks.read()
    leaked = [path for path, body in bodies.items() if b"%%ORIGIN%%" in body]
    assert leaked == []


async def test_absolute_links_use_the_origin_the_client_addressed(client: Client) -> None:
    async with client.get("/", headers={hdrs.HOST: "ministry.example:8080"}) as response:
        page = soup_of(await response.text())
    absolute = [str(a["href"]) for a in page.select("a[href^='http']")]
    assert "http://ministry.example:8080/statistics.html" in absolute
    assert all(href.startswith("http://ministry.example:8080/") for href in absolute)
    canonical = page.select_one("link[rel=canonical]")
    assert canonical is not None
    assert canonical["href"] == "http://ministry.example:8080/"


@pytest.mark.parametrize("path", PAGES)
async def test_page_has_the_shared_semantic_layout(client: Client, path: str) -> None:
    async with client.get(path) as response:
        page = soup_of(await response.text())
    skip = page.select_one("a.skip-link")
    assert skip is not None
    assert skip["href"] == "#content"
    assert page.select_one("main#content") is not None
    assert page.select_one("header .site-name") is not None
    nav = page.select_one("header nav[aria-label]")
    assert nav is not None
    assert {str(a["href"]) for a in nav.select("a[href]")} == NAV_TARGETS
    assert page.select_one("footer address a[href^='mailto:']") is not None
    assert page.select_one("header a.bvi-open[data-bvi=open][href='#']") is not None
    assert page.select_one("script[src='/js/bvi.js']") is not None
    assert len(page.select("h1")) == 1
    images = page.select("img")
    assert images
    assert all(str(img.get("alt", "")).strip() for img in images)


async def test_home_page_has_hero_news_and_its_own_font_rules(client: Client) -> None:
    async with client.get("/") as response:
        page = soup_of(await response.text())
    assert page.select_one("main .hero img[alt]") is not None
    news_links = {str(a["href"]) for a in page.select("main .news-list a[href]")}
    assert {f"/news/{slug}.html" for slug in ("mobile-diagnostic-units", "elektronna-cherga")} <= (
        news_links
    )
    style = page.select_one("head style")
    assert style is not None
    assert re.search(r"font-size:\s*\d+px", style.get_text())


async def test_ukrainian_article_is_marked_and_written_in_ukrainian(client: Client) -> None:
    async with client.get(UK_ARTICLE) as response:
        page = soup_of(await response.text())
    assert page.html is not None
    assert page.html["lang"] == "uk"
    main = page.select_one("main")
    assert main is not None
    assert len(CYRILLIC.findall(main.get_text())) > 200
    assert len(main.select("article p")) >= 4
    bvi = page.select_one("a.bvi-open")
    assert bvi is not None
    assert bvi.get_text(strip=True) == "Версія для людей з порушенням зору"


async def test_english_articles_are_long_enough_to_judge_reading(client: Client) -> None:
    for path, lang in PAGES.items():
        if not path.startswith("/news/") or path.endswith("/") or lang != "en":
            continue
        async with client.get(path) as response:
            page = soup_of(await response.text())
        paragraphs = page.select("main article p")
        assert 4 <= len(paragraphs) <= 8, path
        assert sum(len(p.get_text().split()) for p in paragraphs) > 200, path


async def test_archive_bytes_are_windows_1251_ukrainian(client: Client) -> None:
    async with client.get(ARCHIVE) as response:
        body = await response.read()
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    page = soup_of(body.decode("windows-1251"))
    title = page.select_one("main h1")
    assert title is not None
    assert title.get_text() == "Архів новин за 2019 рік"
    main = page.select_one("main")
    assert main is not None
    assert len(CYRILLIC.findall(main.get_text())) > 100


async def test_news_list_links_the_archive(client: Client) -> None:
    async with client.get("/news/") as response:
        page = soup_of(await response.text())
    archive = [a for a in page.select("main a[href]") if a.get_text(strip=True) == "Archive"]
    assert len(archive) == 1
    assert urljoin("/news/", str(archive[0]["href"])) == ARCHIVE


async def test_statistics_tables_are_headed_and_add_up(client: Client) -> None:
    async with client.get("/statistics.html") as response:
        page = soup_of(await response.text())
    tables = page.select("main table")
    assert tables
    for table in tables:
        assert table.select_one("caption") is not None
        assert table.select("thead th[scope=col]")
        rows = table.select("tbody tr")
        assert len(rows) >= 5
        assert all(row.select_one("th[scope=row]") for row in rows)
        total = table.select_one("tfoot tr")
        assert total is not None
        # Counts must add up to the total row, as published figures do; rates and shares need not.
        headers = [th.get_text() for th in table.select("thead th")][1:]
        cells = [[td.get_text() for td in row.select("td")] for row in rows]
        totals = [td.get_text() for td in total.select("td")]
        counts = [
            i for i, header in enumerate(headers) if "%" not in header and " per " not in header
        ]
        assert counts
        for column in counts:
            column_sum = sum(int(row[column].replace(",", "")) for row in cells)
            assert column_sum == int(totals[column].replace(",", "")), headers[column]


async def test_feedback_form_posts_every_field_with_a_label(client: Client) -> None:
    async with client.get("/feedback.html") as response:
        page = soup_of(await response.text())
    form = page.select_one("main form")
    assert form is not None
    assert form["method"] == "post"
    assert form["action"] == "/feedback"
    fields = {
        "name": "input[type=text]",
        "email": "input[type=email]",
        "topic": "select",
        "message": "textarea",
        "consent": "input[type=checkbox]",
    }
    for name, selector in fields.items():
        control = form.select_one(f"{selector}[name={name}]")
        assert control is not None, name
        assert form.select_one(f"label[for='{control['id']}']") is not None, name
    assert len(form.select("select[name=topic] option")) >= 3
    assert form.select_one("button[type=submit]") is not None


async def test_feedback_answer_escapes_the_submitted_name(client: Client) -> None:
    name = "<script>alert(1)</script>"
    form = {"name": name, "email": "a@example.org", "message": "Hi", "consent": "yes"}
    async with client.post("/feedback", data=form) as response:
        assert response.status == 200
        assert response.headers[hdrs.CACHE_CONTROL] == "no-store"
        body = await response.text()
    assert "<script>alert(1)" not in body
    page = soup_of(body)
    assert page.select("main script") == []
    heading = page.select_one("main h1")
    assert heading is not None
    assert name in heading.get_text()


async def test_feedback_answer_keeps_a_placeholder_in_the_name_literal(client: Client) -> None:
    async with client.post("/feedback", data={"name": "%%ORIGIN%%"}) as response:
        page = soup_of(await response.text())
    heading = page.select_one("main h1")
    assert heading is not None
    assert heading.get_text() == "Thank you, %%ORIGIN%%!"


async def test_unknown_path_gets_the_sites_own_404_page(client: Client) -> None:
    async with client.get("/news/no-such-article.html") as response:
        assert response.status == 404
        assert response.content_type == "text/html"
        page = soup_of(await response.text())
    assert page.select_one("header nav[aria-label] a[href='/news/']") is not None
    heading = page.select_one("main h1")
    assert heading is not None
    assert heading.get_text() == "Page not found"


@pytest.mark.parametrize("path", ["/_templates/404.html", "/_templates/feedback-thanks.html"])
async def test_templates_are_not_served(client: Client, path: str) -> None:
    async with client.get(path) as response:
        assert response.status == 404


async def test_folder_without_slash_redirects_to_the_folder(client: Client) -> None:
    async with client.get("/news", allow_redirects=False) as response:
        assert response.status == 301
        assert response.headers[hdrs.LOCATION] == "/news/"


async def test_pages_are_cacheable_for_a_minute_and_revalidate(client: Client) -> None:
    async with client.get("/about.html") as response:
        assert response.headers[hdrs.CACHE_CONTROL] == "max-age=60"
        last_modified = response.headers[hdrs.LAST_MODIFIED]
    assert parsedate_to_datetime(last_modified).tzinfo is not None
    headers = {hdrs.IF_MODIFIED_SINCE: last_modified}
    async with client.get("/about.html", headers=headers) as revalidated:
        assert revalidated.status == 304
        assert await revalidated.read() == b""
    stale = {hdrs.IF_MODIFIED_SINCE: "Mon, 01 Jan 2001 00:00:00 GMT"}
    async with client.get("/about.html", headers=stale) as fresh:
        assert fresh.status == 200


async def test_assets_are_cacheable_for_an_hour(client: Client) -> None:
    async with client.get("/css/site.css") as response:
        assert response.headers[hdrs.CACHE_CONTROL] == "max-age=3600"
        assert parsedate_to_datetime(response.headers[hdrs.LAST_MODIFIED]).tzinfo is not None


async def test_stylesheet_sizes_all_text_in_pixels(client: Client) -> None:
    async with client.get("/css/site.css") as response:
        css = await response.text()
    sizes = re.findall(r"font-size:\s*([^;}]+)", css)
    assert len(sizes) > 10
    assert all(re.fullmatch(r"\d+px\s*", size) for size in sizes)
    assert "font: bold 16px/20px Arial" in css
    assert re.search(r"a:focus\s*{\s*outline:\s*0", css)


@pytest.mark.parametrize(
    "target",
    [
        "/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/../../../pyproject.toml",
        "/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
        "/css/..%2f..%2f..%2f..%2fpyproject.toml",
    ],
)
async def test_traversal_cannot_read_the_project(client: Client, target: str) -> None:
    status, body = await raw_get(client, target)
    assert status == 404
    assert b"[build-system]" not in body


@pytest.fixture
async def bare_site(aiohttp_client: AiohttpClient, tmp_path: Path) -> Client:
    """A tiny site whose neighbour holds a page that must never be served."""
    root = tmp_path / "site"
    (root / "_templates").mkdir(parents=True)
    (root / "index.html").write_text("<p>public</p>", encoding="utf-8")
    (root / "_templates" / "404.html").write_text("<p>missing</p>", encoding="utf-8")
    (tmp_path / "secret.html").write_text("<p>SECRET</p>", encoding="utf-8")
    (root / "leak.html").symlink_to(tmp_path / "secret.html")
    return await aiohttp_client(create_demo_app(site_root=root))


async def test_bare_site_serves_its_own_pages(bare_site: Client) -> None:
    status, body = await raw_get(bare_site, "/index.html")
    assert status == 200
    assert b"public" in body


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.html",
        "/%2e%2e/secret.html",
        "/%2E%2E%2Fsecret.html",
        "/img/..%2f..%2fsecret.html",
        "/leak.html",
    ],
)
async def test_traversal_cannot_leave_the_site_root(bare_site: Client, target: str) -> None:
    status, body = await raw_get(bare_site, target)
    assert status == 404
    assert b"SECRET" not in body


async def test_absolute_path_cannot_leave_the_site_root(bare_site: Client, tmp_path: Path) -> None:
    # A doubled slash would make the joined path absolute.
    status, body = await raw_get(bare_site, "/" + quote(str(tmp_path / "secret.html")))
    assert status == 404
    assert b"SECRET" not in body


def test_site_stays_small() -> None:
    size = sum(path.stat().st_size for path in SITE_ROOT.rglob("*") if path.is_file())
    assert size < 150_000
