"""Snapshots of the interview, grade view, summary and stats screens (pytest-textual-snapshot).

Deterministic: fixed seeds, the engine's clock fixed at a date, the countdown's clock
frozen, local time zone UTC. Update with `pytest tests/test_tui_snapshots.py --snapshot-update`
after checking the new pictures in the report.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from interviewer.engine import Engine
from tui.app import InterviewerApp
from tui_helpers import FakeMonotonic, StepClock, make_engine, shared_bank, type_text, wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _utc_local_time(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN202
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def rubric_answer(question_id: str) -> str:
    """An answer that names the first two keypoints of the question's rubric (so the offline judge finds evidence)."""
    rubric = shared_bank().rubric(question_id)
    assert rubric is not None
    parts = [f"第一，{rubric.keypoints[0].aliases[0]}。", f"第二，{rubric.keypoints[1].aliases[0]}，这是关键。", "其余的我不太确定。"]
    return "".join(parts)


def graded_round(engine: Engine, seed: int = 7) -> str:
    info = engine.start("general", seed=seed)
    for i in range(3):
        q = engine.next_question(info.id)
        assert q is not None
        answer = rubric_answer(q.question_id) if i < 2 else "不知道。"
        engine.submit(q.turn_id, answer, time_taken_s=95 + 20 * i)
        engine.grade(q.turn_id)
    engine.finish(info.id)
    return info.id


def app_for(engine: Engine, tmp_path: Path) -> InterviewerApp:
    return InterviewerApp(engine, monotonic=FakeMonotonic(), settings_path=tmp_path / "config.yaml", export_dir=tmp_path)


def test_interview_screen(snap_compare, tmp_path: Path) -> None:  # noqa: ANN001
    engine = make_engine(tmp_path)
    engine.start("general", seed=7)

    async def run_before(pilot) -> None:  # noqa: ANN001
        app = pilot.app
        await wait_for(pilot, lambda: app.ready, what="boot")
        app.screen.query_one("#interrupted").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "InterviewScreen", what="interview")
        await type_text(pilot, "缩放是为了防止点积过大，softmax 饱和：除以 √d_k。")

    assert snap_compare(app_for(engine, tmp_path), terminal_size=(80, 24), run_before=run_before)


def test_grade_view(snap_compare, tmp_path: Path) -> None:  # noqa: ANN001
    engine = make_engine(tmp_path)
    session_id = graded_round(engine)
    turns = [t.turn_id for t in engine.summary(session_id).turns]

    async def run_before(pilot) -> None:  # noqa: ANN001
        from tui.screens.grade import GradeScreen  # noqa: PLC0415

        await wait_for(pilot, lambda: pilot.app.ready, what="boot")
        await pilot.app.push_screen(GradeScreen(turns, 0))
        await pilot.pause()

    assert snap_compare(app_for(engine, tmp_path), terminal_size=(100, 40), run_before=run_before)


def test_summary_screen(snap_compare, tmp_path: Path) -> None:  # noqa: ANN001
    engine = make_engine(tmp_path)
    session_id = graded_round(engine)

    async def run_before(pilot) -> None:  # noqa: ANN001
        from tui.screens.summary import SummaryScreen  # noqa: PLC0415

        await wait_for(pilot, lambda: pilot.app.ready, what="boot")
        await pilot.app.push_screen(SummaryScreen(session_id, end_of_round=True))
        await pilot.pause()

    assert snap_compare(app_for(engine, tmp_path), terminal_size=(80, 24), run_before=run_before)


def test_stats_screen(snap_compare, tmp_path: Path) -> None:  # noqa: ANN001
    clock = StepClock()
    engine = make_engine(tmp_path, clock=clock)
    for seed in (7, 8, 9):  # not 10: its repeated topic ties missed keypoints, which the engine orders arbitrarily
        graded_round(engine, seed)
        clock.advance(days=1)

    async def run_before(pilot) -> None:  # noqa: ANN001
        await wait_for(pilot, lambda: pilot.app.ready, what="boot")
        await pilot.press("t")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "StatsScreen", what="stats")
        await pilot.pause()

    assert snap_compare(app_for(engine, tmp_path), terminal_size=(100, 30), run_before=run_before)
