"""Every benchmark script still finds what it imports from the project.

The benchmarks take minutes to hours and need datasets beside the clone, so
the suite does not run them; but a moved module or a renamed function would
otherwise break one silently until somebody next measures. Each script's
imports of ``analytics``, ``actions`` and ``bot`` (at any depth, in functions
too) must name a module that exists and names it defines (modules that run
inside the Rasa environment are read, not imported). Imports inside a
``try`` that catches ``ImportError`` are the scripts' fallbacks for older
revisions of this repository and are not checked.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.conftest import ROOT

PROJECT_PACKAGES = ("analytics", "actions", "bot", "bench")
SCRIPTS = sorted((ROOT / "bench").glob("*.py"))


RASA_SIDE = "bot.rasa_runtime"


def _defines(path: Path, name: str) -> bool:
    """Whether the module file ``path`` defines ``name`` at its top level (without importing it)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
    return False


def _rasa_side_problem(module: str, name: str | None) -> str | None:
    base = ROOT.joinpath(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    if not path.is_file():
        return f"{module} does not exist"
    if name is not None and not _defines(path, name) and not (base / f"{name}.py").is_file():
        return f"{module} has no {name}"
    return None


def _fallback_imports(tree: ast.AST) -> set[int]:
    """Line numbers of imports inside ``try: ... except ImportError``."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = {ast.unparse(handler.type) for handler in node.handlers if handler.type is not None}
        if caught & {"ImportError", "ModuleNotFoundError"}:
            for inner in node.body:
                lines.update(n.lineno for n in ast.walk(inner) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return lines


def project_imports(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name or None) for every import of a project package in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _fallback_imports(tree)
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, None) for a in node.names if a.name.split(".")[0] in PROJECT_PACKAGES]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] in PROJECT_PACKAGES
        ):
            found += [(node.lineno, str(node.module), a.name) for a in node.names]
    return found


def test_there_are_benchmark_scripts_to_check() -> None:
    assert len(SCRIPTS) >= 20 and all(project_imports(s) is not None for s in SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_benchmark_script_imports_only_what_exists(script: Path) -> None:
    missing = []
    for line, module, name in project_imports(script):
        if module.startswith(RASA_SIDE):
            problem = _rasa_side_problem(module, name)
            missing += [f"{script.name}:{line}: {problem}"] if problem else []
            continue
        try:
            imported = importlib.import_module(module)
        except ImportError as error:
            missing.append(f"{script.name}:{line}: {module} ({error})")
            continue
        if name is not None and name != "*" and not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{script.name}:{line}: {module} has no {name}")

    assert not missing, "\n".join(missing)
