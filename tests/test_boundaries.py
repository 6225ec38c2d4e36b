"""Layout boundaries, enforced: the core never imports the TUI, Textual or heavy backends at import time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "textual", "openai", "tui")


def _modules_after(code: str) -> set[str]:
    probe = textwrap.dedent(
        f"""
        import json, sys
        {code}
        print(json.dumps(sorted(sys.modules)))
        """
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import interviewer",
        "import interviewer.bank.loader, interviewer.bank.search, interviewer.bank.stats",
        "import interviewer.cli",
        "from interviewer.bank.loader import load_bank; load_bank()",
    ],
)
def test_core_imports_nothing_heavy(code: str) -> None:
    loaded = _modules_after(code)
    offending = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert offending == [], f"{code!r} imported {offending}"


def test_the_probe_can_see_a_heavy_import() -> None:
    # The check above must be able to fail: importing textual shows up in sys.modules.
    assert "textual" in _modules_after("import textual")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    return subprocess.run([exe, "--config", str(root / "pyproject.toml"), "--no-cache"], capture_output=True, text=True, cwd=root)


def test_import_linter_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: " in result.stdout and " broken" in result.stdout
    assert "0 broken" in result.stdout


def test_import_linter_catches_a_core_module_importing_textual(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", ".scratch", "question_bank", "rubrics"))
    (copy / "interviewer" / "leaky.py").write_text("import textual\n", encoding="utf-8")
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(copy)}
    result = subprocess.run([exe, "--config", str(copy / "pyproject.toml"), "--no-cache"], capture_output=True, text=True, cwd=copy, env=env)
    assert result.returncode != 0, result.stdout
    assert "interviewer.leaky -> textual" in result.stdout
