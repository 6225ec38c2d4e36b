"""Judges: one protocol (``Judge.grade(question, rubric, answer) -> Grade``), several backends.

Backends import their heavy dependencies (openai, torch, transformers) inside
their own modules, which this package never imports eagerly.
"""

from __future__ import annotations

from typing import Any

from interviewer.judges.base import Judge, JudgeUnavailable

BACKENDS = ("offline", "openai", "local")


def make_judge(name: str, **settings: Any) -> Judge:
    """Build the judge called ``name`` ('offline', 'openai' or 'local')."""
    if name == "offline":
        from interviewer.judges.offline import OfflineJudge

        return OfflineJudge()
    if name == "openai":
        from interviewer.judges.openai_judge import OpenAIJudge

        return OpenAIJudge(**settings)
    if name == "local":
        from interviewer.judges.local import LocalJudge

        return LocalJudge(**settings)
    raise ValueError(f"unknown judge '{name}': use one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Judge", "JudgeUnavailable", "make_judge"]
