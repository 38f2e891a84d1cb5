"""The frameworks services hand an OpenAI client to, each through ``router.as_openai()``
/ ``as_async_openai()`` against the local upstream, next to the same scenario through a
plain OpenAI client pointed at the upstream (the baseline that proves the scenario).

Needs the ``frameworks`` extra (``pip install -e ".[frameworks]"``); each test is
skipped when its framework is not installed, unless ``RESPAN_REQUIRE_FRAMEWORKS=1`` (CI)
makes a missing framework a failure.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pydantic
import pytest

from respan_router import Router
from tests.upstream import FakeUpstream, Reply

pytestmark = pytest.mark.frameworks

KEY = "sk-frameworks-0123456789"


def _need(module: str) -> Any:
    """The framework's module; skipped when absent (a failure when CI requires it)."""
    if os.environ.get("RESPAN_REQUIRE_FRAMEWORKS") == "1":
        return importlib.import_module(module)
    return pytest.importorskip(module)


@dataclass
class Clients:
    """A sync and an async client and the model name to ask for."""

    sync: openai.OpenAI
    aio: openai.AsyncOpenAI
    model: str


@pytest.fixture(params=["plain", "router"])
def clients(request: pytest.FixtureRequest, upstream: FakeUpstream) -> Iterator[Clients]:
    if request.param == "plain":
        yield Clients(
            openai.OpenAI(base_url=upstream.base_url, api_key=KEY, max_retries=0),
            openai.AsyncOpenAI(base_url=upstream.base_url, api_key=KEY, max_retries=0),
            "gpt-4o",
        )
    else:
        router = Router(providers={"openai": {"api_key": KEY, "api_base": upstream.base_url}})
        yield Clients(router.as_openai(), router.as_async_openai(), "openai/gpt-4o")


def _call(name: str, arguments: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def _tool_reply(name: str, arguments: dict[str, Any]) -> Reply:
    return Reply(content=None, tool_calls=[_call(name, arguments)], finish_reason="tool_calls")


class User(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(gt=0)


# -- instructor ------------------------------------------------------------------------
def test_instructor_extracts_and_reasks(clients: Clients, upstream: FakeUpstream) -> None:
    instructor = _need("instructor")
    client = instructor.from_openai(clients.sync)
    upstream.enqueue(_tool_reply("User", {"name": "Ann", "age": 31}))
    user = client.chat.completions.create(
        model=clients.model,
        response_model=User,
        messages=[{"role": "user", "content": "Ann is 31."}],
    )
    assert user.model_dump() == {"name": "Ann", "age": 31}
    assert upstream.requests[-1].body["tools"][0]["function"]["name"] == "User"

    upstream.enqueue(_tool_reply("User", {"name": "Bob", "age": -4}))  # fails validation
    upstream.enqueue(_tool_reply("User", {"name": "Bob", "age": 4}))
    user = client.chat.completions.create(
        model=clients.model,
        response_model=User,
        max_retries=2,
        messages=[{"role": "user", "content": "Bob is 4."}],
    )
    assert user.model_dump() == {"name": "Bob", "age": 4}
    reask = json.dumps(upstream.requests[-1].body["messages"])
    assert len(upstream.requests) == 3 and "greater than 0" in reask


# -- langchain-openai ------------------------------------------------------------------
def _chat_openai(clients: Clients) -> Any:
    chat_models = _need("langchain_openai")
    return chat_models.ChatOpenAI(
        model=clients.model,
        api_key=KEY,
        root_client=clients.sync,
        client=clients.sync.chat.completions,
        root_async_client=clients.aio,
        async_client=clients.aio.chat.completions,
        max_retries=0,
    )


async def test_langchain_invoke_stream_tools_structured(
    clients: Clients, upstream: FakeUpstream
) -> None:
    llm = _chat_openai(clients)
    upstream.enqueue(Reply("Hello there"))
    assert llm.invoke("hi").content == "Hello there"
    upstream.enqueue(Reply("Hello async"))
    assert (await llm.ainvoke("hi")).content == "Hello async"
    upstream.enqueue(Reply("one two three", pieces=3))
    assert "".join(str(c.content) for c in llm.stream("count")) == "one two three"

    def lookup(city: str) -> str:
        """Look a city up."""
        return city

    upstream.enqueue(_tool_reply("lookup", {"city": "Paris"}))
    message = llm.bind_tools([lookup]).invoke("where?")
    assert message.tool_calls[0]["name"] == "lookup"
    assert message.tool_calls[0]["args"] == {"city": "Paris"}

    upstream.enqueue(Reply(json.dumps({"name": "Cy", "age": 9}), pieces=1))
    user = llm.with_structured_output(User).invoke("Cy is 9")
    assert user == User(name="Cy", age=9)
    assert upstream.requests[-1].body["response_format"]["type"] == "json_schema"


# -- openai-agents ---------------------------------------------------------------------
def _agent(clients: Clients) -> Any:
    agents = _need("agents")
    agents.set_tracing_disabled(True)  # no export to the hosted tracing service

    @agents.function_tool
    def weather(city: str) -> str:
        """The weather of a city."""
        return f"sunny in {city}"

    model = agents.OpenAIChatCompletionsModel(model=clients.model, openai_client=clients.aio)
    return agents.Agent(name="helper", instructions="Help.", model=model, tools=[weather])


async def test_agents_run_with_a_tool_over_two_turns(
    clients: Clients, upstream: FakeUpstream
) -> None:
    agent = _agent(clients)
    import agents

    upstream.enqueue(_tool_reply("weather", {"city": "Oslo"}))
    upstream.enqueue(Reply("It is sunny in Oslo."))
    result = await agents.Runner.run(agent, "Weather in Oslo?")
    assert result.final_output == "It is sunny in Oslo."
    second = json.dumps(upstream.requests[-1].body["messages"])
    assert len(upstream.requests) == 2 and "sunny in Oslo" in second  # the tool's output

    upstream.enqueue(_tool_reply("weather", {"city": "Rome"}))
    upstream.enqueue(Reply("Sunny in Rome.", pieces=2))
    streamed = agents.Runner.run_streamed(agent, "Weather in Rome?")
    kinds = [event.type async for event in streamed.stream_events()]
    assert streamed.final_output == "Sunny in Rome."
    assert "raw_response_event" in kinds
    assert upstream.requests[-1].body["stream"] is True


# -- pydantic-ai -----------------------------------------------------------------------
class City(pydantic.BaseModel):
    name: str
    population: int


def _pydantic_agent(clients: Clients) -> Any:
    pydantic_ai = _need("pydantic_ai")
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel(clients.model, provider=OpenAIProvider(openai_client=clients.aio))
    return pydantic_ai.Agent(model, output_type=City)


async def test_pydantic_ai_run_and_run_stream(clients: Clients, upstream: FakeUpstream) -> None:
    agent = _pydantic_agent(clients)
    paris = {"name": "Paris", "population": 2100000}
    upstream.enqueue(_tool_reply("final_result", paris))
    result = await agent.run("The capital of France?")
    assert result.output == City(**paris)

    upstream.enqueue(_tool_reply("final_result", paris))
    async with agent.run_stream("The capital of France?") as streamed:
        output = await streamed.get_output()
    assert output == City(**paris)
    assert upstream.requests[-1].body["stream"] is True
