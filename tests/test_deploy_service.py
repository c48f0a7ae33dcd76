"""The a11y-proxy console script and the systemd unit of deploy/a11y-proxy.service."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from yarl import URL

from proxy.server.config import Settings
from tests.deploy import REPO, clean_environment

UNIT = REPO / "deploy" / "a11y-proxy.service"
INSTALLED_AT = "/usr/local/bin/a11y-proxy"


def console_script() -> Path:
    """The installed a11y-proxy command; ./test.sh installs it, so CI must have it."""
    # The one installed with the Python running the tests comes first: another on PATH may
    # be an older install.
    beside = Path(sys.executable).parent / "a11y-proxy"
    found = str(beside) if beside.exists() else shutil.which("a11y-proxy")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("the a11y-proxy command is not installed")
        pytest.skip("the package is not installed here (./test.sh installs it)")
    return Path(found)


def test_the_console_script_is_declared_for_cli_main() -> None:
    scripts = metadata.entry_points(group="console_scripts", name="a11y-proxy")
    if not scripts:
        console_script()  # fails in CI, skips in an uninstalled checkout
    assert [script.value for script in scripts] == ["proxy.server.cli:main"]


def test_the_console_script_runs_like_python_m_proxy() -> None:
    script = console_script()
    example = REPO / "deploy" / "a11y-proxy.toml"
    env = clean_environment()
    for argv in (["--help"], ["--check-config", str(example)]):
        ours = subprocess.run(
            [str(script), *argv], capture_output=True, text=True, env=env, timeout=60
        )
        module = subprocess.run(
            [sys.executable, "-m", "proxy", *argv],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=60,
        )
        assert ours.returncode == module.returncode == 0
        assert ours.stdout == module.stdout


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


def test_the_unit_starts_the_console_script_with_options_it_has() -> None:
    service = unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == INSTALLED_AT
    help_text = subprocess.run(
        [sys.executable, "-m", "proxy", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=clean_environment(),
        timeout=60,
        check=True,
    ).stdout
    options = [word.split("=")[0] for word in argv[1:] if word.startswith("--")]
    assert options
    for option in options:
        assert option in help_text
    # Reload is SIGHUP; stopping waits longer than the proxy drains.
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service.get("KillSignal", "SIGTERM") == "SIGTERM"
    grace = Settings(upstream=URL("http://a.test"), public_url=URL("http://b.test")).shutdown_grace
    assert float(service["TimeoutStopSec"]) > grace


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the unit is checked by the test above")
    # The unit as installed here: the real path of the console script.
    rendered = tmp_path / "a11y-proxy.service"
    rendered.write_text(UNIT.read_text().replace(INSTALLED_AT, str(console_script())))
    result = subprocess.run(
        [analyze, "verify", str(rendered)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "a11y-proxy.service" not in result.stderr, result.stderr
