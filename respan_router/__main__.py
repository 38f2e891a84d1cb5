"""``python -m respan_router demo``: a tour of the router on the built-in fake provider."""

from __future__ import annotations

import sys

from respan_router._demo import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
