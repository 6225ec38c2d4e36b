"""Fuzzy search over the bank, for Chinese (characters) and English (words)."""

from __future__ import annotations

import unicodedata

from rapidfuzz import fuzz

from interviewer.bank.loader import Bank, text_key
from interviewer.bank.models import Question


def _key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum() or ch.isspace()).strip()


def search(bank: Bank, query: str, limit: int = 10, cutoff: float = 60.0) -> list[tuple[Question, float]]:
    """Questions ranked by how well ``query`` matches their text, id or rubric terms.

    partial_ratio works on characters, so a Chinese query matches inside a longer
    question without any word segmentation; the English/id score uses token sets.
    """
    q = _key(query)
    if not q:
        return []
    compact = q.replace(" ", "")
    scored = []
    for question in bank.questions.values():
        text = _key(question.text)
        score = fuzz.partial_ratio(compact, text.replace(" ", ""))
        score = max(score, fuzz.token_set_ratio(q, text), fuzz.partial_ratio(compact, question.id.replace("_", "")))
        rubric = bank.rubric(question.id)
        if rubric is not None:
            terms = " ".join(a for k in rubric.keypoints for a in k.aliases)
            score = max(score, 0.9 * fuzz.partial_ratio(compact, _key(terms).replace(" ", "")))
        if len(compact) > len(text.replace(" ", "")) * 2:
            score *= 0.8  # a query much longer than the question is a poor partial match
        if score >= cutoff:
            scored.append((question, float(score)))
    scored.sort(key=lambda pair: (-pair[1], pair[0].id))
    return scored[:limit]


def find_question(bank: Bank, text: str, threshold: float = 90.0) -> Question | None:
    """The bank question with this text: exact after normalisation, else fuzzy >= ``threshold``
    against its text or the quotes of its sources; None when nothing is close enough."""
    wanted = text_key(text)
    best: tuple[float, Question] | None = None
    for question in bank.questions.values():
        candidates = [question.text, *(s.quote for s in question.sources)]
        for candidate in candidates:
            key = text_key(candidate)
            if key == wanted:
                return question
            score = fuzz.ratio(wanted, key)
            if score >= threshold and (best is None or score > best[0]):
                best = (score, question)
    return best[1] if best else None
