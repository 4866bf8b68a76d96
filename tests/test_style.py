"""The code base is ruff-clean: lint rules and formatting from pyproject.toml."""

import ast
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


PATHS = ["dpda", "recipes", "tests", "benchmarks"]


def run_ruff(*args):
    ruff = shutil.which("ruff") or os.path.join(os.path.dirname(sys.executable), "ruff")
    return subprocess.run(
        [ruff, *args, *PATHS], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_check_passes():
    result = run_ruff("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_applied():
    result = run_ruff("format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


# A function of dpda/ longer than this (lines of code: no docstring, blank or
# comment lines) is split into named parts (issue 26, part 4).
MAX_FUNCTION_LINES = 80


def code_lines(node, source):
    """Lines of code of a function's body, without its docstring."""
    body = node.body
    if (
        isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    lines = {
        i
        for stmt in body
        for i in range(stmt.lineno, stmt.end_lineno + 1)
        if source[i - 1].strip() and not source[i - 1].strip().startswith("#")
    }
    return len(lines)


def test_code_lines_counts_code_only():
    source = (
        'def f():\n    """Doc.\n\n    More."""\n    # why\n    x = 1\n\n    return x\n'
    )
    node = ast.parse(source).body[0]
    assert code_lines(node, source.splitlines()) == 2


def test_no_function_of_the_library_is_too_long():
    long = []
    for folder, _, files in os.walk(os.path.join(ROOT, "dpda")):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            source = text.splitlines()
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = code_lines(node, source)
                    if n > MAX_FUNCTION_LINES:
                        rel = os.path.relpath(path, ROOT)
                        long.append(f"{rel}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "split these functions:\n" + "\n".join(long)
