"""The Grade every judge returns: plain models, the same shape for every backend."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class Status(str, Enum):
    covered = "covered"
    partial = "partial"
    missing = "missing"

    @property
    def credit(self) -> float:
        return {"covered": 1.0, "partial": 0.5, "missing": 0.0}[self.value]


class Flag(str, Enum):
    offline_estimate = "offline_estimate"  # graded by keyword matching, not by a model
    injection_suspected = "injection_suspected"  # the answer tries to instruct the grader
    needs_review = "needs_review"  # samples disagreed, or the judge output was repaired
    ungraded = "ungraded"  # no verdicts: see Grade.ungraded_reason
    truncated = "truncated"  # the answer was cut to the length cap before grading
    fallback = "fallback"  # the configured judge failed; another judge graded


class KeypointVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    keypoint_id: str
    status: Status
    evidence: str = ""  # a verbatim span of the (normalised) answer, "" when none
    reason: str = ""
    claimed_status: Status | None = None  # what the judge said before the evidence check, when it differs
    probabilities: dict[str, float] | None = None  # label probabilities (local judge)


class MisconceptionHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    misconception_id: str
    evidence: str
    penalty: float


class InjectionSpan(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: int
    end: int
    kind: str
    text: str


class JudgeMeta(BaseModel):
    backend: str
    model: str = ""
    prompt_version: str = ""
    latency_ms: float = 0.0
    raw_output: str = ""  # kept for audit; never contains secrets
    tokens_processed: int | None = None
    samples: int = 1
    fallback_from: str | None = None
    error: str | None = None


class Grade(BaseModel):
    question_id: str
    score: float | None = Field(default=None, ge=0, le=10)  # None when ungraded
    verdicts: list[KeypointVerdict] = Field(default_factory=list)
    misconceptions: list[MisconceptionHit] = Field(default_factory=list)
    feedback: str = ""
    flags: list[Flag] = Field(default_factory=list)
    ungraded_reason: str | None = None
    injections: list[InjectionSpan] = Field(default_factory=list)
    answer_normalised: str = ""  # the text the evidence spans refer to
    meta: JudgeMeta

    @property
    def graded(self) -> bool:
        return self.score is not None

    def verdict(self, keypoint_id: str) -> KeypointVerdict | None:
        return next((v for v in self.verdicts if v.keypoint_id == keypoint_id), None)

    def has(self, flag: Flag) -> bool:
        return flag in self.flags
