"""The command line as a user meets it: --help, bad values, environment, the demo start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from proxy.server.cli import main
from proxy.server.options import OPTIONS, parse_settings
from tests.conftest import free_port


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for name, *_ in OPTIONS:
        assert f"--{name}" in text
    assert "A11Y_PROXY_" in text


@pytest.mark.parametrize(
    ("argv", "option", "value"),
    [
        (["--port", "99999"], "--port", "99999"),
        (["--port", "eighty"], "--port", "eighty"),
        (["--upstream", "ftp://example.org"], "--upstream", "ftp://example.org"),
        (["--upstream", "https://example.org/path"], "--upstream", "https://example.org/path"),
        (["--public-url", "not a url"], "--public-url", "not a url"),
        (["--read-timeout", "-1"], "--read-timeout", "-1"),
        (["--header-timeout", "0"], "--header-timeout", "0"),
        (["--keepalive-timeout", "soon"], "--keepalive-timeout", "soon"),
        (["--cache-bytes", "lots"], "--cache-bytes", "lots"),
        (["--rewrite-queue", "-1"], "--rewrite-queue", "-1"),
        (["--prefix", "a11y"], "--prefix", "a11y"),
        (["--log-level", "loud"], "--log-level", "loud"),
        (["--session-cookies", "sid=1"], "--session-cookies", "sid=1"),
        (["--ignore-cookies", "a b"], "--ignore-cookies", "a b"),
    ],
)
def test_a_bad_value_is_one_line_naming_option_and_value_and_exit_2(
    argv: list[str], option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert option in err and repr(value) in err


def test_unknown_options_are_one_line_too(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--colour", "blue"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_store_directory_others_could_write_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shared = tmp_path / "cache"
    shared.mkdir()
    shared.chmod(0o775)
    assert main(["--cache-url", f"file://{shared}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--cache-url" in err and "chmod 700" in err


def test_environment_variables_set_options_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A11Y_PROXY_UPSTREAM", "https://moz.example.gov.ua/")
    monkeypatch.setenv("A11Y_PROXY_PORT", "9000")
    monkeypatch.setenv("A11Y_PROXY_CACHE_BYTES", "64M")
    settings, demo, _ = parse_settings([])
    assert not demo
    assert str(settings.upstream) == "https://moz.example.gov.ua"
    assert settings.port == 9000 and settings.cache_bytes == 64 * 1024 * 1024
    assert str(settings.public_url) == "http://127.0.0.1:9000"
    settings, _, _ = parse_settings(
        ["--port", "9001", "--public-url", "https://a11y.example.gov.ua"]
    )
    assert settings.port == 9001 and settings.secure


def test_connection_deadlines_come_from_defaults_environment_file_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("A11Y_PROXY_")]:
        monkeypatch.delenv(name)
    settings, _, _ = parse_settings([])
    assert (settings.header_timeout, settings.keepalive_timeout) == (10, 15)
    config = tmp_path / "a11y-proxy.toml"
    config.write_text("header_timeout = 4\nkeepalive_timeout = 40\n", encoding="utf-8")
    settings, _, _ = parse_settings(["--config", str(config)])
    assert (settings.header_timeout, settings.keepalive_timeout) == (4, 40)
    monkeypatch.setenv("A11Y_PROXY_HEADER_TIMEOUT", "5")
    monkeypatch.setenv("A11Y_PROXY_KEEPALIVE_TIMEOUT", "50")
    settings, _, _ = parse_settings(["--config", str(config), "--keepalive-timeout", "60"])
    assert (settings.header_timeout, settings.keepalive_timeout) == (5, 60)


def test_operator_addresses_default_to_this_machine_and_come_from_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("A11Y_PROXY_")]:
        monkeypatch.delenv(name)
    settings, _, _ = parse_settings([])
    assert [str(n) for n in settings.operator_addresses] == ["127.0.0.0/8", "::1/128"]
    config = tmp_path / "a11y-proxy.toml"
    config.write_text('operator_addresses = ["10.0.0.0/8", "::1"]\n', encoding="utf-8")
    settings, _, _ = parse_settings(["--config", str(config)])
    assert [str(n) for n in settings.operator_addresses] == ["10.0.0.0/8", "::1/128"]
    monkeypatch.setenv("A11Y_PROXY_OPERATOR_ADDRESSES", "192.0.2.7")
    settings, _, _ = parse_settings(["--config", str(config)])
    assert [str(n) for n in settings.operator_addresses] == ["192.0.2.7/32"]
    assert main(["--operator-addresses", "everyone"]) == 2


def test_cookie_names_come_from_flags_environment_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _, _ = parse_settings([])
    assert settings.session_cookies == () and settings.ignore_cookies == ()
    config = tmp_path / "site.toml"
    config.write_text('session_cookies = ["PHPSESSID", "wordpress_logged_in_*"]\n')
    settings, _, _ = parse_settings(["--config", str(config)])
    assert settings.session_cookies == ("PHPSESSID", "wordpress_logged_in_*")
    monkeypatch.setenv("A11Y_PROXY_IGNORE_COOKIES", "lang, theme")
    settings, _, _ = parse_settings(["--session-cookies", "sid"])
    assert settings.session_cookies == ("sid",)
    assert settings.ignore_cookies == ("lang", "theme")


def test_no_arguments_means_the_demo_site() -> None:
    settings, demo, _ = parse_settings([])
    assert demo and settings.port == 8080 and str(settings.public_url) == "http://127.0.0.1:8080"


def test_python_m_proxy_serves_the_demo_site() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("A11Y_PROXY_")}
    with subprocess.Popen(
        [sys.executable, "-m", "proxy", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            second = process.stdout.readline()
            assert "demo" in first
            assert f"http://127.0.0.1:{port}/" in second
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
                        body = response.read().decode()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            assert 'id="a11y-proxy-toolbar"' in body
            assert "Ministry" in body
        finally:
            process.terminate()
            process.wait(timeout=10)
        assert process.returncode == 0
