"""`bank validate` passes on good data and names file, line, id and fix for each kind of broken file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interviewer.bank.loader import BankError, check_bank, load_bank
from interviewer.cli import app

MINI = Path(__file__).parent / "fixtures" / "mini"
runner = CliRunner()


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    shutil.copytree(MINI, tmp_path / "mini")
    return tmp_path / "mini"


def _validate(root: Path):
    result = runner.invoke(app, ["bank", "validate", "--bank-dir", str(root / "question_bank"), "--rubric-dir", str(root / "rubrics")])
    return result.exit_code, result.output


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not found in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_mini_fixture_is_valid(mini: Path) -> None:
    code, output = _validate(mini)
    assert code == 0, output
    assert "2 questions" in output and "1 with a rubric" in output
    bank = load_bank(mini / "question_bank", mini / "rubrics")
    assert bank.rubric("attention.formula").total_weight == 6


def test_yaml_syntax_error_names_file_and_line(mini: Path) -> None:
    _edit(mini / "question_bank" / "attention.yaml", "    difficulty: 2\n", "    difficulty: [2\n")
    code, output = _validate(mini)
    assert code == 1
    assert "question_bank/attention.yaml:" in output
    assert "YAML syntax error" in output and "Fix:" in output


def test_unknown_field_names_field_id_and_line(mini: Path) -> None:
    _edit(mini / "question_bank" / "attention.yaml", "    kind: concept\n", "    kind: concept\n    dificulty: 3\n")
    code, output = _validate(mini)
    assert code == 1
    assert "question_bank/attention.yaml:14: [attention.mqa.intro] unknown field 'dificulty'" in output
    assert "difficulty" in output.split("unknown field 'dificulty'")[1]  # the fix lists the real field names


def test_missing_id(mini: Path) -> None:
    _edit(mini / "question_bank" / "attention.yaml", "  - id: attention.mqa.intro\n    text:", "  - text:")
    code, output = _validate(mini)
    assert code == 1
    assert "question_bank/attention.yaml:14:" in output and "missing field 'id'" in output


def test_duplicate_id_names_both_places(mini: Path) -> None:
    _edit(mini / "question_bank" / "attention.yaml", "id: attention.mqa.intro", "id: attention.formula")
    code, output = _validate(mini)
    assert code == 1
    assert "[attention.formula] duplicate question id (also in attention.yaml:3)" in output


def test_unknown_topic_and_subtopic(mini: Path) -> None:
    _edit(mini / "question_bank" / "attention.yaml", "subtopic: mqa_gqa", "subtopic: gqa")
    code, output = _validate(mini)
    assert code == 1
    assert "[attention.mqa.intro] unknown subtopic 'gqa'" in output and "formula, mqa_gqa" in output
    shutil.copy(mini / "question_bank" / "attention.yaml", mini / "question_bank" / "rope.yaml")
    _edit(mini / "question_bank" / "rope.yaml", "topic: attention", "topic: rope")
    code, output = _validate(mini)
    assert "question_bank/rope.yaml:1: unknown topic 'rope'" in output
    assert "taxonomy.yaml" in output


def test_non_positive_weight(mini: Path) -> None:
    _edit(mini / "rubrics" / "attention.yaml", "weight: 2", "weight: 0")
    code, output = _validate(mini)
    assert code == 1
    assert "rubrics/attention.yaml:12: [attention.formula] 'keypoints.1.weight' = 0" in output
    assert "positive number" in output


def test_rubric_for_unknown_question(mini: Path) -> None:
    _edit(mini / "rubrics" / "attention.yaml", "question: attention.formula", "question: attention.formulas")
    code, output = _validate(mini)
    assert code == 1
    assert "rubrics/attention.yaml:3: [attention.formulas] rubric for an unknown question" in output


def test_near_duplicate_questions(mini: Path) -> None:
    _edit(mini / "question_bank" / "attention.yaml", "text: 介绍一下 Multi-Query Attention？", "text: 注意力的公式是？")
    code, output = _validate(mini)
    assert code == 1
    assert "near-duplicate of attention.formula" in output and "_distinct.yaml" in output
    (mini / "question_bank" / "_distinct.yaml").write_text("distinct:\n  - [attention.formula, attention.mqa.intro]\n", encoding="utf-8")
    code, output = _validate(mini)
    assert code == 0, output


def test_keypoint_count_and_aliases_are_checked(mini: Path) -> None:
    _edit(mini / "rubrics" / "attention.yaml", "        aliases: [方差, 饱和]\n", "")
    code, output = _validate(mini)
    assert code == 1
    assert "keypoint 'scaling' has no aliases" in output


def test_not_utf8_and_not_a_mapping(mini: Path) -> None:
    (mini / "rubrics" / "attention.yaml").write_bytes("topic: attention\nrubrics: 注意".encode("gbk"))
    (mini / "question_bank" / "extra.yaml").write_text("- just a list\n", encoding="utf-8")
    code, output = _validate(mini)
    assert code == 1
    assert "rubrics/attention.yaml:2: the file is not valid UTF-8" in output
    assert "question_bank/extra.yaml:1: the file must be a mapping" in output


def test_load_bank_refuses_broken_data(mini: Path) -> None:
    _edit(mini / "rubrics" / "attention.yaml", "penalty: 1", "penalty: -1")
    with pytest.raises(BankError) as info:
        load_bank(mini / "question_bank", mini / "rubrics")
    assert any(p.qid == "attention.formula" and "penalty" in p.message for p in info.value.problems)
    bank, problems = check_bank(mini / "question_bank", mini / "rubrics")
    assert bank is not None and problems


def test_cache_is_used_and_any_edit_misses_it(mini: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "bank-cache"
    monkeypatch.setenv("INTERVIEWER_CACHE_DIR", str(cache))
    first = load_bank(mini / "question_bank", mini / "rubrics")
    cached = list(cache.glob("bank-*.json"))
    assert len(cached) == 1
    assert load_bank(mini / "question_bank", mini / "rubrics").questions == first.questions
    _edit(mini / "rubrics" / "attention.yaml", "weight: 2", "weight: 5")
    assert load_bank(mini / "question_bank", mini / "rubrics").rubric("attention.formula").total_weight == 9
    assert list(cache.glob("bank-*.json")) != cached
    # A damaged cache file is rebuilt, never trusted.
    damaged = next(cache.glob("bank-*.json"))
    damaged.write_text("{not json", encoding="utf-8")
    assert load_bank(mini / "question_bank", mini / "rubrics").rubric("attention.formula").total_weight == 9
    # A broken edit is reported even though an older version was cached.
    _edit(mini / "rubrics" / "attention.yaml", "weight: 5", "weight: -5")
    with pytest.raises(BankError):
        load_bank(mini / "question_bank", mini / "rubrics")
