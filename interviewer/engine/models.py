"""Plain models the session engine takes and returns.

These are the only types that cross from the core into a UI (the Textual app,
the CLI): pydantic models with primitive fields, no database rows, no sessions.
Times are timezone-aware UTC datetimes; durations are seconds.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class _Plain(BaseModel):
    model_config = ConfigDict(frozen=True)


class SessionStatus(str, Enum):
    active = "active"  # questions still to come (or interrupted: can be resumed)
    finished = "finished"
    abandoned = "abandoned"  # closed without finishing; answers kept


class GradeState(str, Enum):
    open = "open"  # asked, not answered yet
    pending = "pending"  # saved, not graded yet (grading in progress, or the app was killed)
    graded = "graded"
    ungraded = "ungraded"  # the judge failed; the answer is kept and can be regraded
    skipped = "skipped"  # the candidate skipped: 0, nothing to grade


class ProfileInfo(_Plain):
    id: str
    name: str
    description: str = ""
    company: str | None = None
    question_count: int
    total_time_s: int
    opening_line: str


class SessionInfo(_Plain):
    id: str
    kind: str  # "round" or "drill"
    profile: str
    profile_name: str
    status: SessionStatus
    started_at: datetime
    finished_at: datetime | None = None
    seed: int
    judge: str
    question_count: int  # planned main questions
    answered: int = 0
    mean_score: float | None = None
    pending: int = 0  # answers not yet graded


class QuestionView(_Plain):
    """One question (or follow-up) as it is put to the candidate."""

    turn_id: str
    session_id: str
    number: int  # 1-based number of the main question in the round
    total: int  # planned main questions
    question_id: str
    text: str
    topic: str
    topic_name: str
    subtopic_name: str
    kind: str
    difficulty: int
    companies: list[str] = Field(default_factory=list)
    time_limit_s: int
    shown_at: datetime
    deadline: datetime
    interviewer_line: str = ""  # what the interviewer says before the question
    is_followup: bool = False
    followup_keypoint: str | None = None  # the keypoint a follow-up probes
    hints_used: int = 0


class VerdictView(_Plain):
    keypoint_id: str
    statement: str
    weight: float
    status: str  # covered | partial | missing
    evidence: str = ""
    reason: str = ""
    probabilities: dict[str, float] | None = None


class MisconceptionView(_Plain):
    misconception_id: str
    claim: str
    correction: str
    evidence: str
    penalty: float


class TurnResult(_Plain):
    """One answered turn with its grade (or the reason it has none)."""

    turn_id: str
    session_id: str
    number: int
    question_id: str
    question_text: str
    topic: str
    topic_name: str
    is_followup: bool = False
    followup_keypoint: str | None = None
    answer: str
    time_limit_s: int
    time_taken_s: float
    timed_out: bool = False
    skipped: bool = False
    hints_used: int = 0
    hint_penalty: float = 0.0
    state: GradeState
    score: float | None = None  # after hint penalty; None unless graded
    raw_score: float | None = None  # the judge's score before hint penalty
    verdicts: list[VerdictView] = Field(default_factory=list)
    misconceptions: list[MisconceptionView] = Field(default_factory=list)
    feedback: str = ""
    reference_answer: str = ""
    flags: list[str] = Field(default_factory=list)
    ungraded_reason: str | None = None
    judge_backend: str = ""
    judge_model: str = ""
    fallback_from: str | None = None
    answer_graded: str = ""  # the normalised text the evidence spans quote
    answered_at: datetime | None = None

    @property
    def offline_estimate(self) -> bool:
        return "offline_estimate" in self.flags


class TopicMastery(_Plain):
    topic: str
    topic_name: str
    mastery: float  # 0-10, recency-weighted mean score
    attempts: int
    last_seen: datetime | None = None
    missed_keypoints: list[str] = Field(default_factory=list)  # statements, most often missed first


class DrillItem(_Plain):
    question_id: str
    text: str
    topic: str
    topic_name: str
    reason: str  # "due" | "weak_topic" | "unseen"
    due: datetime | None = None
    last_score: float | None = None


class TrendPoint(_Plain):
    day: str  # ISO date
    mean_score: float
    answers: int


class Stats(_Plain):
    answers: int
    graded: int
    sessions: int
    mean_score: float | None
    weak_topics: list[TopicMastery]
    trend: list[TrendPoint]
    due_cards: int


class SessionSummary(_Plain):
    session: SessionInfo
    turns: list[TurnResult]
    time_used_s: float
    weakest_topics: list[TopicMastery] = Field(default_factory=list)
    drill_next: list[DrillItem] = Field(default_factory=list)
