"""The SQLite layer: WAL, schema versions and migrations, clear errors for bad files and locks."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from interviewer.bank.loader import load_bank
from interviewer.engine import Engine
from interviewer.storage import migrate
from interviewer.storage.db import Database, DatabaseError
from interviewer.storage.tables import SCHEMA_VERSION

BANK = load_bank()


def _columns(path: Path) -> dict[str, set[str]]:
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        inspector = inspect(conn)
        found = {t: {c["name"] for c in inspector.get_columns(t)} | {f"index:{i['name']}" for i in inspector.get_indexes(t)} for t in inspector.get_table_names()}
    engine.dispose()
    return found


def test_a_new_database_uses_wal_and_the_current_schema(tmp_path: Path) -> None:
    db = Database(tmp_path / "new.db")
    assert db.schema_version() == SCHEMA_VERSION
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    db.close()


def test_a_version_1_database_is_migrated_without_losing_answers(tmp_path: Path) -> None:
    old = tmp_path / "v1.db"
    raw = create_engine(f"sqlite:///{old}")
    with raw.begin() as conn:
        migrate.create_v1(conn)
        conn.exec_driver_sql(
            "INSERT INTO session (id, kind, profile, status, seed, judge, question_count, plan_json, total_time_s, started_at) "
            "VALUES ('s1', 'round', 'general', 'finished', 1, 'offline', 1, '[\"attention.formula.qkv\"]', 600, '2026-01-05 10:00:00.000000')"
        )
        for i, (day, score) in enumerate([("2026-01-05", 4.0), ("2026-01-05", 8.0), ("2026-01-06", 6.0)]):
            conn.exec_driver_sql(
                "INSERT INTO turn (id, session_id, seq, number, question_id, topic, is_followup, time_limit_s, answered_at, answer, "
                "time_taken_s, timed_out, skipped, hints_used, hint_penalty, state, score, raw_score, feedback, flags_json, answer_graded, judge_backend) "
                f"VALUES ('t{i}', 's1', {i + 1}, {i + 1}, 'attention.formula.qkv', 'attention', 0, 180, '{day} 10:00:00.000000', '回答{i}', "
                f"30, 0, 0, 0, 0, 'graded', {score}, {score}, '', '[]', '', 'offline')"
            )
    raw.dispose()
    fresh = tmp_path / "fresh.db"
    Database(fresh).close()
    assert set(_columns(old)) != set(_columns(fresh))  # the old file really is older

    engine = Engine(old, bank=BANK)
    assert engine.db.schema_version() == SCHEMA_VERSION
    assert _columns(old) == _columns(fresh)  # migrated schema = schema of a new database
    stats = engine.stats()
    assert [(p.day, p.mean_score, p.answers) for p in stats.trend] == [("2026-01-05", 6.0, 2), ("2026-01-06", 6.0, 1)]
    summary = engine.summary("s1")
    assert [t.answer for t in summary.turns] == ["回答0", "回答1", "回答2"]
    assert summary.turns[0].answered_at == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    engine.close()


def test_a_database_from_a_newer_interviewer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    db = Database(path)
    with db.engine.begin() as conn:
        migrate.set_version(conn, SCHEMA_VERSION + 1)
    db.close()
    with pytest.raises(DatabaseError, match="newer than this interviewer"):
        Database(path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database" * 100, encoding="utf-8")
    with pytest.raises(DatabaseError, match="not an interviewer database"):
        Database(path)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE mine (x)")
    conn.commit()
    conn.close()
    with pytest.raises(DatabaseError, match="no meta table"):
        Database(other)


def test_a_missing_database_is_reported_for_reading_commands(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no database at"):
        Database(tmp_path / "missing.db", create=False)


def test_a_locked_database_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    engine = Engine(path, bank=BANK)
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseError, match="locked by another program"):
            engine.start("general", seed=1)
    finally:
        holder.rollback()
        holder.close()
    assert engine.start("general", seed=1).status.value == "active"  # usable again once released
    engine.close()


def test_any_sqlalchemy_url_works(tmp_path: Path) -> None:
    engine = Engine("sqlite://", bank=BANK)  # in memory
    info = engine.start("general", seed=1)
    assert engine.sessions()[0].id == info.id
    engine.close()
