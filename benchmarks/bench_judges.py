"""Print grading latency per backend on the development set (or any graded-answers file).

    python benchmarks/bench_judges.py [FILE.jsonl] [--judge offline] [--repeat 5]

For each answer whose question has a rubric, grades it --repeat times and prints
p50 / p95 / max per answer. The offline target is p50 <= 2 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from interviewer.bank.loader import load_bank
from interviewer.bank.search import find_question
from interviewer.evaluation import read_items
from interviewer.judges import make_judge


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", nargs="?", default="../shared/eval/dev_graded_answers.jsonl", type=Path)
    parser.add_argument("--judge", default="offline")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bank = load_bank()
    judge = make_judge(args.judge)
    work = []
    for item in read_items(args.file):
        question = find_question(bank, item.question_text)
        if question is not None and bank.rubric(question.id) is not None:
            work.append((question, bank.rubric(question.id), item.answer))
    timings = []
    for question, rubric, answer in work:
        judge.grade(question, rubric, answer)  # warm-up (imports, caches)
        for _ in range(args.repeat):
            start = time.perf_counter()
            judge.grade(question, rubric, answer)
            timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    print(f"judge {args.judge}: {len(work)} answers x {args.repeat}")
    print(f"per answer: p50 {statistics.median(timings):.3f} ms, p95 {timings[int(len(timings) * 0.95)]:.3f} ms, max {timings[-1]:.3f} ms")


if __name__ == "__main__":
    main()
