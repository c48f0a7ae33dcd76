"""Request ids: kept when safe, made fresh otherwise, never the same in two processes."""

from __future__ import annotations

import os
import re

from proxy.server.requestid import accept


def test_a_safe_id_is_kept_and_anything_else_is_replaced() -> None:
    assert accept("edge-7f3a:1.2") == "edge-7f3a:1.2"
    for unsafe in (None, "", "a b", "-leading", "x" * 200, 'quote"d'):
        assert re.fullmatch(r"[0-9a-f]{32}", accept(unsafe))


def test_ids_are_not_repeated() -> None:
    made = {accept(None) for _ in range(10_000)}
    assert len(made) == 10_000


def test_a_forked_worker_makes_other_ids_than_its_parent() -> None:
    # Workers are forked: each must not replay the ids of the process it was forked from.
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.write(write, "".join(accept(None) for _ in range(3)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    parent = "".join(accept(None) for _ in range(3))
    assert len(child) == len(parent) == 96
    assert child != parent
