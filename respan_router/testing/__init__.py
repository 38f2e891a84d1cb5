"""A test kit for services that call the router: a scriptable fake provider.

Example::

    from respan_router import Router
    from respan_router.testing import FakeProvider, Failure, Reply

    fake = FakeProvider(default=Reply("hello"))
    fake.script("gpt-4o", Failure(429, retry_after=1.0), Reply("second try"))
    router = Router(provider=fake)
    router.complete(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert fake.calls[0].model == "gpt-4o"

Scripts are per model (the name as requested, or the backend model string); a model's
queue is consumed in order, then its default, then the provider's default applies.
"""

from respan_router.resilience import zero_waits
from respan_router.testing._fake import FakeProvider, RecordedCall
from respan_router.testing._script import Failure, Reply

__all__ = ["Failure", "FakeProvider", "RecordedCall", "Reply", "zero_waits"]
