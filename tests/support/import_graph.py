"""The first-party import graph: cycles, layer breaches and the largest modules.

``python -m tests.support.import_graph`` prints the report (``make imports``); tests/unit/test_structure.py
asserts it is clean. Type-checking imports count: a module that only names another's type still depends on it.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import grimp

ROOT = Path(os.environ.get("IMPORT_GRAPH_ROOT") or Path(__file__).resolve().parents[2])
PACKAGES = ("stack", "services", "deploy", "localaws", "bench", "pipeline", "tests")
# Who may import whom (first-party top-level names). Pages see only services; services see the core and the
# pipeline's pure modules; nothing imports the console's pages, the benchmarks or the tests.
ALLOWED = {
    "pages": {"services"},
    "services": {"services", "stack", "pipeline", "deploy"},  # the Admin page deploys through the deployer
    "deploy": {"deploy", "stack", "pipeline"},
    "localaws": {"localaws", "stack"},
    "stack": {"stack"},
    "pipeline": {"pipeline", "stack"},
    "bench": {"bench", "stack", "services", "deploy", "localaws", "pipeline", "tests"},
    "tests": set(PACKAGES) | {"pages"},
}
# The Lambda zips and the Glue job ship alone: they import nothing first-party outside themselves.
SELF_CONTAINED = ("pipeline.lambdas", "pipeline.glue")


@dataclass(frozen=True)
class Report:
    cycles: list[list[str]]
    breaches: list[tuple[str, str]]
    largest: list[tuple[int, str]]


def _packages() -> list[str]:
    return [name for name in PACKAGES if (ROOT / name / "__init__.py").exists()]


def _pages_imports() -> dict[str, set[str]]:
    """Home.py and pages/*.py are scripts, not a package: read their imports from the syntax tree."""
    found: dict[str, set[str]] = {}
    for path in [ROOT / "Home.py", *sorted((ROOT / "pages").glob("*.py"))]:
        if not path.exists():
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[f"pages.{path.stem}"] = names
    return found


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, directly or through others."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(groups)


def build_report(top: int = 10) -> Report:
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph(
        *_packages(), include_external_packages=False, exclude_type_checking_imports=False
    )
    edges = {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}
    first_party = set(PACKAGES) | {"pages"}
    for page, names in _pages_imports().items():
        edges[page] = {name for name in names if name.split(".")[0] in first_party}
    breaches = []
    for importer, imported in sorted((a, b) for a, targets in edges.items() for b in targets):
        source, target = importer.split(".")[0], imported.split(".")[0]
        shipped_alone = next((p for p in SELF_CONTAINED if f"{importer}.".startswith(f"{p}.")), None)
        if target not in ALLOWED.get(source, set()) or (
            shipped_alone and not f"{imported}.".startswith(f"{shipped_alone}.")
        ):
            breaches.append((importer, imported))
    sizes = []
    for package in (*_packages(), "pages"):
        for path in (ROOT / package).rglob("*.py"):
            if package == "tests" or ".venv" in path.parts:
                continue
            sizes.append((len(path.read_text().splitlines()), str(path.relative_to(ROOT))))
    if (ROOT / "Home.py").exists():
        sizes.append((len((ROOT / "Home.py").read_text().splitlines()), "Home.py"))
    return Report(_strongly_connected(edges), breaches, sorted(sizes, reverse=True)[:top])


def main() -> int:
    report = build_report()
    print(f"import cycles: {len(report.cycles)}")
    for group in report.cycles:
        print("  " + " <-> ".join(group))
    print(f"layer breaches: {len(report.breaches)}")
    for importer, imported in report.breaches:
        print(f"  {importer} -> {imported}")
    print("largest modules (lines):")
    for lines, path in report.largest:
        print(f"  {lines:5d}  {path}")
    return 1 if report.cycles or report.breaches else 0


if __name__ == "__main__":
    raise SystemExit(main())
