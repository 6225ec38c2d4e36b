"""Measure a judge against graded answers (`interviewer eval`).

Input: JSON lines with at least ``question`` (text), ``answer``, ``gold_score``
(0–10) and ``kind`` (full, partial, wrong, paraphrase, adversarial, minimal...).
Each question is found in the bank by text (exact after normalisation, else
fuzzy >= 90), graded, and compared with the gold score.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from interviewer.bank.loader import Bank
from interviewer.bank.search import find_question
from interviewer.judges.base import Judge
from interviewer.judges.models import Grade


class EvalInputError(ValueError):
    """The graded-answers file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Item:
    line: int
    question_text: str
    answer: str
    gold: float
    kind: str


@dataclass
class EvalResult:
    judge: str
    items: list[Item]
    grades: list[Grade]
    per_item_ms: list[float] = field(default_factory=list)

    @property
    def predicted(self) -> list[float]:
        return [g.score if g.score is not None else 0.0 for g in self.grades]

    def summary(self) -> dict:
        gold = [i.gold for i in self.items]
        pred = self.predicted
        per_kind: dict[str, list[float]] = defaultdict(list)
        gold_kind: dict[str, list[float]] = defaultdict(list)
        for item, p in zip(self.items, pred):
            per_kind[item.kind].append(p)
            gold_kind[item.kind].append(item.gold)
        latencies = sorted(self.per_item_ms)
        return {
            "judge": self.judge,
            "n": len(self.items),
            "spearman": round(spearman(gold, pred), 4),
            "qwk": round(quadratic_weighted_kappa([round(g) for g in gold], [round(p) for p in pred]), 4),
            "mae": round(statistics.fmean(abs(g - p) for g, p in zip(gold, pred)), 3) if gold else None,
            "per_kind": {k: round(statistics.fmean(v), 2) for k, v in sorted(per_kind.items())},
            "gold_per_kind": {k: round(statistics.fmean(v), 2) for k, v in sorted(gold_kind.items())},
            "adversarial_over_1": sum(1 for i, p in zip(self.items, pred) if i.kind == "adversarial" and p > 1),
            "adversarial_n": sum(1 for i in self.items if i.kind == "adversarial"),
            "ungraded": sum(1 for g in self.grades if not g.graded),
            "injection_flagged": sum(1 for g in self.grades if g.injections),
            "latency_ms_p50": round(latencies[len(latencies) // 2], 3) if latencies else None,
            "latency_ms_p95": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))], 3) if latencies else None,
        }


def read_items(path: Path) -> list[Item]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvalInputError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise EvalInputError(f"{path}: not UTF-8 text") from None
    items = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalInputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        missing = [k for k in ("question", "answer", "gold_score") if k not in row]
        if missing:
            raise EvalInputError(f"{path}:{number}: missing field(s) {', '.join(missing)}")
        try:
            gold = float(row["gold_score"])
        except (TypeError, ValueError):
            raise EvalInputError(f"{path}:{number}: gold_score {row['gold_score']!r} is not a number") from None
        if not 0 <= gold <= 10:
            raise EvalInputError(f"{path}:{number}: gold_score {gold} is outside 0–10")
        items.append(Item(number, str(row["question"]), str(row["answer"]), gold, str(row.get("kind", "unknown"))))
    if not items:
        raise EvalInputError(f"{path}: no graded answers in the file")
    return items


def run_eval(bank: Bank, judge: Judge, items: list[Item], path: Path | None = None) -> EvalResult:
    resolved = []
    for item in items:
        question = find_question(bank, item.question_text)
        where = f"{path}:{item.line}" if path else f"line {item.line}"
        if question is None:
            raise EvalInputError(f"{where}: question '{item.question_text}' is not in the bank (no exact or fuzzy >= 90 match); check `interviewer bank search`")
        rubric = bank.rubric(question.id)
        if rubric is None:
            raise EvalInputError(f"{where}: question {question.id} has no rubric, so it cannot be graded")
        resolved.append((question, rubric))
    result = EvalResult(judge=getattr(judge, "name", type(judge).__name__), items=items, grades=[])
    for item, (question, rubric) in zip(items, resolved):
        grade = judge.grade(question, rubric, item.answer)
        result.grades.append(grade)
        result.per_item_ms.append(grade.meta.latency_ms)
    return result


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(x: list[float], y: list[float]) -> float:
    if len(x) < 2:
        return 0.0
    mx, my = statistics.fmean(x), statistics.fmean(y)
    sx = sum((a - mx) ** 2 for a in x) ** 0.5
    sy = sum((b - my) ** 2 for b in y) ** 0.5
    if sx == 0 or sy == 0:
        return 0.0
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / (sx * sy)


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rho with average ranks for ties."""
    return pearson(_ranks(x), _ranks(y))


def quadratic_weighted_kappa(a: list[int], b: list[int], low: int = 0, high: int = 10) -> float:
    """Cohen's kappa with quadratic weights on the integer scale low..high."""
    n = high - low + 1
    if not a:
        return 0.0
    observed = [[0.0] * n for _ in range(n)]
    for x, y in zip(a, b):
        observed[min(high, max(low, x)) - low][min(high, max(low, y)) - low] += 1
    hist_a = [sum(row) for row in observed]
    hist_b = [sum(observed[i][j] for i in range(n)) for j in range(n)]
    total = len(a)
    numerator = denominator = 0.0
    for i in range(n):
        for j in range(n):
            weight = (i - j) ** 2 / (n - 1) ** 2
            expected = hist_a[i] * hist_b[j] / total
            numerator += weight * observed[i][j]
            denominator += weight * expected
    return 1.0 - numerator / denominator if denominator else 1.0
