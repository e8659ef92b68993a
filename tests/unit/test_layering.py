"""The house rules for smctl's layout, read from the source (AST, imports inside functions included).

(a) docker is imported only under smctl/engine/.
(b) boto3, botocore and s3transfer only under smctl/aws/.
(c) nothing outside smctl/cli/ imports smctl.cli (smctl/__main__.py, the `python -m smctl` entry point, excepted).
(d) no import cycles between smctl modules.
(e) no module over 450 lines.
(f) smctl/contract/ does no I/O: it imports no I/O library, and from smctl only smctl.errors and contract modules.
(g) smctl/engine/ and smctl/aws/ know nothing of the capabilities built on them (training, serving, transform,
    doctor, image, project).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "smctl"
MAX_LINES = 450
AWS_LIBRARIES = {"boto3", "botocore", "s3transfer"}
IO_LIBRARIES = {"subprocess", "socket", "docker", "urllib", "http", "shutil", *AWS_LIBRARIES}
CAPABILITIES = ("smctl.training", "smctl.serving", "smctl.transform", "smctl.doctor", "smctl.image", "smctl.project")


@dataclass(frozen=True)
class Import:
    file: str  # relative to the repository root
    line: int
    module: str  # absolute dotted name of what is imported
    type_only: bool  # under `if TYPE_CHECKING:`: never executed


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(source: str, module: str, is_package: bool, file: str = "<string>") -> list[Import]:
    """Every import in `source`, at any depth, with relative imports made absolute."""
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child.test):
                for stmt in child.body:
                    visit_one(stmt, True)
                for stmt in child.orelse:
                    visit_one(stmt, type_only)
            else:
                visit_one(child, type_only)

    def visit_one(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(file, node.lineno, alias.name, type_only) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node.module, node.level)
            names = [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
            # `from smctl.x import y` imports smctl.x, and smctl.x.y too when y is a module
            found.append(Import(file, node.lineno, base, type_only))
            found.extend(Import(file, node.lineno, name, type_only) for name in names if name in MODULES)
        visit(node, type_only)

    def resolve(target: str | None, level: int) -> str:
        if level == 0:
            return target or ""
        parts = module.split(".")
        anchor = parts if is_package else parts[:-1]
        anchor = anchor[: len(anchor) - (level - 1)]
        return ".".join([*anchor, target] if target else anchor)

    visit(ast.parse(source), False)
    return found


def top(name: str) -> str:
    return name.split(".")[0]


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


FILES = sorted(PACKAGE.rglob("*.py"))
MODULES = {module_name(p): p for p in FILES}
IMPORTS = {
    module_name(p): imports_of(p.read_text(), module_name(p), p.name == "__init__.py", str(p.relative_to(ROOT)))
    for p in FILES
}


def violations(rule: str, broken: list[tuple[Import, str]]) -> str:
    return "\n".join(f"{imp.file}:{imp.line}: rule ({rule}): {why}" for imp, why in broken)


def test_docker_is_imported_only_under_engine():
    broken = [(imp, f"imports {imp.module}; only smctl/engine/ talks to docker")
              for mod, imps in IMPORTS.items() if not within(mod, "smctl.engine")
              for imp in imps if top(imp.module) == "docker"]
    assert not broken, violations("a", broken)


def test_aws_libraries_are_imported_only_under_aws():
    broken = [(imp, f"imports {imp.module}; only smctl/aws/ uses boto3/botocore/s3transfer")
              for mod, imps in IMPORTS.items() if not within(mod, "smctl.aws")
              for imp in imps if top(imp.module) in AWS_LIBRARIES]
    assert not broken, violations("b", broken)


def test_only_cli_imports_cli():
    broken = [(imp, f"imports {imp.module}; smctl.cli sits on top and nothing below imports it")
              for mod, imps in IMPORTS.items() if not within(mod, "smctl.cli") and mod != "smctl.__main__"
              for imp in imps if within(imp.module, "smctl.cli")]
    assert not broken, violations("c", broken)


def find_cycles(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), as a path back to its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def connect(node: str) -> None:  # recursion depth is bounded by the module count (~150)
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in graph.get(node, {}):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, {}):
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    cycles = []
    for component in components:
        start, members = component[0], set(component)
        paths = {start: [start]}
        queue = [start]
        while queue:  # breadth first: the shortest way back to `start` inside the component
            node = queue.pop(0)
            for succ in sorted(graph.get(node, {})):
                if succ == start:
                    cycles.append([*paths[node], start])
                    queue = []
                    break
                if succ in members and succ not in paths:
                    paths[succ] = [*paths[node], succ]
                    queue.append(succ)
    return cycles


def import_graph() -> dict[str, dict[str, Import]]:
    """smctl module -> smctl module it imports at run time -> the first such import."""
    graph: dict[str, dict[str, Import]] = {}
    for mod, imps in IMPORTS.items():
        for imp in imps:
            if imp.module in MODULES and imp.module != mod and not imp.type_only and not within(mod, imp.module):
                graph.setdefault(mod, {}).setdefault(imp.module, imp)
    return graph


def test_smctl_modules_import_each_other_without_cycles():
    graph = import_graph()
    lines = []
    for cycle in find_cycles(graph):
        edges = [graph[a][b] for a, b in zip(cycle, cycle[1:], strict=False)]
        lines.append(f"{edges[0].file}:{edges[0].line}: rule (d): import cycle " + " -> ".join(cycle) + " ("
                     + ", ".join(f"{e.file}:{e.line}" for e in edges) + ")")
    assert not lines, "\n".join(lines)


def test_no_module_is_over_450_lines():
    broken = [f"{p.relative_to(ROOT)}:{MAX_LINES + 1}: rule (e): {n} lines, over {MAX_LINES}; split it"
              for p in FILES if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not broken, "\n".join(broken)


def test_contract_does_no_io_and_depends_only_on_errors():
    broken = []
    for mod, imps in IMPORTS.items():
        if not within(mod, "smctl.contract"):
            continue
        for imp in imps:
            if top(imp.module) in IO_LIBRARIES:
                broken.append((imp, f"imports {imp.module}; the contract is data and does no I/O"))
            elif (top(imp.module) == "smctl" and imp.module not in ("smctl", "smctl.errors")
                  and not within(imp.module, "smctl.contract")):
                broken.append((imp, f"imports {imp.module}; contract modules import only smctl.errors and each other"))
    assert not broken, violations("f", broken)


def test_engine_and_aws_do_not_import_capabilities():
    broken = [(imp, f"imports {imp.module}; engine/ and aws/ serve the capabilities, never the reverse")
              for mod, imps in IMPORTS.items() if within(mod, "smctl.engine") or within(mod, "smctl.aws")
              for imp in imps if any(within(imp.module, cap) for cap in CAPABILITIES)]
    assert not broken, violations("g", broken)


def test_the_scanner_sees_imports_inside_functions_and_relative_ones():
    source = "import os\ndef f():\n    from docker.errors import APIError\n    from . import layout\n"
    found = [(imp.line, imp.module) for imp in imports_of(source, "smctl.contract.instances", False)]
    assert found == [(1, "os"), (3, "docker.errors"), (4, "smctl.contract"), (4, "smctl.contract.layout")]


def test_the_cycle_finder_reports_a_cycle_with_its_path():
    imp = Import("x.py", 1, "", False)
    graph = {"a": {"b": imp}, "b": {"c": imp}, "c": {"a": imp}, "d": {"a": imp}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
