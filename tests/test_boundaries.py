"""Modules use each other through ``service`` and ``schemas`` only.

import-linter (``make lint``) holds the floors, the table ownership and the absence of
circles; this test holds the rest of the rule from docs/architecture.md: when one module
imports another, it names that module's (or one of its parts') ``service`` or ``schemas``,
never a helper file inside it. Function-level imports count.
"""

from __future__ import annotations

import grimp

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
