"""The bound on rendering one prompt: a step count and a deadline.

Jinja's sandbox stops a template from reaching Python internals and caps one ``range()``
at 100,000 items, but nested loops (``range(n)`` inside ``range(n)``, or a variable's
list inside itself) or a macro calling itself twice per level would render for hours in
the caller's thread. Every render runs under a :class:`RenderBound`:

- each loop iteration and each call the template makes (``range()``, a macro, a method)
  is one step; a render may take at most :data:`MAX_RENDER_STEPS` steps;
- the clock is read every few steps: a render may take at most
  :data:`MAX_RENDER_SECONDS`, or the call's ``total_timeout`` when it is shorter, and the
  time spent rendering is then taken from the call's deadline;
- ``*`` on a string or list may build at most :data:`MAX_TEMPLATE_TEXT` items, and
  ``**`` on numbers at most a :data:`MAX_POWER_BITS`-bit integer.

Going past a bound raises :class:`RenderBoundExceeded`, typed as an
:class:`~respan_router.errors.InvalidRequestError` by the stage.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

__all__ = [
    "MAX_POWER_BITS",
    "MAX_RENDER_SECONDS",
    "MAX_RENDER_STEPS",
    "MAX_TEMPLATE_TEXT",
    "STEP_NAME",
    "RenderBound",
    "RenderBoundExceeded",
    "activate",
    "bounded_environment",
    "current",
    "deactivate",
    "loop_step",
]

MAX_RENDER_STEPS = 1_000_000
MAX_RENDER_SECONDS = 2.0
MAX_TEMPLATE_TEXT = 1_000_000
MAX_POWER_BITS = 65_536
STEP_NAME = "respan_loop_step__"  # the wrapper every loop's iterable goes through
_CLOCK_EVERY = 256


class RenderBoundExceeded(Exception):
    """A render went past its step count, deadline or size bound."""


class RenderBound:
    """The steps and time left to one prompt render (its child prompts included)."""

    __slots__ = ("deadline", "seconds", "steps")

    def __init__(self, seconds: float, steps: int = MAX_RENDER_STEPS) -> None:
        self.seconds = seconds
        self.steps = steps
        self.deadline = time.monotonic() + seconds

    def step(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise RenderBoundExceeded(f"the template took more than {MAX_RENDER_STEPS:,} steps")
        if self.steps % _CLOCK_EVERY == 0 and time.monotonic() > self.deadline:
            raise RenderBoundExceeded(f"the template took longer than {self.seconds:g} s to render")


_CURRENT: ContextVar[RenderBound | None] = ContextVar("respan_render_bound", default=None)


def current() -> RenderBound | None:
    return _CURRENT.get()


def activate(bound: RenderBound) -> Any:
    """Make ``bound`` the current one; returns the token to reset it with."""
    return _CURRENT.set(bound)


def deactivate(token: Any) -> None:
    _CURRENT.reset(token)


def _step() -> None:
    bound = _CURRENT.get()
    if bound is not None:
        bound.step()


def loop_step(iterable: Iterable[Any]) -> Iterator[Any]:
    """``iterable``, one step per item (what every ``{% for %}`` iterates)."""
    _step()
    for item in iterable:
        _step()
        yield item


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


def bounded_environment() -> Any:
    """A sandboxed Jinja2 environment whose renders honour the current bound."""
    from jinja2 import StrictUndefined, nodes
    from jinja2.sandbox import SandboxedEnvironment

    class _Bounded(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            _step()
            return super().call(__context, __obj, *args, **kwargs)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _step()
            if operator == "*":
                for seq, times in ((left, right), (right, left)):
                    size = _sized(seq)
                    if (
                        size is not None
                        and isinstance(times, int)
                        and size * times > (MAX_TEMPLATE_TEXT)
                    ):
                        raise RenderBoundExceeded(
                            f"the template built a value longer than {MAX_TEMPLATE_TEXT:,}"
                        )
            elif (
                isinstance(left, int)
                and isinstance(right, int)
                and right > 0
                and max(left.bit_length(), 1) * right > MAX_POWER_BITS
            ):
                raise RenderBoundExceeded(
                    f"the template computed a number larger than {MAX_POWER_BITS:,} bits"
                )
            return super().call_binop(context, operator, left, right)

        def compile_bounded(self, text: str) -> Any:
            """``text`` compiled with every loop's iterable wrapped in :func:`loop_step`."""
            tree = self.parse(text)
            for loop in tree.find_all(nodes.For):
                loop.iter = nodes.Call(
                    nodes.Name(STEP_NAME, "load"), [loop.iter], [], None, None
                ).set_lineno(loop.iter.lineno)
            return self.from_string(tree)

    env = _Bounded(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals[STEP_NAME] = loop_step
    return env
