"""``python -m respan_router serve --config FILE``: the ASGI app on uvicorn (the
``server`` extra). Logs say which requests came and how they ended, never what they
carried (no header, no body, no key)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m respan_router serve")
    parser.add_argument("--config", required=True, help="the Router's configuration file")
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="default 8000")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(list(argv))
    try:
        import uvicorn
    except ImportError:
        print("serving needs uvicorn: pip install 'respan-router[server]'")
        return 2
    from respan_router.asgi import create_app

    app = create_app(args.config)
    if not app.requires_key and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: no server_api_keys and listening on {args.host}: anyone who reaches "
            "the port can spend the configured providers' credits",
            file=sys.stderr,
        )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, lifespan="on")
    return 0
