"""intake_web's modules keep the house import order (``__future__``, standard library, third party, ours:
`services`/`shared`), so a reader finds a module's dependencies where they expect them."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
MODULES = sorted((ROOT / "services" / "intake_web").rglob("*.py"))


def _group(name: str) -> int:
    top = name.split(".")[0]
    if top == "__future__":
        return 0
    if top in sys.stdlib_module_names:
        return 1
    return 3 if top in ("services", "shared") else 2


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_come_in_house_order(path: Path) -> None:
    tree = ast.parse(path.read_text())
    groups = [_group(node.module or "") if isinstance(node, ast.ImportFrom) else _group(node.names[0].name)
              for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    assert groups == sorted(groups), f"{path.name}: imports out of order {groups}"
