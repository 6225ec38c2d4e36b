"""Rubric quality check: a strong spoken answer must outscore a weak one under the offline judge.

tests/data/strong_weak_answers.yaml holds, for 20 questions of 16 topics, one answer a
well-prepared candidate would give and one vague or partly wrong answer. Both are graded
against the shipped rubrics with the offline (alias-matching) judge. A strong answer that
scores low means the rubric's aliases miss how candidates actually phrase the keypoints;
a weak answer that scores as high as the strong one means the aliases are too generic.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from interviewer.bank.loader import load_bank
from interviewer.judges.offline import OfflineJudge

SAMPLES_FILE = Path(__file__).parent / "data" / "strong_weak_answers.yaml"
SAMPLES = yaml.safe_load(SAMPLES_FILE.read_text(encoding="utf-8"))["samples"]
STRONG_MIN = 5.0


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def test_samples_cover_enough_questions_and_topics() -> None:
    ids = [sample["question"] for sample in SAMPLES]
    assert len(ids) == len(set(ids)) == 20
    assert len({qid.split(".")[0] for qid in ids}) >= 10
    for sample in SAMPLES:
        assert 150 <= len(sample["strong"]) <= 400, sample["question"]
        assert 60 <= len(sample["weak"]) <= 200, sample["question"]


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample["question"] for sample in SAMPLES])
def test_strong_answer_outscores_weak(bank, sample: dict) -> None:
    qid = sample["question"]
    question, rubric = bank.question(qid), bank.rubric(qid)
    assert rubric is not None, f"{qid} has no rubric"
    judge = OfflineJudge()
    strong = judge.grade(question, rubric, sample["strong"]).score
    weak = judge.grade(question, rubric, sample["weak"]).score
    assert strong >= STRONG_MIN, f"{qid}: strong answer scored {strong} < {STRONG_MIN} (weak {weak})"
    assert strong > weak, f"{qid}: strong {strong} <= weak {weak}"
