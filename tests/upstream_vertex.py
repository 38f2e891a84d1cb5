"""A local upstream speaking Vertex AI's Gemini API: Gemini's wire format on Vertex's paths.

``POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}``
``:generateContent`` (or ``:streamGenerateContent?alt=sse``), answered as
:class:`tests.upstream_gemini.GeminiUpstream` answers (the same scripting: ``Reply``,
``Raw``, ``Error``, ``Drop``, per model, FIFO). When ``tokens`` is set, a request must
carry ``Authorization: Bearer <a token that endpoint issued>``, or it gets Google's 401.
``root_url`` is the base litellm is given (a host, no path).
"""

from __future__ import annotations

from typing import Any

from tests.upstream import Error
from tests.upstream_gemini import GeminiUpstream, _GeminiHandler
from tests.upstream_google_token import GoogleTokenServer

__all__ = ["VertexUpstream"]


def _route(path: str) -> tuple[str, str] | None:
    """The model and method of a Vertex publisher-model path, or None."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    shape = ["v1", "projects", "*", "locations", "*", "publishers", "google", "models", "*"]
    if len(parts) != len(shape) or any(
        want not in ("*", got) for want, got in zip(shape, parts, strict=True)
    ):
        return None
    model, _, method = parts[-1].rpartition(":")
    if method not in ("generateContent", "streamGenerateContent"):
        return None
    return model, method


class _VertexHandler(_GeminiHandler):
    server: Any

    def _routed(self, path: str) -> bool:
        return _route(path) is not None

    def _model_of(self, path: str, body: Any) -> str:
        route = _route(path)
        return route[0] if route else ""

    def _streams(self, path: str, body: Any) -> bool:
        route = _route(path)
        return route is not None and route[1] == "streamGenerateContent"

    def do_POST(self) -> None:
        tokens: GoogleTokenServer | None = self.server.upstream.tokens
        given = self.headers.get("authorization", "")
        if tokens is not None and given.removeprefix("Bearer ") not in tokens.issued:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            self._send_error(Error(401, "Request had invalid authentication credentials."))
            return
        super().do_POST()


class VertexUpstream(GeminiUpstream):
    """:class:`GeminiUpstream` on Vertex AI's paths, checking bearer tokens."""

    def __init__(self, *args: Any, tokens: GoogleTokenServer | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handler = _VertexHandler
        self.tokens = tokens

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
