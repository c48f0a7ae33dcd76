"""`python -m proxy`: the same as the `a11y-proxy` console script."""

from proxy.server.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
