"""The package's shape: layers that only look down, no import cycles, imports at module top, small modules.

Layers, lowest first (docs/architecture.md): the base modules (errors, files, validation, run_format);
retrieval; data and models (never each other); training, attacks and reporting (never each
other); protocol; cli. `hashattack/__init__.py` is the public face and may import anything.
The checker runs on any source tree, so a planted back-edge shows that it fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hashattack"
LAYERS = {"errors": 0, "files": 0, "validation": 0, "run_format": 0,
          "retrieval": 1,
          "data": 2, "models": 2,
          "training": 3, "attacks": 3, "reporting": 3,
          "protocol": 4,
          "cli": 5, "__main__": 6}
MAX_LINES = 300


def modules(root: Path, package: str = "hashattack") -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under `root`."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join((package, *parts)).removesuffix(".__init__")
        out[name] = path
    return out


def own_imports(path: Path, name: str, known: set[str], package: str = "hashattack") -> list[tuple[str, int, bool]]:
    """(imported module of the package, line, at module top?) of every import in a file.

    `from pkg import sub` imports the module pkg.sub when there is one (as import-linter reads it),
    else the names of pkg."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = name.split(".")[: len(name.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            subs = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
            targets = subs if len(subs) == len(node.names) else subs + [base]
        else:
            continue
        for target in targets:
            while target not in known and "." in target:
                target = target.rpartition(".")[0]
            if target in known:
                found.append((target, node.lineno, id(node) in top))
    return found


def string_constants(path: Path) -> list[tuple[int, str]]:
    """(line, value) of every string constant of a module outside its docstrings (names a module retypes)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def layer_of(module: str, package: str = "hashattack") -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == package else None


def check_tree(root: Path, package: str = "hashattack") -> list[str]:
    """Every breach of the package's shape under `root`, as readable lines (empty: none)."""
    found = modules(root, package)
    problems, graph = [], {name: set() for name in found}
    for name, path in found.items():
        if name == package:
            continue   # the public face
        own = layer_of(name, package)
        for module, line, at_top in own_imports(path, name, set(found), package):
            if module == package:
                continue
            where = f"{path.relative_to(root)}:{line}"
            if not at_top:
                problems.append(f"{where}: function-level import of {module}")
            other = layer_of(module, package)
            base = LAYERS.get(other) == LAYERS.get(own) == 0   # errors, files, validation: one base layer
            if other != own and not base and LAYERS.get(other, -1) >= LAYERS.get(own, -1):
                problems.append(f"{where}: {name} (layer {own}) imports {module} (layer {other})")
            if at_top and module != name:
                graph[name].add(module)
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            problems.append(f"{path.relative_to(root)}: {lines} lines (at most {MAX_LINES})")
    problems = list(dict.fromkeys(problems))   # `from m import a, b` names m once
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a cycle."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_every_module_has_a_layer():
    unknown = sorted({layer_of(name) for name in modules(SRC)} - set(LAYERS) - {None})
    assert not unknown, f"modules outside the known layers: {unknown}"


def test_the_package_keeps_its_shape():
    assert check_tree(SRC) == []


def plant(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "hashattack"
    for name, text in {"__init__.py": "", "errors.py": "", "retrieval/__init__.py": "", "retrieval/codes.py": "",
                       "models/__init__.py": "", "models/small.py": "", "data/__init__.py": "", "data/base.py": "",
                       "cli/__init__.py": "", "cli/main.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_clean_planted_tree_passes(tmp_path):
    root = plant(tmp_path, {"models/small.py": "from hashattack.retrieval.codes import x\nfrom hashattack import errors\n",
                            "cli/main.py": "from hashattack.models.small import y\n"})
    assert check_tree(root) == []


@pytest.mark.parametrize("files, expected", [
    ({"retrieval/codes.py": "from hashattack.cli.main import main\n"}, "layer retrieval) imports hashattack.cli.main"),
    ({"models/small.py": "from hashattack.data.base import LabeledSet\n"}, "imports hashattack.data.base (layer data)"),
    ({"models/small.py": "def f():\n    from hashattack.errors import InputError\n"}, "function-level import"),
    ({"data/base.py": "import hashattack.data\n", "data/__init__.py": "from hashattack.data import base\n"},
     "import cycle"),
    ({"errors.py": "x = 1\n" * (MAX_LINES + 1)}, f"{MAX_LINES + 1} lines"),
])
def test_a_planted_breach_is_caught(tmp_path, files, expected):
    problems = check_tree(plant(tmp_path, files))
    assert any(expected in line for line in problems), problems
