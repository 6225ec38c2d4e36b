"""Schema versions and the migrations between them (no alembic: SQLite-only DDL, tested).

The version lives in the ``meta`` table (key ``schema_version``). ``V1_SCHEMA`` is
the first released schema, frozen here so a test can build a version-1 database
file and check that opening it upgrades it without losing anything. To change the
schema: change ``tables.py``, bump ``SCHEMA_VERSION``, add a function to
``MIGRATIONS`` that takes a version N-1 database to N, and extend the test.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Connection

from interviewer.storage.tables import SCHEMA_VERSION

V1_SCHEMA = """
CREATE TABLE drill_card (
    question_id VARCHAR NOT NULL,
    topic VARCHAR NOT NULL,
    card_json VARCHAR NOT NULL,
    due DATETIME NOT NULL,
    last_score FLOAT,
    reviews INTEGER NOT NULL,
    PRIMARY KEY (question_id)
);
CREATE INDEX ix_drill_card_due ON drill_card (due);
CREATE INDEX ix_drill_card_topic ON drill_card (topic);
CREATE TABLE meta (
    "key" VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    PRIMARY KEY ("key")
);
CREATE TABLE review_log (
    id INTEGER NOT NULL,
    question_id VARCHAR NOT NULL,
    turn_id VARCHAR,
    rating INTEGER NOT NULL,
    score FLOAT NOT NULL,
    log_json VARCHAR NOT NULL,
    reviewed_at DATETIME NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX ix_review_log_question_id ON review_log (question_id);
CREATE TABLE session (
    id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    profile VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    seed INTEGER NOT NULL,
    judge VARCHAR NOT NULL,
    question_count INTEGER NOT NULL,
    plan_json VARCHAR NOT NULL,
    total_time_s INTEGER NOT NULL,
    started_at DATETIME NOT NULL,
    finished_at DATETIME,
    PRIMARY KEY (id)
);
CREATE INDEX ix_session_profile ON session (profile);
CREATE INDEX ix_session_started_at ON session (started_at);
CREATE INDEX ix_session_status ON session (status);
CREATE TABLE topic_mastery (
    topic VARCHAR NOT NULL,
    mastery FLOAT NOT NULL,
    attempts INTEGER NOT NULL,
    last_seen DATETIME,
    missed_json VARCHAR NOT NULL,
    PRIMARY KEY (topic)
);
CREATE TABLE turn (
    id VARCHAR NOT NULL,
    session_id VARCHAR NOT NULL,
    seq INTEGER NOT NULL,
    number INTEGER NOT NULL,
    question_id VARCHAR NOT NULL,
    topic VARCHAR NOT NULL,
    is_followup BOOLEAN NOT NULL,
    parent_turn_id VARCHAR,
    followup_keypoint VARCHAR,
    time_limit_s INTEGER NOT NULL,
    shown_at DATETIME,
    answered_at DATETIME,
    answer VARCHAR,
    time_taken_s FLOAT,
    timed_out BOOLEAN NOT NULL,
    skipped BOOLEAN NOT NULL,
    hints_used INTEGER NOT NULL,
    hint_penalty FLOAT NOT NULL,
    state VARCHAR NOT NULL,
    score FLOAT,
    raw_score FLOAT,
    feedback VARCHAR NOT NULL,
    flags_json VARCHAR NOT NULL,
    ungraded_reason VARCHAR,
    answer_graded VARCHAR NOT NULL,
    judge_backend VARCHAR NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(session_id) REFERENCES session (id)
);
CREATE INDEX ix_turn_answered_at ON turn (answered_at);
CREATE INDEX ix_turn_question_id ON turn (question_id);
CREATE INDEX ix_turn_session_id ON turn (session_id);
CREATE INDEX ix_turn_state ON turn (state);
CREATE INDEX ix_turn_topic ON turn (topic);
CREATE TABLE judge_run (
    id INTEGER NOT NULL,
    turn_id VARCHAR NOT NULL,
    backend VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    latency_ms FLOAT NOT NULL,
    raw_output VARCHAR NOT NULL,
    tokens_processed INTEGER,
    samples INTEGER NOT NULL,
    fallback_from VARCHAR,
    error VARCHAR,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(turn_id) REFERENCES turn (id)
);
CREATE INDEX ix_judge_run_turn_id ON judge_run (turn_id);
CREATE TABLE misconception_hit (
    id INTEGER NOT NULL,
    turn_id VARCHAR NOT NULL,
    misconception_id VARCHAR NOT NULL,
    evidence VARCHAR NOT NULL,
    penalty FLOAT NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(turn_id) REFERENCES turn (id)
);
CREATE INDEX ix_misconception_hit_turn_id ON misconception_hit (turn_id);
CREATE TABLE verdict (
    id INTEGER NOT NULL,
    turn_id VARCHAR NOT NULL,
    keypoint_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    evidence VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    weight FLOAT NOT NULL,
    probabilities_json VARCHAR,
    PRIMARY KEY (id),
    FOREIGN KEY(turn_id) REFERENCES turn (id)
);
CREATE INDEX ix_verdict_turn_id ON verdict (turn_id);
"""


class SchemaTooNew(RuntimeError):
    pass


def get_version(conn: Connection) -> int:
    try:
        row = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).fetchone()
    except Exception:  # noqa: BLE001 - no meta table: not ours, or empty
        return 0
    return int(row[0]) if row else 0


def set_version(conn: Connection, version: int) -> None:
    conn.execute(text("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', :v)"), {"v": str(version)})


def create_v1(conn: Connection) -> None:
    """Build the version-1 schema (used by the migration test to make an old database)."""
    for statement in V1_SCHEMA.split(";"):
        if statement.strip():
            conn.execute(text(statement))
    set_version(conn, 1)


def _to_v2(conn: Connection) -> None:
    """Per-day score sums back-filled from the graded main answers; an index for counts by state;
    unanswered turns get their own state ``open`` (version 1 called them ``pending`` too)."""
    conn.execute(text("UPDATE turn SET state = 'open' WHERE answer IS NULL"))
    conn.execute(text("CREATE INDEX ix_turn_main_state ON turn (is_followup, state)"))
    conn.execute(text(
        "CREATE TABLE daily_stat (day VARCHAR NOT NULL, score_sum FLOAT NOT NULL, answers INTEGER NOT NULL, PRIMARY KEY (day))"
    ))
    conn.execute(text(
        "INSERT INTO daily_stat (day, score_sum, answers) "
        "SELECT substr(answered_at, 1, 10), SUM(score), COUNT(*) FROM turn "
        "WHERE state = 'graded' AND is_followup = 0 AND answered_at IS NOT NULL GROUP BY substr(answered_at, 1, 10)"
    ))


MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _to_v2}


def upgrade(conn: Connection, tables: set[str]) -> int:
    """Bring an existing database up to SCHEMA_VERSION; returns the version it had."""
    if "meta" not in tables:
        raise RuntimeError("this file holds tables but is not an interviewer database (no meta table)")
    version = get_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"the database has schema {version}, newer than this interviewer ({SCHEMA_VERSION}); upgrade interviewer"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[target](conn)
        set_version(conn, target)
    return version
