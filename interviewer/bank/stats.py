"""Counts over the bank: by topic, company, kind, difficulty, and rubric coverage."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from interviewer.bank.loader import Bank


@dataclass(frozen=True)
class BankStats:
    questions: int
    rubrics: int
    by_topic: dict[str, tuple[int, int]]  # topic -> (questions, with rubric)
    by_company: dict[str, tuple[int, int]]
    by_kind: dict[str, int]
    by_difficulty: dict[int, int]

    @property
    def coverage(self) -> float:
        return self.rubrics / self.questions if self.questions else 0.0


def bank_stats(bank: Bank) -> BankStats:
    by_topic: Counter[str] = Counter()
    topic_rubrics: Counter[str] = Counter()
    by_company: Counter[str] = Counter()
    company_rubrics: Counter[str] = Counter()
    for q in bank.questions.values():
        has = q.id in bank.rubrics
        by_topic[q.topic] += 1
        topic_rubrics[q.topic] += has
        for company in q.companies:
            by_company[company] += 1
            company_rubrics[company] += has
    return BankStats(
        questions=len(bank.questions),
        rubrics=sum(1 for qid in bank.questions if qid in bank.rubrics),
        by_topic={t: (by_topic[t], topic_rubrics[t]) for t in bank.taxonomy.topics if by_topic[t]},
        by_company={c: (by_company[c], company_rubrics[c]) for c in bank.taxonomy.companies},
        by_kind=dict(Counter(q.kind.value for q in bank.questions.values()).most_common()),
        by_difficulty=dict(sorted(Counter(q.difficulty for q in bank.questions.values()).items())),
    )
