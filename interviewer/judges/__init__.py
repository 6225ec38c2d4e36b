"""Judges: one protocol (``Judge.grade(question, rubric, answer) -> Grade``), several backends.

Backends import their heavy dependencies (openai, torch, transformers) inside
their own modules, which this package never imports eagerly.
"""

from __future__ import annotations

from interviewer.judges.base import Judge, JudgeUnavailable

# The OpenAI-compatible and local (transformers) judges are not built yet; they
# join this tuple, and make_judge, when they exist.
BACKENDS = ("offline",)


def make_judge(name: str) -> Judge:
    """Build the judge called ``name`` (one of ``BACKENDS``)."""
    if name == "offline":
        from interviewer.judges.offline import OfflineJudge

        return OfflineJudge()
    raise ValueError(f"unknown judge '{name}': use one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Judge", "JudgeUnavailable", "make_judge"]
