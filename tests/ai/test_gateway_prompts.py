"""Prompt templates: versioned files, rendered with the caller's variables and sources."""

from __future__ import annotations

import re

import jinja2
import pytest

from bizos.ai import prompts
from bizos.ai.types import Source

NAMED_IN_INTERFACES = {
    "kb.summarize.map": {"text": "The fee is 40 EUR.", "query": "fees", "title": "Prices"},
    "kb.summarize.reduce": {"text": "- part one\n- part two", "query": ""},
    "kb.contract.extract": {"text": "This agreement starts on 2025-01-01."},
    "support.draft": {"message": "Where is my parcel?", "customer_name": "Sam"},
    "support.classify": {"text": "This is the third time I write! Refund me."},
}


@pytest.mark.parametrize("name", sorted(NAMED_IN_INTERFACES))
def test_every_named_template_is_versioned_and_renders(name: str) -> None:
    rendered = prompts.render(name, NAMED_IN_INTERFACES[name])
    assert rendered.template == name
    assert rendered.version == prompts.load(name).version != ""
    assert [m.role for m in rendered.messages] == ["system", "user"]
    assert all(m.content.strip() for m in rendered.messages)
    # Every variable given ends up in the prompt (blank ones are simply left out).
    text = "\n".join(m.content for m in rendered.messages)
    for value in NAMED_IN_INTERFACES[name].values():
        assert value in text


def test_the_shipped_templates_are_the_ones_named() -> None:
    assert set(NAMED_IN_INTERFACES) <= set(prompts.available())


def test_sources_are_numbered_in_the_draft_prompt() -> None:
    rendered = prompts.render(
        "support.draft",
        {"message": "Can I return it?"},
        sources=[Source(title="Returns", text="Within 30 days."), Source(title="FAQ", text="Yes.")],
    )
    system = rendered.messages[0].content
    assert "[1] Returns\nWithin 30 days." in system
    assert "[2] FAQ\nYes." in system
    empty = prompts.render("support.draft", {"message": "Can I return it?"})
    assert "(none)" in empty.messages[0].content


def test_optional_variables_may_be_left_out() -> None:
    rendered = prompts.render("kb.summarize.map", {"text": "Body."})
    assert "Focus" not in rendered.messages[1].content


def test_a_missing_required_variable_is_an_error_not_a_blank() -> None:
    with pytest.raises(jinja2.UndefinedError):
        prompts.render("support.draft", {"customer_name": "Sam"})


def test_template_syntax_in_a_variable_is_kept_as_text() -> None:
    rendered = prompts.render("support.classify", {"text": "{{ 7 * 7 }} {% if x %}"})
    assert "{{ 7 * 7 }} {% if x %}" in rendered.messages[1].content


@pytest.mark.parametrize("name", ["no.such.template", "../models", "support/draft", "", "A.B"])
def test_unknown_or_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(prompts.UnknownTemplate):
        prompts.render(name, {})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[user]\nhi", "no front matter"),
        ("---\ndescription: x\n---\n[user]\nhi", "no version"),
        ("---\nversion: 1\n---\nhello\n[user]\nhi", "must start with a [role]"),
        ("---\nversion: 1\n---\n", "must start with a [role]"),
    ],
)
def test_malformed_template_files_are_refused(text: str, problem: str) -> None:
    with pytest.raises(prompts.TemplateFormatError, match=re.escape(problem)):
        prompts._parse("broken", text)
