"""The package's layout rules (issue 22): few modules at the root, none long, no import cycle, layers in order.

Read with ``ast`` from the source, so every import counts: at module level and inside functions, relative ones
resolved. Importing ``a.b.c`` counts as importing the packages ``a.b`` and ``a`` too (their ``__init__`` runs),
except the importing module's own ancestors (already being imported when it runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "openem_build"
MAX_ROOT_MODULES = 10
MAX_LINES = 400
#: The layers, top to bottom (docs/architecture.md): a module imports from its own folder, from lower layers, and
#: within the foundation (records, data, infra) from one another; never from a higher layer or a sibling.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"cli", "__init__"}),
    frozenset({"commands"}),
    frozenset({"site", "doi", "authoring"}),
    frozenset({"render"}),
    frozenset({"records", "data", "infra"}),
)


def modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name → (file, is a package's ``__init__``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if package else parts)] = (path, package)
    return out


def import_graph(mods: dict[str, tuple[Path, bool]]) -> dict[str, set[str]]:
    """Module → the package's modules it imports, anywhere in its code."""
    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, (path, package) in mods.items():
        here = name.split(".") if package else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[:len(here) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in mods else module for a in node.names]
            for target in targets:
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    dotted = ".".join(parts[:i])
                    if dotted in mods and dotted != name and not name.startswith(dotted + "."):
                        graph[name].add(dotted)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_at_most_ten_modules_at_the_package_root() -> None:
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, root


def test_no_module_is_longer_than_400_non_blank_lines() -> None:
    long = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        lines = sum(1 for line in path.read_text("utf-8").splitlines() if line.strip())
        if lines > MAX_LINES:
            long[rel] = lines
    assert not long, f"split these modules by concern: {long}"


def folder_of(module: str) -> str:
    """The top-level folder (or root module) of a dotted module name: ``openem_build.records.load`` → records."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_breaches(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a higher layer or a sibling folder, as ``importer → imported``."""
    rank = {folder: i for i, layer in enumerate(LAYERS) for folder in layer}
    foundation = len(LAYERS) - 1
    out = []
    for name, targets in sorted(graph.items()):
        here = folder_of(name)
        for target in sorted(targets):
            there = folder_of(target)
            if there == here or (rank[here] == rank[there] == foundation):
                continue
            if rank[there] <= rank[here]:
                out.append(f"{name} → {target}")
    return out


def test_every_folder_has_a_layer() -> None:
    known = set().union(*LAYERS)
    folders = {folder_of(name) for name in modules()}
    assert folders <= known, f"give these a layer in LAYERS and docs/architecture.md: {sorted(folders - known)}"


def test_no_layer_imports_a_higher_one_or_a_sibling() -> None:
    breaches = layer_breaches(import_graph(modules()))
    assert not breaches, "move the shared piece down:\n" + "\n".join(breaches)


def test_the_layer_check_sees_a_records_module_importing_a_renderer() -> None:
    """The checker itself: records (the foundation) importing render, or site importing authoring, is found."""
    graph = {"openem_build.records.load": {"openem_build.render.markdown"},
             "openem_build.site.build": {"openem_build.authoring.add", "openem_build.render.pages"},
             "openem_build.data.annex": {"openem_build.records.filerecord", "openem_build.infra.urls"}}
    assert layer_breaches(graph) == ["openem_build.records.load → openem_build.render.markdown",
                                     "openem_build.site.build → openem_build.authoring.add"]


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph(modules()))
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The checker itself: a cycle made by an import inside a function, through a relative import, is found."""
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from .sub import b\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("def f():\n    from .. import a\n")
    mods = {}
    for path in sorted((tmp_path / "pkg").rglob("*.py")):
        parts = list(path.relative_to(tmp_path).with_suffix("").parts)
        package = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if package else parts)] = (path, package)
    cycle = find_cycle(import_graph(mods))
    assert cycle is not None and set(cycle) == {"pkg.a", "pkg.sub.b"}


def test_the_registry_imports_no_renderer_and_outputs_registers_them_in_rank_order() -> None:
    graph = import_graph(modules())
    renderers = {m for m in graph if m.startswith("openem_build.render.")} - {"openem_build.render.registry"}
    assert not graph["openem_build.render.registry"] & renderers
    from openem_build.render import outputs, registry

    ranks = [rank for rank, _ in registry._DATASET]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert [f.__module__.rsplit(".", 1)[1] for f in outputs.catalogue_producers()] == [
        "record", "api", "dcat", "sitemap"]
    assert [f.__module__.rsplit(".", 1)[1] for _, f in registry._DATASET] == [
        "record", "jsonld", "citation", "datacite", "empiar", "mmcif", "oscem", "dcat", "oai"]
