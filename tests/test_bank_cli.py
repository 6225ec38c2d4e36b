"""The shipped bank: it validates, loads, and the bank subcommands work on it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interviewer.bank.loader import check_bank, default_dirs, load_bank
from interviewer.bank.search import search
from interviewer.cli import app

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
runner = CliRunner()


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def test_shipped_bank_validates() -> None:
    bank, problems = check_bank()
    assert problems == [], "\n".join(map(str, problems))
    assert bank is not None and len(bank.questions) >= 400


def test_every_company_has_questions(bank) -> None:
    for company in ("iflytek", "li_auto", "doubao", "compute_vendor"):
        assert len(bank.filter(company=company)) >= 5, company


def test_validate_command_passes() -> None:
    result = runner.invoke(app, ["bank", "validate"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: ")


def test_list_filters_by_topic_and_company(bank) -> None:
    result = runner.invoke(app, ["bank", "list", "--company", "iflytek"])
    assert result.exit_code == 0
    assert "attention.formula" not in result.output
    assert f"{len(bank.filter(company='iflytek'))} question(s)" in result.output
    result = runner.invoke(app, ["bank", "list", "--topic", "nope"])
    assert result.exit_code == 2 and "unknown topic 'nope'" in result.output


def test_show_renders_question_and_suggests_on_typo() -> None:
    result = runner.invoke(app, ["bank", "show", "attention.formula"])
    assert result.exit_code == 0
    assert "# 注意力的公式" in result.output and "sources:" in result.output
    result = runner.invoke(app, ["bank", "show", "attention.formul"])
    assert result.exit_code == 2 and "Did you mean" in result.output and "attention.formula" in result.output


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("注意力公式", "attention.formula"),
        ("PagedAttention", "inference.paged_attention.what"),
        ("zero core idea", "distributed.zero.core_idea"),
        ("逻辑回归 线性", "classical_ml.logistic_regression.is_linear"),
    ],
)
def test_search_finds_chinese_and_english(bank, query: str, expected: str) -> None:
    assert expected in bank.questions, f"fixture id {expected} missing from the bank"
    ids = [q.id for q, _ in search(bank, query, limit=5)]
    assert expected in ids, (query, ids)


def test_search_command_reports_no_match() -> None:
    result = runner.invoke(app, ["bank", "search", "量子纠缠星际旅行"])
    assert result.exit_code == 1 and "no question matches" in result.output


def test_export_jsonl() -> None:
    result = runner.invoke(app, ["bank", "export", "--format", "jsonl"])
    bank = load_bank()
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.output.splitlines()]
    assert len(records) == len(bank.questions)
    assert set(records[0]) == {"id", "text", "topic", "subtopic", "companies", "difficulty", "kind", "sources", "has_rubric"}
    assert all(r["has_rubric"] == (r["id"] in bank.rubrics) for r in records)
    assert runner.invoke(app, ["bank", "export", "--format", "csv"]).exit_code == 2


def test_stats_prints_counts(bank) -> None:
    result = runner.invoke(app, ["bank", "stats"])
    assert result.exit_code == 0
    assert f"questions: {len(bank.questions)}" in result.output
    assert "by company" in result.output and "iflytek" in result.output


@pytest.mark.skipif(not (SHARED / "eval" / "dev_graded_answers.jsonl").exists(), reason="dev set not present")
def test_dev_set_questions_are_in_the_bank(bank) -> None:
    from interviewer.bank.search import find_question

    texts = {json.loads(line)["question"] for line in (SHARED / "eval" / "dev_graded_answers.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()}
    for text in texts:
        assert find_question(bank, text) is not None, text


@pytest.mark.skipif(not (SHARED / "seeds").is_dir(), reason="seed notes not present")
def test_every_seed_stem_is_covered() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "check_seed_coverage.py"), str(SHARED / "seeds")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unmatched: 0" in result.stdout


def test_wheel_ships_the_data(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("interviewer-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    bank_dir, _ = default_dirs()
    for path in bank_dir.glob("*.yaml"):
        assert f"interviewer/data/question_bank/{path.name}" in names
    assert "interviewer/data/question_bank/taxonomy.yaml" in names
