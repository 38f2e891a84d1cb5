"""Rendering: Jinja2 in a sandbox with StrictUndefined, child prompts, their limits."""

from __future__ import annotations

from typing import Any

import pytest

from respan_router import InvalidRequestError, Router
from respan_router.testing import FakeProvider

USER = [{"role": "user", "content": "hi"}]


def _prompt(text: str, **config: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "system", "content": text}], **config}


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def router(fake: FakeProvider) -> Router:
    return Router(provider=fake)


def _sent(router: Router, fake: FakeProvider, prompt_id: str, **prompt: Any) -> str:
    """The system message the provider received."""
    router.complete(prompt={"prompt_id": prompt_id, **prompt}, messages=USER)
    content = fake.calls[-1].messages[0]["content"]
    assert isinstance(content, str)
    return content


JINJA = [
    ("Hello {{ name }}!", {"name": "Ann"}, "Hello Ann!"),
    ("{% if vip %}Dear {{ name }}{% else %}Hi{% endif %}", {"vip": True, "name": "Bo"}, "Dear Bo"),
    ("{% if vip %}Dear{% else %}Hi{% endif %}", {"vip": False}, "Hi"),
    ("{{ name | upper }} / {{ items | join(', ') }}", {"name": "x", "items": ["a", "b"]},
     "X / a, b"),
    ("From {{ input.city }}, {{ input.address.zip }}",
     {"input": {"city": "Paris", "address": {"zip": "75001"}}}, "From Paris, 75001"),
    ("a{# a note for prompt authors #}b", {}, "ab"),
    ("{% for t in tags %}[{{ t }}]{% endfor %}", {"tags": [1, 2]}, "[1][2]"),
    ("{% if extra is defined %}{{ extra }}{% else %}none{% endif %}", {}, "none"),
    ("no template at all {", {}, "no template at all {"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "variables", "expected"), JINJA)
def test_jinja_renders(
    router: Router, fake: FakeProvider, text: str, variables: dict[str, Any], expected: str
) -> None:
    router.prompts.add(id="p", **_prompt(text))
    assert _sent(router, fake, "p", variables=variables) == expected


def test_a_variable_value_is_text_never_a_template(router: Router, fake: FakeProvider) -> None:
    router.prompts.add(id="p", **_prompt("Q: {{ q }}"))
    injected = "{{ ''.__class__ }}{% for x in range(3) %}x{% endfor %}"
    assert _sent(router, fake, "p", variables={"q": injected}) == f"Q: {injected}"


def test_list_content_parts_render_their_text(router: Router, fake: FakeProvider) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/{{ x }}.png"}}
    router.prompts.add(
        id="p",
        model="m",
        messages=[{"role": "user", "content": [{"type": "text", "text": "see {{ x }}"}, image]}],
    )
    router.complete(prompt={"prompt_id": "p", "variables": {"x": "cat"}})
    assert fake.calls[-1].messages[0]["content"] == [{"type": "text", "text": "see cat"}, image]


@pytest.mark.parametrize("variables", [None, {}, {"other": 1}])
def test_a_missing_variable_is_named(
    router: Router, fake: FakeProvider, variables: dict[str, Any] | None
) -> None:
    router.prompts.add(id="p", **_prompt("Hello {{ name }}"))
    with pytest.raises(InvalidRequestError) as info:
        router.complete(prompt={"prompt_id": "p", "variables": variables})
    assert str(info.value) == "prompt 'p' version 1: variable 'name' is missing"
    assert info.value.field == "prompt.variables.name"
    assert fake.calls == []


def test_a_missing_key_of_a_dict_variable_is_named(router: Router) -> None:
    router.prompts.add(id="p", **_prompt("{{ input.city }}"))
    with pytest.raises(InvalidRequestError, match="has no attribute 'city'"):
        router.complete(prompt={"prompt_id": "p", "variables": {"input": {"town": "x"}}})


def test_a_template_failing_on_its_variables_is_invalid_request(router: Router) -> None:
    router.prompts.add(id="p", **_prompt("{{ n + 1 }}"))
    with pytest.raises(InvalidRequestError, match="TypeError") as info:
        router.complete(prompt={"prompt_id": "p", "variables": {"n": "text"}})
    assert info.value.field == "prompt.variables"


ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.system('echo pwned') }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ x.__class__.__base__ }}",
    "{{ x.items.__self__.__class__ }}",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_a_template_cannot_reach_python_internals(
    router: Router, fake: FakeProvider, template: str
) -> None:
    router.prompts.add(id="evil", **_prompt(template))
    with pytest.raises(InvalidRequestError) as info:
        router.complete(prompt={"prompt_id": "evil", "variables": {"x": {"a": 1}}}, messages=USER)
    assert (
        str(info.value) == "prompt 'evil' version 1: the template tried an operation the "
        "sandbox forbids"
    )
    assert info.value.field == "prompt"
    assert fake.calls == []


# -- child prompts ----------------------------------------------------------------------------
def _child(prompt_id: str, **more: Any) -> dict[str, Any]:
    return {"_type": "prompt", "prompt_id": prompt_id, **more}


def test_child_prompts_render_first_down_to_depth_two(router: Router, fake: FakeProvider) -> None:
    router.prompts.add(id="root", **_prompt("[root: {{ section }}]"))
    router.prompts.add(id="section", **_prompt("[section {{ n }}: {{ leaf }}]"))
    router.prompts.add(
        id="leaf",
        versions=[
            {"version": 1, "messages": [{"role": "system", "content": "old {{ who }}"}]},
            {
                "version": 2,
                "messages": [
                    {"role": "system", "content": "leaf for {{ who }}"},
                    {"role": "user", "content": "second"},
                ],
            },
        ],
        deployed_version=1,
    )
    leaf = _child("leaf", version=2, variables={"who": "Ann"})
    section = _child("section", variables={"n": 7, "leaf": leaf})
    text = _sent(router, fake, "root", variables={"section": section})
    assert text == "[root: [section 7: leaf for Ann\n\nsecond]]"
    reply = router.complete(prompt={"prompt_id": "root", "variables": {"section": section}})
    assert reply.prompt_message == [{"role": "system", "content": text}]


def test_depth_three_is_an_error(router: Router, fake: FakeProvider) -> None:
    for name, inner in (("a", "b"), ("b", "c"), ("c", "d")):
        router.prompts.add(id=name, **_prompt(f"{name}({{{{ {inner} }}}})"))
    router.prompts.add(id="d", **_prompt("d"))
    two = _child("b", variables={"c": _child("c", variables={"d": "plain"})})
    assert _sent(router, fake, "a", variables={"b": two}) == "a(b(c(plain)))"
    three = _child("b", variables={"c": _child("c", variables={"d": _child("d")})})
    with pytest.raises(
        InvalidRequestError, match=r"at most 2 levels deep: a -> b -> c -> d"
    ) as info:
        router.complete(prompt={"prompt_id": "a", "variables": {"b": three}})
    assert info.value.field == "prompt.variables.b.variables.c.variables.d"


@pytest.mark.parametrize(
    ("variables", "path"),
    [
        ({"x": _child("a")}, "a -> a"),
        ({"x": _child("b", variables={"y": _child("a")})}, "a -> b -> a"),
    ],
)
def test_a_cycle_is_an_error(router: Router, variables: dict[str, Any], path: str) -> None:
    router.prompts.add(id="a", **_prompt("a {{ x }}"))
    router.prompts.add(id="b", **_prompt("b {{ y }}"))
    with pytest.raises(InvalidRequestError, match=f"child prompts form a cycle: {path}"):
        router.complete(prompt={"prompt_id": "a", "variables": variables})


@pytest.mark.parametrize(
    ("child", "field", "message"),
    [
        (_child("nope"), "prompt.variables.x.prompt_id", "unknown prompt 'nope'"),
        (_child("c", version=4), "prompt.variables.x.version", "has no version 4"),
        (_child("c", version=0), "prompt.variables.x.version", "number >= 1"),
        (_child("c", extra=1), "prompt.variables.x.extra", "unknown field 'extra'"),
        ({"_type": "prompt"}, "prompt.variables.x.prompt_id", "needs a prompt_id"),
        (_child("c", variables=[1]), "prompt.variables.x.variables", "must be an object"),
        (_child("c"), "prompt.variables.x.variables.who", "prompt 'c' version 1: variable 'who'"),
    ],
)
def test_child_errors_name_where(
    router: Router, child: dict[str, Any], field: str, message: str
) -> None:
    router.prompts.add(id="p", **_prompt("{{ x }}"))
    router.prompts.add(id="c", **_prompt("{{ who }}"))
    with pytest.raises(InvalidRequestError, match=message) as info:
        router.complete(prompt={"prompt_id": "p", "variables": {"x": child}})
    assert info.value.field == field


def test_a_dict_without_the_prompt_type_is_a_plain_variable(
    router: Router, fake: FakeProvider
) -> None:
    router.prompts.add(id="p", **_prompt("{{ x.prompt_id }}"))
    assert _sent(router, fake, "p", variables={"x": {"prompt_id": "c"}}) == "c"
