"""``python -m respan_router demo``: a tour of the router on the built-in fake provider.
``python -m respan_router serve --config FILE``: the gateway's HTTP contract (see
:mod:`respan_router.asgi`)."""

from __future__ import annotations

import sys


def _main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        from respan_router._serve import main as serve

        return serve(argv[1:])
    from respan_router._demo import main

    return main(argv)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
