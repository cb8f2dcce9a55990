"""The package's shape, counted: what tests/test_layers.py holds, and where knowledge is still switched on.

Prints, for a source tree of hashattack (default: this checkout's `src/hashattack`):
- import cycles, function-level imports of hashattack modules and modules over 300 lines, by
  the layer test's own checker (`tests/test_layers.check_tree`, one implementation);
- comparisons against a registered dataset name outside `data/` (a string literal equal to a
  dataset name in an `==` / `!=` / `in` / `not in` comparison, or a dict key), and every string
  literal equal to one outside `data/` (lists, defaults and arguments too; docstrings not);
- `.source` switches (an attribute named `source` compared with `==` / `!=` / `in`);
- switches on methods in `protocol/`: `isinstance(…, <an attack class>)` and comparisons against a
  registered method name.

The names (datasets, methods, attack classes) come from the hashattack that `sys.path` finds; the
tree measured may be another one (`--src`), so a before/after pair uses the same names.

    PYTHONPATH=src python benchmarks/package_shape.py [--src ../main/src/hashattack] [--list]
"""

from __future__ import annotations

import argparse
import ast
import inspect
import sys
from pathlib import Path

import hashattack.attacks as attacks
from hashattack.attacks.registry import METHOD_ORDER

try:   # the dataset registry, where there is one; before it, the spec's list
    from hashattack.data.registry import available_datasets
    DATASET_NAMES = tuple(available_datasets())
except ImportError:
    from hashattack.protocol.spec import DATASETS as DATASET_NAMES

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_layers import MAX_LINES, check_tree, string_constants  # noqa: E402  (the layer test's, not a copy)

COMPARISONS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)
ATTACK_CLASSES = {name for name, value in vars(attacks).items()
                  if inspect.isclass(value) and issubclass(value, attacks.Attack)}


def literals(node: ast.AST) -> list[str]:
    """The string constants of a comparison operand: itself, or the items of a tuple / list / set."""
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return [item.value for item in items if isinstance(item, ast.Constant) and isinstance(item.value, str)]


def name_switches(tree: ast.AST, names: set[str]) -> list[tuple[int, str]]:
    """(line, literal) of every comparison against, and dict key equal to, one of `names`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, COMPARISONS) for op in node.ops):
            hits = [text for operand in (node.left, *node.comparators) for text in literals(operand) if text in names]
            if hits:
                found.append((node.lineno, ", ".join(hits)))
        elif isinstance(node, ast.Dict):
            found += [(key.lineno, key.value) for key in node.keys
                      if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value in names]
    return found


def source_switches(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every comparison of an attribute named `source`."""
    return [(node.lineno, ast.unparse(node)[:60]) for node in ast.walk(tree)
            if isinstance(node, ast.Compare) and any(isinstance(op, COMPARISONS) for op in node.ops)
            and any(isinstance(side, ast.Attribute) and side.attr == "source" for side in (node.left, *node.comparators))]


def type_switches(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every `isinstance(x, <attack class>)`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance" \
                and len(node.args) == 2:
            kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            if any((k.id if isinstance(k, ast.Name) else getattr(k, "attr", None)) in ATTACK_CLASSES for k in kinds):
                found.append((node.lineno, ast.unparse(node)[:60]))
    return found


def measure(src: Path) -> dict[str, list[str]]:
    """Every count of the package's shape as lists of 'file:line: what' (a count is a list's length)."""
    problems = check_tree(src)
    found = {"import cycles": [p for p in problems if p.startswith("import cycle")],
             "function-level imports": [p for p in problems if "function-level import" in p],
             f"modules over {MAX_LINES} lines": [p for p in problems if p.endswith(f"(at most {MAX_LINES})")],
             "layer breaches": [p for p in problems if "(layer" in p],
             "dataset-name comparisons outside data/": [], "dataset-name literals outside data/": [],
             ".source switches": [],
             "method switches in protocol/": []}
    for path in sorted(src.rglob("*.py")):
        where, tree = path.relative_to(src), ast.parse(path.read_text(encoding="utf-8"))
        if where.parts[0] != "data":
            found["dataset-name comparisons outside data/"] += [f"{where}:{line}: {text}" for line, text in
                                                                sorted(name_switches(tree, set(DATASET_NAMES)))]
            found["dataset-name literals outside data/"] += [f"{where}:{line}: {text}" for line, text in
                                                             sorted(string_constants(path)) if text in DATASET_NAMES]
        found[".source switches"] += [f"{where}:{line}: {text}" for line, text in sorted(source_switches(tree))]
        if where.parts[0] == "protocol":
            switches = type_switches(tree) + name_switches(tree, set(METHOD_ORDER))
            found["method switches in protocol/"] += [f"{where}:{line}: {text}" for line, text in sorted(switches)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src" / "hashattack", help="the package folder measured")
    parser.add_argument("--list", action="store_true", help="print every place, not only the counts")
    args = parser.parse_args()
    print(f"{args.src}: {len(list(args.src.rglob('*.py')))} modules; datasets {', '.join(DATASET_NAMES)}; "
          f"methods {', '.join(METHOD_ORDER)}")
    for what, places in measure(args.src).items():
        print(f"{len(places):4d}  {what}")
        if args.list:
            print("".join(f"        {place}\n" for place in places), end="")


if __name__ == "__main__":
    main()
