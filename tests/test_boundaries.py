"""Modules use each other through ``service`` and ``schemas`` only.

import-linter (``make lint``) holds the floors, the table ownership and the absence of
circles; this test holds the rest of the rule from docs/architecture.md: when one module
imports another, it names that module's (or one of its parts') ``service`` or ``schemas``,
never a helper file inside it. Function-level imports count.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import typing
from collections.abc import Callable, Iterator

import grimp

import bizos
import bizos.registry
from bizos.core.db import Base

# What another module may import besides service and schemas, and why.
ALLOWED = {
    # The problem types every provider's webhook door answers with (Stripe, Shopify,
    # inbound email): one set of refusals, shared on purpose.
    "bizos.modules.webhooks.inbound.refusals",
}


def _module_of(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) > 2 and parts[1] == "modules":
        return ".".join(parts[:3])
    return None


def test_modules_import_each_other_through_service_and_schemas_only() -> None:
    graph = grimp.build_graph("bizos")
    crossings = []
    for importer in sorted(graph.modules):
        home = _module_of(importer)
        if home is None:
            continue
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            other = _module_of(imported)
            if other is None or other == home or imported == other:
                continue
            if imported.rsplit(".", 1)[-1] in ("service", "schemas") or imported in ALLOWED:
                continue
            crossings.append(f"{importer} -> {imported}")
    assert crossings == []


def _owner(module: str) -> str:
    """The module a dotted name belongs to: ``crm`` for ``bizos.modules.crm.x``, ``ai``
    for ``bizos.ai.x``."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "modules" else parts[1]


def _holds_a_row(hint: object) -> bool:
    if isinstance(hint, type) and issubclass(hint, Base):
        return True
    return any(_holds_a_row(arg) for arg in typing.get_args(hint))


def _cross_module_calls() -> Iterator[tuple[str, int, Callable[..., object]]]:
    """Every call in a business or platform file to a function of another module (through
    a ``from ... import`` name), with the file and line."""
    root = pathlib.Path(bizos.__file__).parent
    for path in sorted(root.rglob("*.py")):
        dotted = "bizos." + ".".join(path.relative_to(root).with_suffix("").parts)
        if dotted.startswith(("bizos.demo", "bizos.cli", "bizos.registry", "bizos.app")):
            continue  # the assembly floor wires modules together on purpose
        tree = ast.parse(path.read_text())
        names = {
            alias.asname or alias.name: f"{node.module}.{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bizos")
            for alias in node.names
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                holder, attr = names.get(func.value.id), func.attr
            elif isinstance(func, ast.Name):
                holder, attr = names.get(func.id), None
            else:
                continue
            target = _resolve(holder, attr)
            if target is not None and _owner(target.__module__) != _owner(dotted):
                yield dotted, node.lineno, target


def _resolve(holder: str | None, attr: str | None) -> Callable[..., object] | None:
    if holder is None:
        return None
    try:
        if attr is None:
            module, _, name = holder.rpartition(".")
            target = getattr(importlib.import_module(module), name, None)
        else:
            target = getattr(importlib.import_module(holder), attr, None)
    except ImportError:  # a name imported from a module, not a module
        return None
    return target if inspect.isfunction(target) else None


def test_no_orm_row_is_handed_across_a_module_boundary() -> None:
    """A module gives others its schemas, ids and values, never one of its table rows
    (and never takes another module's row): the row stays where its rules live."""
    bizos.registry.metadata()  # every module's models imported
    handed = sorted(
        f"{where}:{line} -> {target.__module__}.{target.__name__}"
        for where, line, target in _cross_module_calls()
        if any(_holds_a_row(hint) for hint in typing.get_type_hints(target).values())
    )
    assert handed == []


ROOMS = {
    "__init__.py",
    "models.py",
    "schemas.py",
    "service.py",
    "api.py",
    "handlers.py",
    "workflows.py",
    "jobs.py",
    "tools.py",
    "privacy.py",
    "manifest.py",
}


def _documented_non_rooms() -> set[str]:
    """The files docs/architecture.md lists under "Files that are not rooms", as paths
    below ``bizos/modules`` (``contacts/lookups.py``, ``merge.py`` → both in contacts/)."""
    page = pathlib.Path(__file__).parents[1] / "docs" / "architecture.md"
    section = page.read_text().split("### Files that are not rooms", 1)[1].split("\n## ", 1)[0]
    listed: set[str] = set()
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[1].startswith("`"):
            continue
        module, files = cells[0], [name.strip("` ") for name in cells[1].split(",")]
        folder = ""
        for name in files:
            if "/" in name:
                folder, _, name = name.rpartition("/")
            listed.add(f"{module}/{folder}/{name}" if folder else f"{module}/{name}")
    return listed


def test_every_module_file_is_a_room_or_documented() -> None:
    """A module holds the standard rooms; any other file is listed, with why, on the
    architecture page (and a listed file that is gone is taken off it)."""
    modules = pathlib.Path(bizos.__file__).parent / "modules"
    others = {
        path.relative_to(modules).as_posix()
        for path in modules.rglob("*.py")
        if path.name not in ROOMS
    }
    documented = _documented_non_rooms()
    assert sorted(others - documented) == [], "undocumented files"
    assert sorted(documented - others) == [], "documented files that do not exist"
