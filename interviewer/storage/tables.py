"""The SQLite schema (sqlmodel). Only the storage package and the engine see these rows.

Schema version 2 (version 1 is frozen in ``migrate.V1_SCHEMA``). Changes are made by adding a migration in
``interviewer.storage.migrate`` and bumping ``SCHEMA_VERSION``; a test opens a
database file of every older version and checks it upgrades without losing rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 2


class MetaRow(SQLModel, table=True):
    __tablename__ = "meta"

    key: str = Field(primary_key=True)
    value: str


class SessionRow(SQLModel, table=True):
    __tablename__ = "session"

    id: str = Field(primary_key=True)
    kind: str = "round"  # round | drill
    profile: str = Field(index=True)
    status: str = Field(default="active", index=True)
    seed: int = 0
    judge: str = "offline"
    question_count: int = 0
    plan_json: str = "[]"  # the main questions, in order
    total_time_s: int = 0
    started_at: datetime = Field(index=True)
    finished_at: datetime | None = None


class TurnRow(SQLModel, table=True):
    """One question put to the candidate (main or follow-up) and the answer, once given."""

    __tablename__ = "turn"
    # Added in schema 2: counts by state for stats read this index only, never the answers.
    __table_args__ = (Index("ix_turn_main_state", "is_followup", "state"),)

    id: str = Field(primary_key=True)
    session_id: str = Field(foreign_key="session.id", index=True)
    seq: int  # order within the session
    number: int  # main question number (a follow-up shares its parent's)
    question_id: str = Field(index=True)
    topic: str = Field(index=True)
    is_followup: bool = False
    parent_turn_id: str | None = None
    followup_keypoint: str | None = None
    time_limit_s: int
    shown_at: datetime | None = None
    answered_at: datetime | None = Field(default=None, index=True)
    answer: str | None = None  # None until submitted
    time_taken_s: float | None = None
    timed_out: bool = False
    skipped: bool = False
    hints_used: int = 0
    hint_penalty: float = 0.0
    state: str = Field(default="open", index=True)  # open (asked, no answer yet) | pending | graded | ungraded | skipped
    score: float | None = None
    raw_score: float | None = None
    feedback: str = ""
    flags_json: str = "[]"
    ungraded_reason: str | None = None
    answer_graded: str = ""
    judge_backend: str = ""


class VerdictRow(SQLModel, table=True):
    __tablename__ = "verdict"

    id: int | None = Field(default=None, primary_key=True)
    turn_id: str = Field(foreign_key="turn.id", index=True)
    keypoint_id: str
    status: str
    evidence: str = ""
    reason: str = ""
    weight: float = 1.0
    probabilities_json: str | None = None


class MisconceptionRow(SQLModel, table=True):
    __tablename__ = "misconception_hit"

    id: int | None = Field(default=None, primary_key=True)
    turn_id: str = Field(foreign_key="turn.id", index=True)
    misconception_id: str
    evidence: str
    penalty: float


class JudgeRunRow(SQLModel, table=True):
    """Judge metadata of every grading attempt (regrades add rows): the audit trail."""

    __tablename__ = "judge_run"

    id: int | None = Field(default=None, primary_key=True)
    turn_id: str = Field(foreign_key="turn.id", index=True)
    backend: str
    model: str = ""
    prompt_version: str = ""
    latency_ms: float = 0.0
    raw_output: str = ""
    tokens_processed: int | None = None
    samples: int = 1
    fallback_from: str | None = None
    error: str | None = None
    created_at: datetime


class TopicMasteryRow(SQLModel, table=True):
    __tablename__ = "topic_mastery"

    topic: str = Field(primary_key=True)
    mastery: float = 0.0
    attempts: int = 0
    last_seen: datetime | None = None
    missed_json: str = "[]"  # keypoint statements, most often missed first


class DrillCardRow(SQLModel, table=True):
    __tablename__ = "drill_card"

    question_id: str = Field(primary_key=True)
    topic: str = Field(index=True)
    card_json: str
    due: datetime = Field(index=True)
    last_score: float | None = None
    reviews: int = 0


class ReviewLogRow(SQLModel, table=True):
    __tablename__ = "review_log"

    id: int | None = Field(default=None, primary_key=True)
    question_id: str = Field(index=True)
    turn_id: str | None = None
    rating: int
    score: float
    log_json: str
    reviewed_at: datetime


class DailyStatRow(SQLModel, table=True):
    """Added in schema 2: per-day sums of graded scores, so stats never scan every answer."""

    __tablename__ = "daily_stat"

    day: str = Field(primary_key=True)  # ISO date, UTC
    score_sum: float = 0.0
    answers: int = 0
