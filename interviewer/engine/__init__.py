"""The session engine: the facade UIs use (plain models in and out)."""

from interviewer.engine.models import (
    DrillItem,
    GradeState,
    MisconceptionView,
    ProfileInfo,
    QuestionView,
    SessionInfo,
    SessionStatus,
    SessionSummary,
    Stats,
    TopicMastery,
    TrendPoint,
    TurnResult,
    VerdictView,
)
from interviewer.engine.session import DatabaseError, Engine, EngineError

__all__ = [
    "DatabaseError",
    "DrillItem",
    "Engine",
    "EngineError",
    "GradeState",
    "MisconceptionView",
    "ProfileInfo",
    "QuestionView",
    "SessionInfo",
    "SessionStatus",
    "SessionSummary",
    "Stats",
    "TopicMastery",
    "TrendPoint",
    "TurnResult",
    "VerdictView",
]
