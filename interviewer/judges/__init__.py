"""Judges: one protocol (``Judge.grade(question, rubric, answer) -> Grade``), several backends.

Backends import their heavy dependencies (openai, torch, transformers) inside
their own modules, which this package never imports eagerly.
"""

from __future__ import annotations

from interviewer.config import JudgeSettings
from interviewer.judges.base import Judge, JudgeUnavailable

BACKENDS = ("offline", "openai", "local")


def make_judge(name_or_settings: str | JudgeSettings, **overrides: object) -> Judge:
    """Build a judge from settings (or a backend name plus setting overrides).

    With ``fallback_offline`` a model judge is wrapped so that a failure is graded
    by the offline matcher too, flagged ``fallback`` and recorded in the metadata.
    """
    if isinstance(name_or_settings, str):
        settings = JudgeSettings(backend=name_or_settings, **overrides)  # type: ignore[arg-type]
    else:
        settings = name_or_settings.model_copy(update=overrides) if overrides else name_or_settings
    if settings.backend not in BACKENDS:
        raise ValueError(f"unknown judge '{settings.backend}': use one of {', '.join(BACKENDS)}")
    from interviewer.judges.offline import OfflineJudge  # noqa: PLC0415

    if settings.backend == "offline":
        return OfflineJudge()
    if settings.backend == "openai":
        from interviewer.judges.openai_judge import OpenAIJudge  # noqa: PLC0415

        judge: Judge = OpenAIJudge.from_settings(settings)
    else:
        from interviewer.judges.local import LocalJudge  # noqa: PLC0415

        judge = LocalJudge.from_settings(settings)
    if settings.fallback_offline:
        from interviewer.judges.fallback import FallbackJudge  # noqa: PLC0415

        return FallbackJudge(judge, OfflineJudge())
    return judge


__all__ = ["BACKENDS", "Judge", "JudgeUnavailable", "make_judge"]
