"""Versioned prompt templates (files under ai/prompts/).

A template is ``ai/prompts/<name>.md``: a front matter block with at least ``version:``,
then the messages, each introduced by a line ``[system]``, ``[user]`` or
``[assistant]``. Each message is a Jinja2 template rendered with the caller's variables
and ``sources`` (the passages the answer may rest on). The name and version of the
template a text was made from are stored with every AI output (its provenance), so a
template whose wording changes gets a new ``version``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import cast

import jinja2

from bizos.ai.types import ChatMessage, Role, Source

_NAME = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$")
_ROLE_LINE = re.compile(r"^\[(system|user|assistant)\]\s*$", re.MULTILINE)
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)

# Prompts are plain text, not HTML: no autoescaping. Variables are data — Jinja never
# evaluates their content as template code, so a customer cannot inject template syntax.
_ENV = jinja2.Environment(
    autoescape=False,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
)


class UnknownTemplate(LookupError):
    """No prompt template has this name."""


class TemplateFormatError(ValueError):
    """A template file is malformed (no version, no messages)."""


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    name: str
    version: str
    description: str
    messages: tuple[tuple[Role, jinja2.Template], ...]


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    messages: tuple[ChatMessage, ...]
    template: str
    version: str


def _parse(name: str, text: str) -> PromptTemplate:
    text = text.replace("\r\n", "\n")
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise TemplateFormatError(f"prompt {name!r} has no front matter")
    meta: dict[str, str] = {}
    for line in match.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise TemplateFormatError(f"prompt {name!r}: bad front matter line {line!r}")
        meta[key.strip()] = value.strip().strip("\"'")
    version = meta.get("version", "")
    if not version:
        raise TemplateFormatError(f"prompt {name!r} has no version")
    body = text[match.end() :]
    parts = _ROLE_LINE.split(body)
    # parts = [preamble, role, text, role, text, ...]; the preamble must be blank.
    if parts[0].strip() or len(parts) < 3:
        raise TemplateFormatError(f"prompt {name!r} must start with a [role] line")
    messages = tuple(
        (cast(Role, parts[i]), _ENV.from_string(parts[i + 1].strip("\n")))
        for i in range(1, len(parts), 2)
    )
    return PromptTemplate(name, version, meta.get("description", ""), messages)


@lru_cache(maxsize=64)
def load(name: str) -> PromptTemplate:
    """The template ``name`` (parsed once per process)."""
    if not _NAME.match(name):
        raise UnknownTemplate(f"no prompt template {name!r}")
    path = resources.files("bizos.ai").joinpath("prompts", f"{name}.md")
    if not path.is_file():
        raise UnknownTemplate(f"no prompt template {name!r}")
    return _parse(name, path.read_text(encoding="utf-8"))


def available() -> list[str]:
    """Names of every template shipped with bizos."""
    folder = resources.files("bizos.ai").joinpath("prompts")
    return sorted(p.name[:-3] for p in folder.iterdir() if p.name.endswith(".md"))


def render(
    name: str, variables: Mapping[str, str], *, sources: Sequence[Source] = ()
) -> RenderedPrompt:
    """Render ``name`` with ``variables`` and ``sources``. A variable the template needs
    and the caller did not give is an error (``jinja2.UndefinedError``), not a blank."""
    template = load(name)
    context = {**variables, "sources": list(sources)}
    messages = tuple(
        ChatMessage(role=role, content=body.render(context).strip())
        for role, body in template.messages
    )
    return RenderedPrompt(messages=messages, template=template.name, version=template.version)
