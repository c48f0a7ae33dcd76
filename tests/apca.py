"""APCA lightness contrast (Lc), the WCAG 3 candidate, as its reference implementation
computes it: ``apca-w3`` from npm (a test dependency in package.json, installed by
``npm ci``), run by node once for a whole list of colour pairs.

Lc is signed: positive for dark text on a light background, negative for light text on a
dark one; what a threshold judges is its magnitude.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[1]
_SCRIPT = """
const { calcAPCA } = require("apca-w3");
const pairs = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(pairs.map(([text, back]) => Number(calcAPCA(text, back)))));
"""


def lightness_contrast(pairs: list[tuple[str, str]]) -> list[float]:
    """The Lc of each (text colour, background colour) pair, colours as CSS writes them."""
    node = shutil.which("node")
    if node is None or not (_ROOT / "node_modules" / "apca-w3").is_dir():
        pytest.fail("APCA needs node and apca-w3: ./test.sh runs npm ci")
    done = subprocess.run(
        [node, "-e", _SCRIPT],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        cwd=_ROOT,
        check=True,
        timeout=60,
    )
    return [float(value) for value in json.loads(done.stdout)]
