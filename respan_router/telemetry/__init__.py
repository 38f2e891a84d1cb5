"""Stage 8, best effort: spans (GenAI conventions and ``respan.*``) and metrics.

Telemetry observes finished calls; it never changes what the caller gets and never
fails a call.
"""

from respan_router.telemetry._sink import Telemetry

__all__ = ["Telemetry"]
