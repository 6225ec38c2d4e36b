"""The offline judge: rapidfuzz matching of rubric aliases against the answer.

No model, no network, about a millisecond per answer. It is always labelled an
*offline estimate*: it sees words, not meaning, so a confident answer that uses
the right terms to say wrong things scores well unless a misconception's
aliases catch it.

Chinese has no spaces, so matching works on characters: the answer and each
alias are lower-cased with whitespace removed, exact substrings are found first,
and longer aliases may also match fuzzily (partial_ratio over characters).
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from interviewer.bank.models import Keypoint, Question, Rubric
from interviewer.judges.base import Timer, finalize, trivial_grade
from interviewer.judges.models import Flag, Grade, JudgeMeta, KeypointVerdict, Status
from interviewer.judges.sanitize import REDACTION, Compact, PreparedAnswer, compact_key, prepare_answer

PROMPT_VERSION = "offline-1"
_NEGATION = re.compile(r"(不是|并非|并不|而非|不会|不能|不|没有|没|非|未|错误|误以为|误认为|not|n't|never|rather than)")
_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]?")


def _find(alias: str, compact: Compact) -> tuple[float, int, int] | None:
    """Best match of one alias: (score, start, end) in compact coordinates."""
    key = compact_key(alias)
    if len(key) < 2:
        return None
    at = compact.text.find(key)
    if at != -1:
        return 100.0, at, at + len(key)
    if len(key) < 4 or len(key) > len(compact.text):
        return None
    threshold = 90.0 if len(key) < 6 else 84.0
    found = fuzz.partial_ratio_alignment(key, compact.text, score_cutoff=threshold)
    if found is None:
        return None
    return found.score, found.dest_start, found.dest_end


def _sentence_around(text: str, start: int, end: int) -> str:
    for match in _SENTENCE.finditer(text):
        if match.start() <= start < match.end():
            sentence = match.group(0).strip()
            if len(sentence) <= 160:
                return sentence
            break
    return text[max(0, start - 40) : min(len(text), end + 40)].strip()


class OfflineJudge:
    """Keyword matcher over rubric aliases. Always flagged ``offline_estimate``."""

    name = "offline"

    def grade(self, question: Question, rubric: Rubric, answer: str | bytes) -> Grade:
        with Timer() as timer:
            prepared = prepare_answer(answer)
            trivial = trivial_grade(question, rubric, prepared, self.name)
            if trivial is not None:
                grade = trivial
            else:
                grade = self._grade(question, rubric, prepared)
        flags = list(dict.fromkeys([Flag.offline_estimate, *grade.flags]))
        meta = grade.meta.model_copy(update={"backend": self.name, "model": "rapidfuzz", "prompt_version": PROMPT_VERSION, "latency_ms": timer.ms})
        return grade.model_copy(update={"flags": flags, "meta": meta})

    def _grade(self, question: Question, rubric: Rubric, prepared: PreparedAnswer) -> Grade:
        # Match on the redacted text, so flagged injections can neither add terms nor be quoted.
        text = prepared.redacted.replace(REDACTION, "\n")
        compact = Compact(text)
        verdicts = [self._keypoint(k, text, compact) for k in rubric.keypoints]
        misconceptions = []
        for m in rubric.misconceptions:
            for alias in m.aliases:
                hit = _find(alias, compact)
                if hit is None or hit[0] < 95:
                    continue
                start, end = compact.span(hit[1], hit[2])
                if _NEGATION.search(text[max(0, start - 8) : start].lower()):
                    continue  # "不是为了…" states the opposite of the misconception
                misconceptions.append((m.id, _sentence_around(text, start, end)))
                break
        return finalize(question, rubric, prepared, verdicts, JudgeMeta(backend="offline"), misconceptions=misconceptions)

    @staticmethod
    def _keypoint(keypoint: Keypoint, text: str, compact: Compact) -> KeypointVerdict:
        hits: list[tuple[float, int, int, str]] = []
        taken: list[tuple[int, int]] = []
        for alias in keypoint.aliases:
            found = _find(alias, compact)
            if found is None:
                continue
            score, start, end = found
            if any(start < e and s < end for s, e in taken):
                continue  # two aliases matching the same words are one piece of evidence
            taken.append((start, end))
            hits.append((score, start, end, alias))
        if not hits:
            return KeypointVerdict(keypoint_id=keypoint.id, status=Status.missing, reason="未匹配到任何相关术语")
        needed = min(2, len(keypoint.aliases))
        status = Status.covered if len(hits) >= needed else Status.partial
        best = max(hits)
        start, end = compact.span(best[1], best[2])
        terms = "、".join(h[3] for h in sorted(hits, reverse=True)[:3])
        return KeypointVerdict(keypoint_id=keypoint.id, status=status, evidence=_sentence_around(text, start, end), reason=f"匹配到术语：{terms}")
