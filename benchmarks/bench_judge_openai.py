"""Latency of the OpenAI-compatible judge on the development set (or the bank's reference answers).

    python benchmarks/bench_judge_openai.py                      # starts llama.cpp with SmolLM2 itself
    python benchmarks/bench_judge_openai.py --base-url http://127.0.0.1:8080/v1 --model qwen2.5-7b
    python benchmarks/bench_judge_openai.py --every 3             # 24 answers, 2 per dev question
    python benchmarks/bench_judge_openai.py --limit 12 --samples 3

Grades the answers of ../shared/eval/dev_graded_answers.jsonl when it exists (else
12 answers made of the bank's reference answers) and prints p50 / p95 / max latency
per answer, the ungraded count with reasons, tokens per answer, the response_format
mode the server accepted, and (with gold scores) Spearman against them. SmolLM2-135M
cannot judge: its scores say nothing, its latencies say what the plumbing costs.
An API key, when needed, comes from $INTERVIEWER_API_KEY.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from interviewer.bank.loader import load_bank  # noqa: E402
from interviewer.bank.search import find_question  # noqa: E402
from interviewer.evaluation import read_items, spearman  # noqa: E402
from interviewer.judges.openai_judge import OpenAIJudge  # noqa: E402
from interviewer.judges.prompt import PROMPT_VERSION  # noqa: E402

DEV = ROOT.parent / "shared" / "eval" / "dev_graded_answers.jsonl"


def work_items(bank, path: Path, limit: int | None, every: int = 1) -> tuple[list[tuple], str]:
    """(question, rubric, answer, gold or None) to grade, and where they came from."""
    work = []
    if path.exists():
        skipped = 0
        for item in read_items(path):
            question = find_question(bank, item.question_text)
            rubric = bank.rubric(question.id) if question is not None else None
            if rubric is None:
                skipped += 1
                continue
            work.append((question, rubric, item.answer, item.gold))
        source = f"{path} ({len(work)} answers with a rubric, {skipped} skipped)"
    else:
        for qid in sorted(bank.rubrics)[:12]:
            rubric = bank.rubrics[qid]
            work.append((bank.question(qid), rubric, rubric.reference_answer, None))
        source = f"{len(work)} reference answers from the bank ({path} not found)"
    work = work[:: max(1, every)]
    if every > 1:
        source += f", one in {every}: {len(work)}"
    return work[:limit] if limit else work, source


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint; default: start llama.cpp with SmolLM2")
    parser.add_argument("--model", help="model name at --base-url")
    parser.add_argument("--file", type=Path, default=DEV)
    parser.add_argument("--limit", type=int, help="grade only the first N answers")
    parser.add_argument("--every", type=int, default=1, help="grade every Nth answer (a spread over all questions in less time)")
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--max-tokens", type=int, default=2048)
    parser.add_argument("--n-ctx", type=int, default=8192, help="context of the llama.cpp server this script starts")
    parser.add_argument("--no-feedback", action="store_true")
    args = parser.parse_args()

    bank = load_bank()
    work, source = work_items(bank, args.file, args.limit, args.every)
    server = None
    if args.base_url:
        if not args.model:
            parser.error("--model is required with --base-url")
        base_url, model = args.base_url, args.model
    else:
        from judge_servers import LlamaServer, smollm2_gguf  # noqa: PLC0415

        started = time.perf_counter()
        server = LlamaServer(smollm2_gguf(), Path(tempfile.mkdtemp()) / "llama.log", n_ctx=args.n_ctx).start()
        print(f"llama.cpp server with SmolLM2-135M (n_ctx {args.n_ctx}, {os.cpu_count()} CPUs) ready in {time.perf_counter() - started:.1f} s")
        base_url, model = server.base_url, server.model
    try:
        judge = OpenAIJudge(
            base_url, model, api_key=os.environ.get("INTERVIEWER_API_KEY"), timeout_s=args.timeout,
            samples=args.samples, feedback=not args.no_feedback, max_tokens=args.max_tokens,
        )  # fmt: skip
        print(judge.check_connection())
        print(f"grading {source}; prompt {PROMPT_VERSION}, samples {args.samples}, feedback {not args.no_feedback}")
        latencies, tokens, reasons, scores = [], [], Counter(), []
        started = time.perf_counter()
        for index, (question, rubric, answer, gold) in enumerate(work, 1):
            grade = judge.grade(question, rubric, answer)
            latencies.append(grade.meta.latency_ms)
            if grade.meta.tokens_processed:
                tokens.append(grade.meta.tokens_processed)
            if grade.graded:
                scores.append((gold, grade.score))
            else:
                reasons[(grade.ungraded_reason or "?")[:90]] += 1
            shown = f"{grade.score:4.1f}" if grade.graded else "  - "
            print(f"  {index:3d}/{len(work)} {question.id:40s} score {shown}  {grade.meta.latency_ms / 1000:6.1f} s  {grade.meta.tokens_processed or 0:5d} tok", flush=True)
        wall = time.perf_counter() - started
    finally:
        if server is not None:
            server.stop()

    print(f"\njudge openai, model {model} at {base_url}")
    print(f"response_format mode: {judge.response_mode}")
    print(f"answers: {len(work)}, ungraded: {sum(reasons.values())}, wall {wall:.1f} s")
    for reason, count in reasons.most_common():
        print(f"  ungraded x{count}: {reason}")
    if latencies:
        print(f"latency per answer: p50 {statistics.median(latencies) / 1000:.2f} s, p95 {percentile(latencies, 0.95) / 1000:.2f} s, max {max(latencies) / 1000:.2f} s")
    if tokens:
        print(f"tokens per answer (prompt + completion, all requests): mean {statistics.fmean(tokens):.0f}, max {max(tokens)}")
    golds = [(g, s) for g, s in scores if g is not None]
    if len(golds) >= 3:
        print(f"spearman vs gold on {len(golds)} graded answers: {spearman([g for g, _ in golds], [s for _, s in golds]):.3f}")


if __name__ == "__main__":
    main()
