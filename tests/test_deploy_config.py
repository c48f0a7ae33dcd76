"""The configuration file and the site tuning: precedence, --check-config, and what tuning does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from bs4 import BeautifulSoup
from yarl import URL

from proxy.demo.app import create_demo_app
from proxy.rewriting.modes import Mode, Theme
from proxy.rewriting.tuning import Tuning
from proxy.server.cli import main
from proxy.server.options import parse_settings
from tests.conftest import ProxyFactory, Upstream, html_page
from tests.deploy import REPO, clean_environment

EXAMPLES = [REPO / "deploy" / "a11y-proxy.toml", REPO / "proxy" / "demo" / "tuning.toml"]


def write(tmp_path: Path, text: str, name: str = "a11y-proxy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def no_settings_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("A11Y_PROXY_")]:
        monkeypatch.delenv(name)


def test_precedence_is_command_line_then_environment_then_file_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        tmp_path,
        'upstream = "https://moz.example.gov.ua"\nport = 9001\nread_timeout = 11\n'
        'cache_bytes = "64M"\npublic_aliases = ["https://www.a11y.example.gov.ua"]\n',
    )
    settings, demo, _ = parse_settings(["--config", str(config)])
    assert not demo and str(settings.upstream) == "https://moz.example.gov.ua"
    assert (settings.port, settings.read_timeout, settings.cache_bytes) == (9001, 11, 64 << 20)
    assert [str(u) for u in settings.public_aliases] == ["https://www.a11y.example.gov.ua"]
    assert settings.connect_timeout == 5  # not in the file: the default
    assert settings.config_file == config

    monkeypatch.setenv("A11Y_PROXY_PORT", "9002")
    monkeypatch.setenv("A11Y_PROXY_READ_TIMEOUT", "12")
    settings, _, _ = parse_settings(["--config", str(config), "--read-timeout", "13"])
    assert (settings.port, settings.read_timeout, settings.cache_bytes) == (9002, 13, 64 << 20)

    # The file can be named in the environment too.
    monkeypatch.setenv("A11Y_PROXY_CONFIG", str(config))
    settings, _, _ = parse_settings([])
    assert settings.config_file == config and settings.cache_bytes == 64 << 20


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_examples_in_the_repository_check_ok(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check-config", str(example)]) == 0
    assert capsys.readouterr().out.strip().endswith("ok")


@pytest.mark.parametrize(
    ("text", "key", "shown"),
    [
        ("port = 99999\n", "port", "99999"),
        ('prefix = "a11y"\n', "prefix", "'a11y'"),
        ('upstream = "ftp://example.org"\n', "upstream", "'ftp://example.org'"),
        ("port = true\n", "port", "True"),
        ("colour = 1\n", "colour", "1"),
        ('log_level = "loud"\n', "log_level", "'loud'"),
        ('public_aliases = ["www.example.org"]\n', "public_aliases", "['www.example.org']"),
        ('[tuning]\nhide = ["div[", ".ok"]\n', "tuning.hide", "'div['"),
        ('[tuning]\nneutralise = ".carousel"\n', "tuning.neutralise", "'.carousel'"),
        (
            '[tuning.css]\nblue = ".a { color: red } }"\n',
            "tuning.css.blue",
            "'.a { color: red } }'",
        ),
        ('[tuning.css]\npurple = ".a {}"\n', "tuning.css.purple", "'.a {}'"),
        ('[tuning.css_files]\nall = "missing.css"\n', "tuning.css_files.all", "missing.css"),
        ('[tuning.toolbar]\nposition = "left"\n', "tuning.toolbar.position", "'left'"),
        ('[tuning.toolbar]\nlanguages = ["fr"]\n', "tuning.toolbar.languages", "'fr'"),
    ],
)
def test_check_config_names_the_bad_key_and_value_in_one_line(
    tmp_path: Path, text: str, key: str, shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, text)
    assert main(["--check-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(config) in err and f"{key} = " in err and shown in err


def test_a_bad_file_stops_a_start_with_the_same_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, 'prefix = "a11y"\n')
    assert main(["--config", str(config)]) == 2
    assert "prefix = 'a11y'" in capsys.readouterr().err
    write(tmp_path, "port = [\n", "broken.toml")
    assert main(["--config", str(tmp_path / "broken.toml")]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_python_m_proxy_check_config_is_one_line_and_a_status() -> None:
    good = subprocess.run(
        [sys.executable, "-m", "proxy", "--check-config", str(EXAMPLES[0])],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=clean_environment(),
        timeout=60,
    )
    assert good.returncode == 0 and good.stdout.strip().endswith("ok")


# -- what the tuning does to pages and stylesheets ------------------------------------------


async def test_extra_css_goes_after_ours_in_the_modes_it_names(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    tuning = Tuning(
        css=(("all", ".t-all{}"), ("reading", ".t-reading{}"), ("blue", ".t-blue{}")),
        neutralise=(".carousel",),
    )
    client = await start_proxy(upstream, tuning=tuning)

    async def sheet(mode: Mode) -> str:
        response = await client.get(f"/_a11y/css/{mode.token}.css")
        assert response.status == 200
        return await response.text()

    normal, blue, bw = (
        await sheet(Mode()),
        await sheet(Mode(Theme.BLUE, 150)),
        await sheet(Mode(Theme.BW, 100)),
    )
    assert ".t-all{}" in normal and ".t-reading{}" not in normal and ".carousel" not in normal
    assert blue.index(".t-all{}") < blue.index(".t-reading{}") < blue.index(".t-blue{}")
    # After ours: the theme's own rules come first, so the site's tuning can override them.
    assert blue.index("a11y-toolbar") < blue.index(".t-all{}")
    assert ".t-blue{}" not in bw and ".t-reading{}" in bw
    assert ".carousel, .carousel *{animation:none!important" in bw


async def test_hidden_and_neutralised_elements(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page(
        "/",
        html_page(
            '<div id="cookie-consent">We use cookies</div>'
            '<div class="carousel"><p>Slide</p></div><div class="bvi-open">BVI</div>'
        ),
    )
    client = await start_proxy(upstream, tuning=Tuning(hide=("#cookie-consent",)))
    soup = BeautifulSoup(await (await client.get("/")).text(), "lxml")
    consent = soup.select_one("#cookie-consent")
    assert consent is not None and consent.has_attr("hidden")
    bvi = soup.select_one(".bvi-open")
    assert bvi is not None and bvi.has_attr("hidden")  # the built-in list still applies
    carousel = soup.select_one(".carousel")
    assert carousel is not None and not carousel.has_attr("hidden")
    css = await (await client.get("/_a11y/css/default-100.css")).text()
    assert "#cookie-consent{display:none!important}" in css  # also once a script adds it


async def test_toolbar_at_the_bottom_and_in_the_configured_language(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/", html_page("<main><p>Text</p></main><footer>End</footer>", lang="en"))
    client = await start_proxy(
        upstream, tuning=Tuning(toolbar_position="bottom", languages=("uk",))
    )
    soup = BeautifulSoup(await (await client.get("/")).text(), "lxml")
    assert soup.body is not None
    children = soup.body.find_all(True, recursive=False)
    assert children[-1].get("id") == "a11y-proxy-toolbar"
    assert children[0].name == "main"
    assert children[-1].get("lang") == "uk" and "великий шрифт" in children[-1].get_text()


async def test_the_demo_site_tuning_example_applies(
    start_proxy: ProxyFactory, aiohttp_server: object
) -> None:
    settings, _, _ = parse_settings(["--config", str(EXAMPLES[1])])
    demo: TestServer = await aiohttp_server(create_demo_app())  # type: ignore[operator]
    client = await start_proxy(
        URL.build(scheme="http", host="127.0.0.1", port=demo.port), tuning=settings.tuning
    )
    html = await (await client.get("/_a11y/view/blue-150/")).text()
    soup = BeautifulSoup(html, "lxml")
    link = soup.select_one(".bvi-open")
    assert link is not None and link.has_attr("hidden")
    href = soup.select_one('link[data-a11y-proxy="stylesheet"]')
    assert href is not None
    css = await (await client.get(str(href["href"]))).text()
    assert ".header-inner { height: auto; }" in css and ".hero{position:static!important" in css


async def test_the_reserved_prefix_comes_from_the_file_too(
    tmp_path: Path, upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/news/", html_page("<p>News</p>"))
    config = write(tmp_path, 'prefix = "/_access/"\n')
    settings, _, _ = parse_settings(["--config", str(config)])
    client = await start_proxy(upstream, prefix=settings.prefix)
    page = await client.get("/_access/view/bw-150/news/")
    assert page.status == 200
    soup = BeautifulSoup(await page.text(), "lxml")
    hrefs = [str(a["href"]) for a in soup.select("#a11y-proxy-toolbar a")]
    assert hrefs and all(href.startswith(("/_access/view/", "/_access/share/")) for href in hrefs)
    assert (await client.get("/_access/health/live")).status == 200
    assert (await client.get("/_access/metrics")).status == 200
    # The default prefix is the site's again.
    assert (await client.get("/_a11y/health/live")).status == 404
