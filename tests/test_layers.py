"""The package structure: declared layers hold, no module imports itself in a circle, and
every module can be imported first, on its own."""

from __future__ import annotations

import pkgutil
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import grimp

import gateway

REPO = Path(__file__).resolve().parent.parent
REPO_CONFIG = "pyproject.toml"


def all_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(gateway.__path__, prefix="gateway.")
        # __main__ runs the command line when imported, by design
        if info.name != "gateway.__main__"
    )


def test_the_layering_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"  # installed by import-linter
    result = subprocess.run(
        [str(lint_imports), "--config", REPO_CONFIG, "--no-cache"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("gateway")
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                cycles.append(" -> ".join([module, *back]))
    assert cycles == []


def test_every_module_imports_first_in_any_order() -> None:
    modules = all_modules()
    assert len(modules) > 40  # the walk found the package
    orders = []
    for seed in range(3):
        order = list(modules)
        random.Random(seed).shuffle(order)
        orders.append(order)
    script = textwrap.dedent(
        """
        import importlib, sys
        orders = {orders!r}
        for order in orders:
            for name in order:
                for loaded in [m for m in sys.modules if m.partition(".")[0] == "gateway"]:
                    del sys.modules[loaded]
                importlib.import_module(name)
        print("ok", sum(len(o) for o in orders))
        """
    ).format(orders=orders)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", str(3 * len(modules))]
