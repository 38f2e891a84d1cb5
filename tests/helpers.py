"""Small helpers shared by the tests."""

from __future__ import annotations

import base64
import json
from typing import Any

MSG = [{"role": "user", "content": "hello"}]


def header(params: dict[str, Any]) -> str:
    """Encode Respan params as the X-Data-Respan-Params header value."""
    return base64.b64encode(json.dumps(params).encode()).decode()
