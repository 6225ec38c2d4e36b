"""A model judge with the offline matcher behind it, visibly.

When the primary judge cannot grade (server down, model missing), the answer is
graded by the offline matcher as well; the grade carries the ``fallback`` and
``offline_estimate`` flags, and its metadata names the judge that failed and why,
so the user sees it and ``regrade`` can grade it properly later.
"""

from __future__ import annotations

from interviewer.bank.models import Question, Rubric
from interviewer.judges.base import Judge, JudgeUnavailable
from interviewer.judges.models import Flag, Grade


class FallbackJudge:
    def __init__(self, primary: Judge, fallback: Judge):
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name

    def grade(self, question: Question, rubric: Rubric, answer: str | bytes) -> Grade:
        try:
            grade = self.primary.grade(question, rubric, answer)
            if grade.graded:
                return grade
            reason = grade.ungraded_reason or "ungraded"
        except JudgeUnavailable as exc:
            reason = str(exc)
        backup = self.fallback.grade(question, rubric, answer)
        flags = list(dict.fromkeys([Flag.fallback, *backup.flags]))
        meta = backup.meta.model_copy(update={"fallback_from": self.primary.name, "error": reason})
        return backup.model_copy(update={"flags": flags, "meta": meta})
