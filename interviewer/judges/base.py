"""The judge protocol and the pipeline every backend shares.

A backend only proposes verdicts (status + evidence + reason per keypoint, and
misconceptions it saw). ``finalize`` then checks each evidence span against the
answer, downgrades verdicts without valid evidence, and computes the score in
code. Empty or trivially short answers are graded 0 without calling any model.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from rapidfuzz import fuzz

from interviewer.bank.models import Question, Rubric
from interviewer.judges.models import Flag, Grade, JudgeMeta, KeypointVerdict, MisconceptionHit, Status
from interviewer.judges.sanitize import REDACTION, Compact, PreparedAnswer, compact_key, normalise, prepare_answer
from interviewer.judges.scoring import score

EVIDENCE_MIN_RATIO = 90.0
MIN_CONTENT_CHARS = 8


@runtime_checkable
class Judge(Protocol):
    """Anything that grades one answer against one rubric."""

    name: str

    def grade(self, question: Question, rubric: Rubric, answer: str | bytes) -> Grade: ...


class JudgeUnavailable(RuntimeError):
    """The backend cannot grade right now (server down, model missing, bad config)."""


def locate_evidence(evidence: str, prepared: PreparedAnswer) -> str | None:
    """The span of the answer that ``evidence`` quotes (fuzzy >= 90), or None.

    The span must lie outside every flagged injection: what tries to instruct the
    grader can never count as evidence.
    """
    quote = normalise(evidence, max_chars=2000)[0].strip().strip("\"'“”‘’「」`").strip()
    if REDACTION in quote:
        return None
    key = compact_key(quote)
    if len(key) < 2:
        return None
    text = prepared.normalised
    compact = Compact(text)
    at = compact.text.find(key)
    if at != -1:
        start, end = compact.span(at, at + len(key))
    elif len(key) <= len(compact.text):
        alignment = fuzz.partial_ratio_alignment(key, compact.text, score_cutoff=EVIDENCE_MIN_RATIO)
        if alignment is None or alignment.dest_end <= alignment.dest_start:
            return None
        start, end = compact.span(alignment.dest_start, alignment.dest_end)
    else:
        return None
    if prepared.inside_injection(start, end):
        return None
    return text[start:end]


def check_evidence(verdict: KeypointVerdict, prepared: PreparedAnswer) -> KeypointVerdict:
    """Covered without valid evidence drops to partial; partial without it to missing."""
    if verdict.status is Status.missing:
        return verdict.model_copy(update={"evidence": ""})
    span = locate_evidence(verdict.evidence, prepared)
    if span is not None:
        return verdict.model_copy(update={"evidence": span})
    downgraded = Status.partial if verdict.status is Status.covered else Status.missing
    reason = (verdict.reason + "；" if verdict.reason else "") + "证据不是回答中的原文，已降级"
    return verdict.model_copy(update={"status": downgraded, "evidence": "", "reason": reason, "claimed_status": verdict.status})


def feedback_from(rubric: Rubric, verdicts: Iterable[KeypointVerdict], misconceptions: Iterable[MisconceptionHit]) -> str:
    """What was missing and how to say it better, built from the rubric."""
    by_id = {v.keypoint_id: v for v in verdicts}
    lines = []
    missing = [k for k in rubric.keypoints if by_id.get(k.id) is None or by_id[k.id].status is Status.missing]
    partial = [k for k in rubric.keypoints if by_id.get(k.id) is not None and by_id[k.id].status is Status.partial]
    if missing:
        lines.append("漏掉的要点：")
        lines += [f"- {k.statement}" for k in sorted(missing, key=lambda k: -k.weight)]
    if partial:
        lines.append("说得不完整：")
        lines += [f"- {k.statement}（满分要求：{k.covered}）" for k in partial]
    wrong = {m.misconception_id for m in misconceptions}
    for m in rubric.misconceptions:
        if m.id in wrong:
            lines.append(f"误区：{m.claim} → 正确说法：{m.correction}")
    if not lines:
        lines.append("要点全部覆盖。")
    return "\n".join(lines)


def trivial_grade(question: Question, rubric: Rubric, prepared: PreparedAnswer, backend: str) -> Grade | None:
    """Grade 0 without any model when nothing gradable is left; None otherwise."""
    if prepared.content_chars >= MIN_CONTENT_CHARS and not prepared.binary:
        return None
    reason = "回答为空或过短" if not prepared.binary else "回答看起来是二进制数据"
    verdicts = [KeypointVerdict(keypoint_id=k.id, status=Status.missing, reason=reason) for k in rubric.keypoints]
    flags = [Flag.injection_suspected] if prepared.injections else []
    if prepared.truncated:
        flags.append(Flag.truncated)
    return Grade(
        question_id=question.id,
        score=0.0,
        verdicts=verdicts,
        feedback=f"{reason}，按 0 分处理。\n" + feedback_from(rubric, verdicts, []),
        flags=flags,
        injections=prepared.injections,
        answer_normalised=prepared.normalised,
        meta=JudgeMeta(backend=backend, model="", prompt_version="trivial", latency_ms=0.0),
    )


def finalize(
    question: Question,
    rubric: Rubric,
    prepared: PreparedAnswer,
    proposed: Iterable[KeypointVerdict],
    meta: JudgeMeta,
    *,
    misconceptions: Iterable[tuple[str, str]] = (),
    feedback: str = "",
    flags: Iterable[Flag] = (),
) -> Grade:
    """Check evidence, fill in missing keypoints, score in code, assemble the Grade."""
    known = {k.id for k in rubric.keypoints}
    checked: dict[str, KeypointVerdict] = {}
    for verdict in proposed:
        if verdict.keypoint_id in known and verdict.keypoint_id not in checked:
            checked[verdict.keypoint_id] = check_evidence(verdict, prepared)
    verdicts = [checked.get(k.id) or KeypointVerdict(keypoint_id=k.id, status=Status.missing, reason="judge gave no verdict") for k in rubric.keypoints]
    hits = []
    penalties = {m.id: m.penalty for m in rubric.misconceptions}
    for misconception_id, evidence in misconceptions:
        if misconception_id in penalties and all(h.misconception_id != misconception_id for h in hits):
            span = locate_evidence(evidence, prepared)
            if span is not None:  # an accusation needs a quote too
                hits.append(MisconceptionHit(misconception_id=misconception_id, evidence=span, penalty=penalties[misconception_id]))
    all_flags = list(dict.fromkeys(flags))
    if prepared.injections and Flag.injection_suspected not in all_flags:
        all_flags.append(Flag.injection_suspected)
    if prepared.truncated and Flag.truncated not in all_flags:
        all_flags.append(Flag.truncated)
    built = feedback_from(rubric, verdicts, hits)
    return Grade(
        question_id=question.id,
        score=score(rubric, verdicts, hits),
        verdicts=verdicts,
        misconceptions=hits,
        feedback=(feedback.strip() + "\n\n" + built) if feedback.strip() else built,
        flags=all_flags,
        injections=prepared.injections,
        answer_normalised=prepared.normalised,
        meta=meta,
    )


def ungraded(question: Question, prepared: PreparedAnswer, meta: JudgeMeta, reason: str) -> Grade:
    """No verdicts: the judge failed. The answer stays saved and can be regraded."""
    flags = [Flag.ungraded] + ([Flag.injection_suspected] if prepared.injections else [])
    return Grade(
        question_id=question.id,
        score=None,
        flags=flags,
        ungraded_reason=reason,
        injections=prepared.injections,
        answer_normalised=prepared.normalised,
        meta=meta.model_copy(update={"error": reason}),
    )


class Timer:
    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.ms = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.ms = (time.perf_counter() - self.start) * 1000


__all__ = [
    "Judge",
    "JudgeUnavailable",
    "PreparedAnswer",
    "Timer",
    "check_evidence",
    "feedback_from",
    "finalize",
    "locate_evidence",
    "prepare_answer",
    "trivial_grade",
    "ungraded",
]
