"""The prompt registry: loading from files, configuration and code; validation; reload;
version selection."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from respan_router import InvalidRequestError, PromptLoadError, Router
from respan_router.prompts import PromptRegistry
from respan_router.testing import FakeProvider

SYSTEM = {"role": "system", "content": "You are {{ persona }}."}


def _version(n: int, text: str = "v{{ n }}", **config: Any) -> dict[str, Any]:
    return {"version": n, "messages": [{"role": "user", "content": text}], **config}


def _write(folder: Path, name: str, data: Any) -> Path:
    path = folder / name
    if name.endswith(".json"):
        path.write_text(json.dumps(data), encoding="utf-8")
    else:
        import yaml

        path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    tmp_path = tmp_path / "prompts"
    tmp_path.mkdir()
    _write(tmp_path, "greet.yaml", {
        "deployed_version": 1,
        "versions": [_version(1, "one", model="gpt-4o"), _version(2, "two", model="gpt-4o")],
        "draft": {"messages": [{"role": "user", "content": "draft"}], "model": "gpt-4o"},
    })  # fmt: skip
    _write(tmp_path, "summary.json", {"id": "summarise", "model": "m", "messages": [SYSTEM]})
    (tmp_path / "README.txt").write_text("not a prompt", encoding="utf-8")
    return tmp_path


# -- loading ---------------------------------------------------------------------------------
def test_a_directory_of_yaml_and_json_files(folder: Path) -> None:
    registry = PromptRegistry(directory=folder)
    assert registry.ids() == ["greet", "summarise"]  # id from the file name, or its own id
    greet = registry.get("greet")
    assert greet.source == str(folder / "greet.yaml")
    assert sorted(greet.versions) == [1, 2] and greet.deployed_version == 1
    assert greet.draft is not None and greet.draft.version == 3 and greet.draft.draft
    assert registry.get("summarise").versions[1].config == {"model": "m"}  # shorthand: v1


def test_prompts_from_the_router_configuration_and_from_code(folder: Path) -> None:
    router = Router(
        provider=FakeProvider(),
        prompts={"inline": {"model": "m", "messages": [SYSTEM]}},
        prompts_dir=folder,
    )
    router.prompts.add(id="coded", model="m", messages=[SYSTEM])
    assert router.prompts.ids() == ["coded", "greet", "inline", "summarise"]
    assert router.prompts.get("inline").source == "config"
    assert router.prompts.get("coded").source == "code"


def test_from_config_reads_prompts_dir_relative_to_the_file(folder: Path, tmp_path: Path) -> None:
    config = tmp_path / "router.json"
    config.write_text(json.dumps({"prompts_dir": "prompts"}), encoding="utf-8")
    router = Router.from_config(config, provider=FakeProvider())
    assert "greet" in router.prompts


def test_json_prompts_need_no_yaml(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # PyYAML not installed
    (folder / "greet.yaml").unlink()
    assert PromptRegistry(directory=folder).ids() == ["summarise"]
    (folder / "other.yml").write_text("x: 1", encoding="utf-8")
    with pytest.raises(PromptLoadError, match=r"other\.yml: reading YAML prompts needs PyYAML"):
        PromptRegistry(directory=folder)


def test_no_prompt_no_jinja_import() -> None:
    import subprocess

    code = (
        "import sys\n"
        "from respan_router import Router\n"
        "from respan_router.testing import FakeProvider\n"
        "r = Router(provider=FakeProvider())\n"
        "r.complete(model='m', messages=[{'role': 'user', 'content': 'hi'}])\n"
        "assert 'jinja2' not in sys.modules, 'jinja2 was imported'\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr


# -- validation: errors name the file, the prompt and the field --------------------------------
BAD = [
    ({"messages": [{"role": "user", "content": "{{ name "}]}, "versions[0].messages[0].content",
     "template syntax error on line 1"),
    ({"messages": [{"role": "user", "content": "x"}], "temprature": 1}, "versions[0].temprature",
     "unknown field 'temprature'"),
    ({"messages": [{"role": "user", "content": "x"}], "stream": True}, "versions[0].stream",
     "stream is the caller's choice"),
    ({"messages": [{"role": "user", "content": "x"}], "api_key": "sk-secret-1"},
     "versions[0].api_key", "unknown field 'api_key'"),
    ({"messages": [{"role": "user", "content": "x"}], "customer_identifier": "c"},
     "versions[0].customer_identifier", "a per-call parameter"),
    ({"versions": [_version(1), _version(1)]}, "versions[1].version", "duplicate version 1"),
    ({"versions": [_version(0)]}, "versions[0].version", "whole number >= 1"),
    ({"versions": [_version(2)], "draft": _version(1)}, "draft.version", "newer than version 2"),
    ({"versions": [_version(1)], "deployed_version": 4}, "deployed_version", "one of the versions"),
    ({"versions": []}, "versions", "at least one version or a draft"),
    ({"versions": [{"version": 1}]}, "versions[0].messages", "is required"),
    ({"versions": [{"version": 1, "messages": [{"role": "robot", "content": "x"}]}]},
     "versions[0].messages[0].role", "must be one of"),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": 7},
     "versions[0].temperature", "less than or equal to 2"),
    ({"messages": [{"role": "user", "content": "x"}], "fallback_models": "b"},
     "versions[0].fallback_models", "list"),
    ({"messages": [{"role": "user", "content": "x"}], "colour": "red"}, "versions[0].colour",
     "unknown field"),
    ({"versions": [_version(1)], "owner": "me"}, "owner", "unknown field 'owner'"),
]  # fmt: skip


@pytest.mark.parametrize(("definition", "field", "reason"), BAD, ids=[b[1] for b in BAD])
def test_a_bad_file_names_file_prompt_and_field(
    tmp_path: Path, definition: dict[str, Any], field: str, reason: str
) -> None:
    path = _write(tmp_path, "broken.json", definition)
    with pytest.raises(PromptLoadError) as info:
        PromptRegistry(directory=tmp_path)
    err = info.value
    assert err.source == str(path) and err.prompt_id == "broken" and err.field == field
    assert str(err).startswith(f"{path}: prompt 'broken': {field}: ")
    assert reason in str(err)
    assert "sk-secret-1" not in str(err)


def test_unreadable_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(PromptLoadError, match=r"a\.json: not valid JSON"):
        PromptRegistry(directory=tmp_path)
    (tmp_path / "a.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(PromptLoadError, match=r"a\.json: a prompt definition must be an object"):
        PromptRegistry(directory=tmp_path)
    with pytest.raises(PromptLoadError, match="does not exist"):
        PromptRegistry(directory=tmp_path / "missing")


def test_one_id_from_two_places_is_an_error(folder: Path) -> None:
    _write(folder, "other.json", {"id": "greet", "model": "m", "messages": [SYSTEM]})
    with pytest.raises(PromptLoadError, match="prompt 'greet' is already defined in"):
        PromptRegistry(directory=folder)
    (folder / "other.json").unlink()
    with pytest.raises(PromptLoadError, match="already defined in config"):
        PromptRegistry(directory=folder, prompts={"greet": {"messages": [SYSTEM]}})
    registry = PromptRegistry(directory=folder)
    with pytest.raises(PromptLoadError, match=r"already defined in .*greet\.yaml"):
        registry.add(id="greet", messages=[SYSTEM])
    registry.add(id="mine", messages=[SYSTEM])
    with pytest.raises(PromptLoadError, match="already defined in code"):
        registry.add(id="mine", messages=[SYSTEM])
    registry.add(id="mine", messages=[{"role": "user", "content": "new"}], replace=True)
    assert registry.select("mine").render({}) == [{"role": "user", "content": "new"}]


def test_a_prompt_without_an_id_in_code_is_an_error() -> None:
    with pytest.raises(PromptLoadError, match="needs an 'id'"):
        PromptRegistry().add(messages=[SYSTEM])


# -- reload ------------------------------------------------------------------------------------
def test_reload_sees_new_changed_and_removed_files(folder: Path) -> None:
    registry = PromptRegistry(directory=folder)
    registry.add(id="coded", messages=[SYSTEM])
    _write(folder, "summary.json", {"id": "summarise", "model": "m2", "messages": [SYSTEM]})
    (folder / "greet.yaml").unlink()
    _write(folder, "fresh.json", {"messages": [SYSTEM]})
    registry.reload()
    assert registry.ids() == ["coded", "fresh", "summarise"]  # code prompts stay
    assert registry.select("summarise").config == {"model": "m2"}


def test_a_failed_reload_keeps_the_prompts_it_had(folder: Path) -> None:
    registry = PromptRegistry(directory=folder)
    before = registry.get("greet")
    _write(folder, "summary.json", {"messages": [{"role": "user", "content": "{% if %}"}]})
    with pytest.raises(PromptLoadError, match=r"summary\.json"):
        registry.reload()
    assert registry.get("greet") is before and registry.ids() == ["greet", "summarise"]


# -- version selection -------------------------------------------------------------------------
def test_version_selection(folder: Path) -> None:
    registry = PromptRegistry(directory=folder)
    assert registry.select("greet").version == 1  # the deployed one, not the highest
    assert registry.select("greet", 2).version == 2
    latest = registry.select("greet", "latest")
    assert latest.version == 3 and latest.draft  # the draft is the newest
    assert registry.select("greet", 3) is latest  # and reachable by its number
    assert registry.select("summarise", "latest").version == 1


def test_without_deployed_version_the_highest_is_deployed() -> None:
    registry = PromptRegistry()
    registry.add(id="p", versions=[_version(2), _version(5), _version(3)])
    assert registry.select("p").version == 5


@pytest.mark.parametrize(
    ("prompt_id", "version", "field", "message"),
    [
        ("nope", None, "prompt.prompt_id", "unknown prompt 'nope'"),
        ("greet", 9, "prompt.version", r"has no version 9 \(versions: \[1, 2, 3\]\)"),
    ],
)
def test_unknown_id_or_version_is_invalid_request(
    folder: Path, prompt_id: str, version: Any, field: str, message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message) as info:
        PromptRegistry(directory=folder).select(prompt_id, version)
    assert info.value.field == field and info.value.status_code == 400


def test_a_draft_only_prompt_has_no_deployed_version() -> None:
    registry = PromptRegistry()
    registry.add(id="wip", draft={"messages": [SYSTEM]})
    assert registry.select("wip", "latest").version == 1
    with pytest.raises(InvalidRequestError, match="no deployed version"):
        registry.select("wip")
