"""No import cycles in the package: every import statement counts, those inside functions (lazy) and under
`TYPE_CHECKING` included, both between modules and between the package's parts (`train`, `distill`, `claims`, ...)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mobilerepro"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str) -> set[str]:
    """The package's modules that `name` imports anywhere in its source; `from a import b` is `a.b` when that is a
    module, else `a`."""
    path, found = MODULES[name], set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


def part(module: str) -> str:
    """The package's part a module belongs to: `mobilerepro.train.trainer` -> `train`."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "(root)"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` as a path that returns to its start, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == "open":
                return [*stack[stack.index(successor):], successor]
            if successor not in state:
                cycle = visit(successor)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def module_graph() -> dict[str, set[str]]:
    return {name: imported_modules(name) for name in MODULES}


def part_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, imports in module_graph().items():
        graph.setdefault(part(name), set()).update(part(m) for m in imports if part(m) != part(name))
    return graph


def test_the_import_walker_sees_lazy_and_type_only_imports():
    imports = imported_modules("mobilerepro.cli")  # the command line imports its chapters inside its commands
    assert "mobilerepro.experiments" in imports
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("graph", [module_graph, part_graph], ids=["modules", "parts"])
def test_no_import_cycles(graph):
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle)
