import pytest
from yarl import URL

from proxy.rewriting.links import LinkMap

SITE = LinkMap(URL("https://moz.example.gov.ua"), URL("https://a11y.example.gov.ua"))
LOCAL = LinkMap(URL("http://127.0.0.1:5000"), URL("http://127.0.0.1:8080"))


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://moz.example.gov.ua/news?id=1#top", "https://a11y.example.gov.ua/news?id=1#top"),
        ("HTTPS://MOZ.example.gov.ua/x", "https://a11y.example.gov.ua/x"),
        ("http://moz.example.gov.ua/x", "https://a11y.example.gov.ua/x"),
        ("https://moz.example.gov.ua:443/x", "https://a11y.example.gov.ua/x"),
        ("http://moz.example.gov.ua:80/x", "https://a11y.example.gov.ua/x"),
        ("//moz.example.gov.ua/x", "https://a11y.example.gov.ua/x"),
        ("https://moz.example.gov.ua", "https://a11y.example.gov.ua"),
        ("https://moz.example.gov.ua?q", "https://a11y.example.gov.ua?q"),
        ("  https://moz.example.gov.ua/x", "https://a11y.example.gov.ua/x"),
        (
            "https://moz.example.gov.ua/%D0%BD%D0%BE%D0%B2",
            "https://a11y.example.gov.ua/%D0%BD%D0%BE%D0%B2",
        ),
        # A user name or password names the same site: the link loses them, not the proxy.
        ("http://user@moz.example.gov.ua/path", "https://a11y.example.gov.ua/path"),
        ("https://user:secret@moz.example.gov.ua/x?q#f", "https://a11y.example.gov.ua/x?q#f"),
        ("//user@moz.example.gov.ua:443/x", "https://a11y.example.gov.ua/x"),
        ("https://@moz.example.gov.ua/x", "https://a11y.example.gov.ua/x"),
        ("https://a@b@moz.example.gov.ua/x", "https://a11y.example.gov.ua/x"),
    ],
)
def test_upstream_links_point_at_the_public_origin(link: str, expected: str) -> None:
    assert SITE.url(link) == expected


@pytest.mark.parametrize(
    "link",
    [
        "https://other.example.org/x",
        "https://moz.example.gov.ua.evil.example/x",
        "https://evil.example/https://moz.example.gov.ua/",
        "https://moz.example.gov.ua:8443/x",
        # The host is what follows the last "@": these go to evil.example.
        "http://moz.example.gov.ua@evil.example/",
        "https://moz.example.gov.ua:443@evil.example/x",
        "//moz.example.gov.ua@evil.example/x",
        "https://user@moz.example.gov.ua@evil.example/x",
        "https://evil.example/@moz.example.gov.ua/x",
        "https://evil.example?@moz.example.gov.ua/x",
        "https://evil.example#@moz.example.gov.ua/x",
        "https://evil.example\\@moz.example.gov.ua/x",
        "/relative/path",
        "relative",
        "mailto:info@moz.example.gov.ua",
        "javascript:void(0)",
        "#top",
        "",
    ],
)
def test_other_links_stay_as_written(link: str) -> None:
    assert SITE.url(link) == link


def test_non_default_ports_must_match() -> None:
    assert LOCAL.url("http://127.0.0.1:5000/a") == "http://127.0.0.1:8080/a"
    assert LOCAL.url("https://127.0.0.1:5000/a") == "http://127.0.0.1:8080/a"
    assert LOCAL.url("http://127.0.0.1/a") == "http://127.0.0.1/a"
    assert LOCAL.url("http://127.0.0.1:5001/a") == "http://127.0.0.1:5001/a"


def test_srcset_maps_each_candidate_and_keeps_descriptors() -> None:
    srcset = "https://moz.example.gov.ua/a.png 1x, //moz.example.gov.ua/b.png 2x,/c.png 3x, https://cdn.example/d.png 480w"
    assert SITE.srcset(srcset) == (
        "https://a11y.example.gov.ua/a.png 1x, https://a11y.example.gov.ua/b.png 2x,/c.png 3x, "
        "https://cdn.example/d.png 480w"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("5; url=https://moz.example.gov.ua/x", "5; url=https://a11y.example.gov.ua/x"),
        ("0;URL='https://moz.example.gov.ua/y'", "0;URL='https://a11y.example.gov.ua/y'"),
        ("3", "3"),
        ("0; url=https://elsewhere.example/", "0; url=https://elsewhere.example/"),
    ],
)
def test_refresh_targets_are_mapped(content: str, expected: str) -> None:
    assert SITE.refresh(content) == expected
