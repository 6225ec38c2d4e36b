"""Opening the database: any SQLAlchemy URL; SQLite files get WAL and a busy timeout.

Nothing here runs at import time: the engine is built when a ``Database`` is made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

from interviewer.storage import migrate
from interviewer.storage.tables import SCHEMA_VERSION, SQLModel


class DatabaseError(RuntimeError):
    """A database that cannot be used, with what to do about it in the message."""


def url_for(db: str | Path) -> str:
    """A path becomes a sqlite URL; a URL stays as it is."""
    text = str(db)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()
    if mode and str(mode[0]).lower() == "wal":
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses nothing committed
    cursor.close()


class Database:
    def __init__(self, db: str | Path, *, create: bool = True):
        self.url = url_for(db)
        try:
            url = make_url(self.url)
        except ArgumentError as exc:
            raise DatabaseError(f"'{db}' is not a database path or SQLAlchemy URL ({exc})") from exc
        self.is_sqlite = url.get_backend_name() == "sqlite"
        memory = self.is_sqlite and url.database in (None, "", ":memory:")
        if self.is_sqlite and not memory:
            path = Path(url.database)
            if not path.exists():
                if not create:
                    raise DatabaseError(f"no database at {path}: run a round first, or pass --db with the right file")
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise DatabaseError(f"cannot create the folder for {path}: {exc.strerror}") from exc
            self.path: Path | None = path
        else:
            self.path = None
        kwargs: dict = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 5}
            if memory:
                kwargs["poolclass"] = StaticPool
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._prepare()

    def _prepare(self) -> None:
        try:
            with self.engine.begin() as conn:
                tables = set(inspect(conn).get_table_names())
                if not tables:
                    SQLModel.metadata.create_all(conn)
                    migrate.set_version(conn, SCHEMA_VERSION)
                else:
                    migrate.upgrade(conn, tables)
        except DBAPIError as exc:
            raise self.error(exc) from exc
        except RuntimeError as exc:  # from migrate: schema too new, or not our database
            raise DatabaseError(f"{self.path or self.url}: {exc}") from exc

    def error(self, exc: DBAPIError) -> DatabaseError:
        message = str(exc.orig) if exc.orig is not None else str(exc)
        where = self.path or self.url
        if "locked" in message or "busy" in message:
            return DatabaseError(f"the database {where} is locked by another program; close the other interviewer and retry")
        if "not a database" in message or "malformed" in message:
            return DatabaseError(f"{where} is not an interviewer database (or is damaged): {message}; pass --db with another file")
        if "readonly" in message or "unable to open" in message:
            return DatabaseError(f"cannot write the database {where}: {message}; check permissions or pass --db")
        return DatabaseError(f"database error at {where}: {message}")

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """One session per unit of work; commits on success. Safe to use from worker threads."""
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                yield session
                session.commit()
        except DBAPIError as exc:
            raise self.error(exc) from exc

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return migrate.get_version(conn)

    def close(self) -> None:
        self.engine.dispose()
