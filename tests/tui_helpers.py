"""Shared pieces of the TUI tests: engines on a temporary SQLite file, test profiles, clocks, judges, waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import yaml

from interviewer.bank.loader import Bank, load_bank
from interviewer.engine import Engine
from interviewer.judges.offline import OfflineJudge

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@cache
def shared_bank() -> Bank:
    """The bank loads once per test run (about a second)."""
    return load_bank()


class StepClock:
    """The engine's wall clock: fixed at a date, moved only by the test."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class FakeMonotonic:
    """The countdown's clock: frozen unless the test moves it."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def write_profiles(folder: Path, *, count: int = 3, limit_s: int = 10, followup_probability: float = 0.0) -> Path:
    """Test profiles copied from profiles/general.yaml, with tiny time limits (10 s is the minimum a profile allows)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = yaml.safe_load((ROOT / "profiles" / "general.yaml").read_text(encoding="utf-8"))
    general = {
        **base,
        "question_count": count,
        "difficulty_curve": [],
        "time_limits_s": {kind: limit_s for kind in base["time_limits_s"]},
        "total_time_s": 3600,
        "followups": {**base["followups"], "probability": followup_probability},
    }
    (folder / "general.yaml").write_text(yaml.safe_dump(general, allow_unicode=True), encoding="utf-8")
    return folder


def make_engine(
    tmp_path: Path,
    *,
    clock: Callable[[], datetime] | None = None,
    judge_factory: Callable[[str], object] | None = None,
    profiles_dir: Path | None = None,
) -> Engine:
    return Engine(
        tmp_path / "interviewer.db",
        bank=shared_bank(),
        clock=clock or StepClock(),
        judge_factory=judge_factory or (lambda _name: OfflineJudge()),
        profiles_dir=profiles_dir,
    )


class GatedJudge:
    """The offline judge behind a gate: grade() blocks until the test opens it (a slow model judge)."""

    name = "offline"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.inner = OfflineJudge()
        self.calls = 0

    def grade(self, question, rubric, answer):  # noqa: ANN001, ANN201
        self.calls += 1
        self.entered.set()
        if not self.gate.wait(timeout=30):
            raise TimeoutError("the test never released the judge")
        return self.inner.grade(question, rubric, answer)


class BrokenJudge:
    name = "openai"

    def grade(self, question, rubric, answer):  # noqa: ANN001, ANN201
        raise ConnectionError("connection refused by http://127.0.0.1:9/v1")


async def wait_for(pilot, condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:  # noqa: ANN001
    """Poll a condition while the app runs; fail with a clear message after the deadline (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)
    await pilot.pause()


def screen_text(app) -> str:  # noqa: ANN001
    """What is visible on the terminal right now, as plain text (the same render as a screenshot)."""
    import io  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


def content_text(widget, width: int = 100) -> str:  # noqa: ANN001
    """The full content of a Static (also what is scrolled out of view), as plain text."""
    import io  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415

    console = Console(width=width, file=io.StringIO(), record=True, legacy_windows=False)
    content = widget.content
    console.print(content if not isinstance(content, str) else content)
    return console.export_text()


async def type_text(pilot, text: str) -> None:  # noqa: ANN001
    """Type one key at a time, as a terminal delivers it (a CJK character or full-width punctuation is one key).

    Pilot.press drops the character of keys like "：" (it cannot map their names back), so
    the Key event is built the way Textual's input parser builds it.
    """
    from textual import events  # noqa: PLC0415
    from textual.keys import _character_to_key  # noqa: PLC0415

    for ch in text:
        if ch == "\n":
            await pilot.press("enter")
        elif ch.isascii() and ch.isprintable() and ch != " ":
            await pilot.press(ch)
        else:
            pilot.app.post_message(events.Key(_character_to_key(ch), ch))
            await pilot.pause()
