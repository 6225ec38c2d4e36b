"""The TUI driven headless with Pilot: real SQLite file in tmp_path, the offline judge (or a gated / broken one)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, OptionList, Select, TextArea

from interviewer.config import load_settings
from interviewer.engine import Engine
from tui_helpers import (
    ROOT,
    BrokenJudge,
    FakeMonotonic,
    GatedJudge,
    StepClock,
    content_text,
    make_engine,
    screen_text,
    shared_bank,
    type_text,
    wait_for,
    write_profiles,
)
from tui.app import InterviewerApp

pytestmark = pytest.mark.timeout(60)

GOOD_MQA = "MQA 保留多个 query 头，但所有头共享一组KV，只有单个KV头。KV cache 减为 MHA 的 1/h，解码加速。代价是质量下降。GQA 是折中。"


def make_app(tmp_path: Path, engine: Engine | None = None, **kwargs) -> tuple[InterviewerApp, FakeMonotonic]:
    mono = FakeMonotonic()
    engine = engine or make_engine(tmp_path, profiles_dir=write_profiles(tmp_path / "profiles"))
    app = InterviewerApp(engine, monotonic=mono, settings_path=tmp_path / "config.yaml", export_dir=tmp_path, **kwargs)
    return app, mono


def name(app: InterviewerApp) -> str:
    return type(app.screen).__name__


async def booted(pilot) -> None:  # noqa: ANN001
    await wait_for(pilot, lambda: pilot.app.ready, what="the engine to load")


def finished_session(engine: Engine, answers: list[str] | None = None, *, profile: str = "general", seed: int = 3) -> str:
    """A round answered and graded through the engine only (what an earlier evening left behind)."""
    info = engine.start(profile, seed=seed)
    for answer in answers or ["注意力机制里 softmax 之前除以根号 d_k，防止梯度消失。", "不太清楚。"]:
        q = engine.next_question(info.id)
        if q is None:
            break
        engine.submit(q.turn_id, answer, time_taken_s=42)
        engine.grade(q.turn_id)
    engine.finish(info.id)
    return info.id


def assert_no_overlap(app: InterviewerApp) -> None:
    """Every visible widget lies inside the screen and no two siblings in the layout share a cell."""
    screen = app.screen
    bounds = screen.region
    skip = {"ToastRack", "Toast", "Tooltip", "SelectOverlay"}
    for widget in screen.query("*"):
        if type(widget).__name__ in skip or not widget.display or widget.region.area == 0:
            continue
        scrolled = any(getattr(a, "is_scrollable", False) and a.allow_vertical_scroll for a in widget.ancestors if a is not screen)
        if not scrolled:  # content inside a scroll view may extend past the screen: it scrolls
            assert bounds.contains_region(widget.region), f"{widget!r} {widget.region} lies outside the screen {bounds}"
        children = [c for c in widget.children if c.display and c.region.area and type(c).__name__ not in skip and c.styles.overlay != "screen"]
        for i, a in enumerate(children):
            for b in children[i + 1 :]:
                assert not a.region.overlaps(b.region), f"{a!r} {a.region} overlaps {b!r} {b.region} on {type(screen).__name__}"


# ---------------------------------------------------------------------------------------------- a full round
async def test_full_round_answers_timeout_hint_grades_and_summary(tmp_path: Path) -> None:
    """Start a round from home, type Chinese, submit, let one question time out, take a hint, see grades and the summary."""
    app, mono = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await booted(pilot)
        assert name(app) == "HomeScreen"
        await pilot.press("enter")  # the highlighted profile: the only one, general
        await wait_for(pilot, lambda: name(app) == "InterviewScreen", what="the interview")
        screen = app.screen
        assert "第 1/3 题" in screen_text(app)
        assert "⏱ 00:10" in screen_text(app)

        answer = "注意力：softmax(QK^T/√d_k)·V，多头拼接后再投影。"
        await type_text(pilot, answer)
        assert app.screen.query_one("#answer", TextArea).text == answer
        first = screen.current.turn_id
        await pilot.press("ctrl+s")
        # The next question is there at once; the first is graded in the background.
        assert "第 2/3 题" in screen_text(app)
        assert app.engine.turn(first).answer == answer
        await wait_for(pilot, lambda: app.engine.turn(first).state.value == "graded", what="grade of question 1")
        await wait_for(pilot, lambda: "第 1 题：" in screen_text(app), what="the grade in the status line")

        # Question 2: the countdown warns, then at zero what was typed is submitted as a timeout.
        second = screen.current.turn_id
        await type_text(pilot, "写了一半")
        mono.t += 8.5
        await wait_for(pilot, lambda: app.screen.query_one("#countdown").has_class("-warning"), what="the countdown warning")
        mono.t += 2
        await wait_for(pilot, lambda: "第 3/3 题" in screen_text(app), what="the timeout to move on")
        timed_out = app.engine.turn(second)
        assert timed_out.timed_out and timed_out.answer == "写了一半"

        # Question 3: a hint costs points and shows on screen.
        third = screen.current.turn_id
        await pilot.press("ctrl+t")
        assert "提示 1" in screen_text(app)
        await type_text(pilot, "GQA")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: name(app) == "SummaryScreen", what="the summary")
        await app.workers.wait_for_complete()
        await pilot.pause()
        summary = app.engine.summary(screen.session.id)
        assert summary.session.status.value == "finished"
        assert [t.state.value for t in summary.turns] == ["graded"] * 3
        assert app.engine.turn(third).hint_penalty > 0
        table = app.screen.query_one("#turns", DataTable)
        assert table.row_count == 3
        assert "离线估计" in str(table.get_row_at(0)[2])  # the offline judge's scores say so
        assert_no_overlap(app)

        await pilot.press("enter")
        await wait_for(pilot, lambda: name(app) == "GradeScreen", what="the grade view")
        assert "要点" in screen_text(app)  # visible without scrolling
        text = content_text(app.screen.query_one("#grade"))
        assert "参考答案" in text and "离线估计" in text and "注意力" in text
        await pilot.press("n")
        text = content_text(app.screen.query_one("#grade"))
        assert "第 2 题" in text and "超时自动提交" in text
        await pilot.press("escape", "escape")
        assert name(app) == "HomeScreen"


async def test_submitting_an_empty_answer_is_refused(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await booted(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: name(app) == "InterviewScreen", what="the interview")
        await pilot.press("ctrl+s")
        assert "第 1/3 题" in screen_text(app)
        assert any("回答是空的" in n.message for n in app._notifications)


# ---------------------------------------------------------------------------------------------- background grading
async def test_ui_stays_responsive_while_a_slow_judge_grades(tmp_path: Path) -> None:
    """The judge blocks until released: the next question, typing and the countdown all work meanwhile."""
    judge = GatedJudge()
    engine = make_engine(tmp_path, judge_factory=lambda _n: judge, profiles_dir=write_profiles(tmp_path / "profiles"))
    app, mono = make_app(tmp_path, engine)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await booted(pilot)
            await pilot.press("enter")
            await wait_for(pilot, lambda: name(app) == "InterviewScreen", what="the interview")
            first = app.screen.current.turn_id
            await type_text(pilot, "第一题的回答")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: judge.entered.is_set(), what="the judge to start")
            assert "第 2/3 题" in screen_text(app)
            assert "第 1 题评分中…" in screen_text(app)
            await type_text(pilot, "评分时照样打字：中文")
            assert app.screen.query_one("#answer", TextArea).text == "评分时照样打字：中文"
            mono.t += 3
            await wait_for(pilot, lambda: "00:07" in str(app.screen.query_one("#countdown").render()), what="the countdown to tick")
            assert app.engine.turn(first).state.value == "pending"  # saved, not graded yet
            judge.gate.set()
            await wait_for(pilot, lambda: "第 1 题：" in screen_text(app), what="the grade to arrive")
            assert "评分中" not in screen_text(app)
            assert app.engine.turn(first).state.value == "graded"
    finally:
        judge.gate.set()


async def test_a_followup_created_by_grading_is_asked_next(tmp_path: Path) -> None:
    """One-question round, follow-ups always: the screen waits for the grade, then asks the 追问."""
    judge = GatedJudge()
    profiles = write_profiles(tmp_path / "profiles", count=1, followup_probability=1.0)
    engine = make_engine(tmp_path, judge_factory=lambda _n: judge, profiles_dir=profiles)
    info = engine.start("general", seed=11)
    app, _ = make_app(tmp_path, engine)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await booted(pilot)
            app.screen.query_one("#interrupted", OptionList).focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: name(app) == "InterviewScreen", what="the interview")
            await type_text(pilot, "不太清楚")
            await pilot.press("ctrl+s")
            assert "本轮题目已答完" in screen_text(app)
            judge.gate.set()
            await wait_for(pilot, lambda: "追问" in screen_text(app) and app.screen.current is not None, what="the follow-up")
            assert app.screen.current.is_followup
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: name(app) == "SummaryScreen", what="the summary")
            turns = engine.summary(info.id).turns
            assert [t.is_followup for t in turns] == [False, True]
    finally:
        judge.gate.set()


async def test_a_failing_judge_keeps_the_answer_ungraded_and_says_why(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, judge_factory=lambda _n: BrokenJudge(), profiles_dir=write_profiles(tmp_path / "profiles", count=1))
    app, _ = make_app(tmp_path, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await booted(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: name(app) == "InterviewScreen", what="the interview")
        turn_id = app.screen.current.turn_id
        await type_text(pilot, "一个会评分失败的回答")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: name(app) == "SummaryScreen", what="the summary")
        await app.workers.wait_for_complete()
        await pilot.pause()
        turn = engine.turn(turn_id)
        assert turn.state.value == "ungraded" and turn.answer == "一个会评分失败的回答"
        assert any("评分失败" in n.message and "回答已保存" in n.message for n in app._notifications)
        assert "未评分" in screen_text(app)
        await pilot.press("enter")
        assert "connection refused" in content_text(app.screen.query_one("#grade"))


# ---------------------------------------------------------------------------------------------- resume
async def test_resume_an_interrupted_session(tmp_path: Path) -> None:
    """Killed mid-round: one answer saved but never graded, the next question shown. Resume asks it again."""
    engine = make_engine(tmp_path, profiles_dir=write_profiles(tmp_path / "profiles"))
    info = engine.start("general", seed=5)
    q1 = engine.next_question(info.id)
    engine.submit(q1.turn_id, "上次写的回答", time_taken_s=30)
    q2 = engine.next_question(info.id)  # on screen when the app died
    app, _ = make_app(tmp_path, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await booted(pilot)
        listing = app.screen.query_one("#interrupted", OptionList)
        assert listing.display and listing.option_count == 1
        listing.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: name(app) == "InterviewScreen", what="the interview")
        assert app.screen.current.turn_id == q2.turn_id  # the same question, asked again
        assert "第 2/3 题" in screen_text(app) and "⏱ 00:10" in screen_text(app)
        await wait_for(pilot, lambda: engine.turn(q1.turn_id).state.value == "graded", what="the saved answer to be graded")


async def test_answers_left_ungraded_in_a_closed_round_are_graded_at_start(tmp_path: Path) -> None:
    """The app was closed while the summary was still grading: the next start grades those answers."""
    engine = make_engine(tmp_path, profiles_dir=write_profiles(tmp_path / "profiles"))
    info = engine.start("general", seed=5)
    q = engine.next_question(info.id)
    engine.submit(q.turn_id, "保存了但没评分", time_taken_s=20)
    engine.finish(info.id)
    assert engine.turn(q.turn_id).state.value == "pending"
    app, _ = make_app(tmp_path, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await booted(pilot)
        await wait_for(pilot, lambda: engine.turn(q.turn_id).state.value == "graded", what="the left-over answer to be graded")
        assert any("补评" in n.message for n in app._notifications)


async def test_abandon_an_interrupted_session(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, profiles_dir=write_profiles(tmp_path / "profiles"))
    info = engine.start("general", seed=5)
    engine.next_question(info.id)
    app, _ = make_app(tmp_path, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await booted(pilot)
        app.screen.query_one("#interrupted", OptionList).focus()
        await pilot.press("x")
        assert name(app) == "ConfirmScreen"
        await pilot.press("y")
        await pilot.pause()
        assert engine.interrupted() == []
        assert engine.sessions()[0].status.value == "abandoned"
        assert not app.screen.query_one("#interrupted", OptionList).display


# ---------------------------------------------------------------------------------------------- review, export
async def test_review_filter_open_transcript_and_export(tmp_path: Path) -> None:
    clock = StepClock()
    engine = make_engine(tmp_path, clock=clock, profiles_dir=write_profiles(tmp_path / "profiles"))
    session_id = finished_session(engine)
    app, _ = make_app(tmp_path, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await pilot.press("r")
        await wait_for(pilot, lambda: name(app) == "ReviewScreen", what="the review")
        table = app.screen.query_one("#sessions", DataTable)
        assert table.row_count == 1
        assert_no_overlap(app)

        # Filters: a later start date hides it, the right profile keeps it.
        app.screen.query_one("#since", Input).value = "2030-01-01"
        await pilot.pause()
        assert table.row_count == 0
        app.screen.query_one("#since", Input).value = "2025-06-01"
        app.screen.query_one("#profile-filter", Select).value = "general"
        await pilot.pause()
        assert table.row_count == 1

        table.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: name(app) == "SummaryScreen", what="the transcript")
        assert app.screen.query_one("#turns", DataTable).row_count == 2
        await pilot.press("enter")
        await wait_for(pilot, lambda: name(app) == "GradeScreen", what="the grade view")
        assert "softmax" in content_text(app.screen.query_one("#grade"))
        await pilot.press("escape")

        await pilot.press("e")
        assert name(app) == "PathScreen"
        default = Path(app.screen.query_one(Input).value)
        assert default.parent == tmp_path and default.suffix == ".md"
        await pilot.press("enter")
        await pilot.pause()
        assert default.exists() and "# 面试记录" in default.read_text(encoding="utf-8")
        assert any(str(default) in n.message for n in app._notifications)

        await pilot.press("j")
        field = app.screen.query_one(Input)
        field.value = str(tmp_path / "out" / "typed.json")
        await pilot.press("enter")
        await pilot.pause()
        exported = json.loads((tmp_path / "out" / "typed.json").read_text(encoding="utf-8"))
        assert exported["session"]["id"] == session_id


# ---------------------------------------------------------------------------------------------- drill
async def test_drill_from_weak_topics(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, profiles_dir=write_profiles(tmp_path / "profiles"))
    finished_session(engine)
    app, _ = make_app(tmp_path, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await booted(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: name(app) == "DrillScreen", what="the drill screen")
        plan = app.screen.query_one("#plan", DataTable)
        assert plan.row_count > 0
        assert "薄弱主题" in screen_text(app)
        assert_no_overlap(app)
        app.screen.query_one("#count", Select).value = 3
        await pilot.pause()
        await pilot.press("s")
        await wait_for(pilot, lambda: name(app) == "InterviewScreen", what="the drill round")
        session = app.screen.session
        assert session.kind == "drill" and session.question_count <= 3
        assert "复习" in screen_text(app)
        for _ in range(session.question_count):
            await type_text(pilot, "复习作答")
            await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: name(app) == "SummaryScreen", what="the drill summary")
        await app.workers.wait_for_complete()
        assert engine.summary(session.id).session.answered == session.question_count


# ---------------------------------------------------------------------------------------------- settings
async def test_settings_test_connection_and_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERVIEWER_TEST_NO_KEY", raising=False)
    monkeypatch.setenv("INTERVIEWER_TEST_KEY", "sk-test-secret-value")
    app, _ = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await booted(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: name(app) == "SettingsScreen", what="settings")
        assert_no_overlap(app)
        await pilot.press("ctrl+t")  # offline: always ready
        await wait_for(pilot, lambda: "连接成功" in screen_text(app), what="the offline connection test")

        # A model judge that cannot be reached: the reason is shown, nothing crashes.
        app.screen.query_one("#backend", Select).value = "openai"
        app.screen.query_one("#base_url", Input).value = "http://127.0.0.1:9/v1"
        app.screen.query_one("#model", Input).value = "qwen-plus"
        app.screen.query_one("#api_key_env", Input).value = "INTERVIEWER_TEST_NO_KEY"
        await pilot.pause()
        assert "未设置" in screen_text(app)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: "连接失败" in screen_text(app), timeout=20, what="the failed connection test")
        app.screen.query_one("#api_key_env", Input).value = "INTERVIEWER_TEST_KEY"
        await pilot.pause()
        assert "已设置" in screen_text(app) and "sk-test-secret-value" not in screen_text(app)

        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: (tmp_path / "config.yaml").exists(), what="the settings file")
        saved = load_settings(tmp_path / "config.yaml")
        assert saved.judge.backend == "openai" and saved.judge.model == "qwen-plus"
        assert saved.judge.base_url == "http://127.0.0.1:9/v1" and saved.judge.api_key_env == "INTERVIEWER_TEST_KEY"
        assert app.engine.settings.judge.backend == "openai"  # applied
        assert "sk-test-secret-value" not in (tmp_path / "config.yaml").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------- palette, stats, startup
async def test_command_palette_lists_the_main_actions(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await booted(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette", what="the palette")
        await type_text(pilot, "统计")
        await wait_for(pilot, lambda: "统计 stats" in screen_text(app) or _palette_has(app, "统计"), what="the stats command")
        await pilot.press("enter")
        await wait_for(pilot, lambda: name(app) == "StatsScreen", what="stats")
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette", what="the palette")
        await type_text(pilot, "开始面试")
        await wait_for(pilot, lambda: _palette_has(app, "开始面试"), what="the start command")
        await pilot.press("enter")
        await wait_for(pilot, lambda: name(app) == "InterviewScreen", what="a round from the palette")


def _palette_has(app: InterviewerApp, words: str) -> bool:
    from textual.command import CommandList  # noqa: PLC0415

    try:
        listing = app.screen.query_one(CommandList)
    except Exception:  # noqa: BLE001
        return False
    return any(words in str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count))


async def test_stats_screen_with_history(tmp_path: Path) -> None:
    clock = StepClock()
    engine = make_engine(tmp_path, clock=clock, profiles_dir=write_profiles(tmp_path / "profiles"))
    finished_session(engine, seed=1)
    clock.advance(days=1)
    finished_session(engine, ["自注意力 softmax(QK^T/√d_k)V", "LoRA 低秩分解 BA，冻结原权重"], seed=2)
    app, _ = make_app(tmp_path, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await booted(pilot)
        await pilot.press("t")
        await wait_for(pilot, lambda: name(app) == "StatsScreen", what="stats")
        assert app.screen.query_one("#mastery", DataTable).row_count == len(engine.weak_topics())
        assert "已答 4 题" in screen_text(app)
        assert_no_overlap(app)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_every_screen_fits_without_overlap(tmp_path: Path, size: tuple[int, int]) -> None:
    engine = make_engine(tmp_path, profiles_dir=write_profiles(tmp_path / "profiles"))
    session_id = finished_session(engine)
    engine.start("general", seed=9)  # an interrupted one on the home screen
    app, _ = make_app(tmp_path, engine)
    async with app.run_test(size=size) as pilot:
        await booted(pilot)
        assert_no_overlap(app)
        for key, screen in [("d", "DrillScreen"), ("r", "ReviewScreen"), ("t", "StatsScreen"), ("s", "SettingsScreen")]:
            await pilot.press(key)
            await wait_for(pilot, lambda screen=screen: name(app) == screen, what=screen)
            assert_no_overlap(app)
            await pilot.press("escape")
            await wait_for(pilot, lambda: name(app) == "HomeScreen", what="home")
        from tui.screens.grade import GradeScreen  # noqa: PLC0415
        from tui.screens.summary import SummaryScreen  # noqa: PLC0415

        await app.push_screen(SummaryScreen(session_id))
        await pilot.pause()
        assert_no_overlap(app)
        turns = [t.turn_id for t in engine.summary(session_id).turns]
        await app.push_screen(GradeScreen(turns))
        await pilot.pause()
        assert_no_overlap(app)
        app.action_home()
        await pilot.press("enter")
        await wait_for(pilot, lambda: name(app) == "InterviewScreen", what="the interview")
        app.screen.action_hint()
        await pilot.pause()
        assert_no_overlap(app)


async def test_a_broken_database_shows_a_message_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "interviewer.db"
    bad.write_bytes(b"this is not a sqlite file at all" * 100)
    app = InterviewerApp(engine_factory=lambda: Engine(bad, bank=shared_bank()), settings_path=tmp_path / "config.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.boot_error is not None, what="the boot error")
        await pilot.pause()
        assert name(app) == "ErrorScreen"
        text = screen_text(app)
        assert "数据库无法使用" in text and "not an interviewer" in text and "Traceback" not in text
        assert str(bad) in app.boot_error
        await pilot.press("r")  # nothing else opens while there is no engine
        assert name(app) == "ErrorScreen"
        await pilot.press("q")
    assert app.return_code == 1


def test_importing_the_app_stays_light() -> None:
    """The first frame needs only Textual: no engine, SQLAlchemy, plotting or model libraries at import."""
    probe = "import sys, tui.app; print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {'sqlalchemy','sqlmodel','torch','transformers','openai','textual_plotext','plotext','interviewer'})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == ""
