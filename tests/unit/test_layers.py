"""The layers of docs/architecture.md, checked on the import graph: imports point down only.

A package may import its own layer's peers (a domain reading another domain's resource names) as
long as no two packages import each other; it may never import a package of a higher layer.
`sandbox` sits above the toolkit and is imported only by entry points (and tests, bench).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "kokpit"

LAYERS: dict[str, int] = {
    # types and leaf modules
    "api": 0,
    "errors": 0,
    "quantity": 0,
    "settings": 0,
    # machinery
    "runtime": 1,
    # toolkit
    "controlplane": 2,
    "binaries": 2,
    # domains
    "fleet": 3,
    "propagation": 3,
    "etcd": 3,
    "hosted": 3,
    "machines": 3,
    "webhooks": 3,
    "components": 3,
    # local fleets
    "sandbox": 4,
    # entry points
    "hub": 5,
    "agent": 5,
    "cli": 5,
}


def package_imports() -> dict[str, set[str]]:
    """`package_imports` maps each top-level package of kokpit to the kokpit packages it imports."""
    edges: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        source = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        if source == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.append(node.module)
            elif isinstance(node, ast.Import):
                modules.extend(alias.name for alias in node.names)
            for module in modules:
                parts = module.split(".")
                if parts[0] == "kokpit" and len(parts) > 1 and parts[1] != source:
                    edges.setdefault(source, set()).add(parts[1])
    return edges


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert sorted((packages | modules) - set(LAYERS)) == []


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_point_down(package: str) -> None:
    upward = sorted(t for t in package_imports().get(package, ()) if LAYERS.get(t, 99) > LAYERS[package])
    assert upward == [], f"{package} (layer {LAYERS[package]}) imports higher layers: {upward}"


def test_no_two_packages_import_each_other() -> None:
    edges = package_imports()
    mutual = sorted(
        {tuple(sorted((a, b))) for a, targets in edges.items() for b in targets if a in edges.get(b, set())}
    )
    assert mutual == []


def test_only_entry_points_import_the_sandbox() -> None:
    importers = sorted(p for p, targets in package_imports().items() if "sandbox" in targets)
    assert set(importers) <= {"cli", "hub"}, importers
