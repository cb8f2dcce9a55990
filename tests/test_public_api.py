"""The names the README's library examples use exist where the README imports them from."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import hashattack

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_imports() -> list[tuple[str, str]]:
    """(module, name) of every `from hashattack... import name` in the README's Python blocks."""
    found = []
    for block in re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hashattack"):
                found += [(node.module, alias.name) for alias in node.names]
    return found


def test_the_readme_imports_public_names_that_exist():
    imports = readme_imports()
    assert len(imports) >= 8
    for module, name in imports:
        assert hasattr(importlib.import_module(module), name), f"from {module} import {name}"


def test_the_public_face_exports_what_it_lists():
    for name in hashattack.__all__:
        assert getattr(hashattack, name) is not None, name
    assert hashattack.encode is importlib.import_module("hashattack.models.encode").encode_set
