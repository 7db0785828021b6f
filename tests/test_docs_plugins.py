"""docs/plugins.md keeps up with the hook specs and the plugin vocabulary.

Each hook has a heading ``### name(arg1, arg2)`` under ``## Hooks`` whose arguments are the
spec's, in order; a spec without one, or a heading without a spec, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smsgate import types
from smsgate.plugins import new_manager

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
HEADING = re.compile(r"^### (\w+)\((.*)\)$", re.MULTILINE)


def section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def documented_hooks() -> dict[str, list[str]]:
    return {
        name: [arg.strip() for arg in args.split(",") if arg.strip()]
        for name, args in HEADING.findall(section("Hooks"))
    }


def hook_specs() -> dict[str, list[str]]:
    manager = new_manager()
    return {
        name: list(caller.spec.argnames)
        for name, caller in vars(manager.hook).items()
        if getattr(caller, "spec", None) is not None
    }


@pytest.mark.parametrize("hook", sorted(hook_specs()))
def test_every_hook_spec_is_documented_with_its_arguments(hook: str) -> None:
    documented = documented_hooks()
    assert hook in documented, f"docs/plugins.md needs a '### {hook}(...)' heading under Hooks"
    assert documented[hook] == hook_specs()[hook], f"the arguments of {hook} differ from the spec"


def test_no_hook_is_documented_that_the_specs_do_not_have() -> None:
    assert set(documented_hooks()) - set(hook_specs()) == set()


@pytest.mark.parametrize("name", sorted(types.__all__))
def test_every_type_of_the_plugin_vocabulary_is_described(name: str) -> None:
    assert f"\n### {name}\n" in section("The normalised types")


@pytest.mark.parametrize("outcome", list(types.Outcome))
def test_every_outcome_class_is_described(outcome: types.Outcome) -> None:
    assert f"| `{outcome.value}` |" in section("The outcome classes")
