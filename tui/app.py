"""The Textual app: a mock-interview room on top of the session engine.

Startup is kept light: this module imports only Textual. The engine (SQLAlchemy,
the bank, pydantic models) is imported and built in a thread worker after the
first frame, so the home screen appears at once and fills in when the bank is
loaded. Everything slow (grading, model loading, connection tests) runs in
thread workers; results come back to the UI thread through ``call_from_thread``
and the ``grades`` signal, never by touching widgets from a thread.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.signal import Signal

from tui.commands import InterviewerCommands
from tui.styles import CSS as STYLES

if TYPE_CHECKING:
    from interviewer.engine import Engine, ProfileInfo, TurnResult

ERROR_TITLES = {
    "DatabaseError": "数据库无法使用",
    "SettingsError": "设置文件有误",
    "BankError": "题库或面试配置有误",
}


def describe_error(exc: BaseException) -> str:
    """A message for people: the error's own text (the core writes the fix into it), no traceback."""
    title = ERROR_TITLES.get(type(exc).__name__, "出错了")
    text = str(exc).strip() or type(exc).__name__
    return f"{title}：{text}"


class InterviewerApp(App[None]):
    """``engine``: an Engine to use (tests); otherwise ``engine_factory`` or the user's settings build one."""

    CSS = STYLES
    TITLE = "interviewer"
    SUB_TITLE = "大模型算法岗模拟面试"
    COMMANDS = App.COMMANDS | {InterviewerCommands}
    # Shown once, on the right of the footer (show=False keeps it out of the key list).
    BINDINGS = [Binding("ctrl+p", "command_palette", "命令", show=False, priority=True)]

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        engine_factory: Callable[[], Engine] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        settings_path: Path | None = None,
        export_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.engine: Engine | None = engine
        self._engine_factory = engine_factory
        self.monotonic = monotonic  # the countdown's clock (tests pass a fake one)
        self.settings_path = settings_path  # None: the user's config file
        self.export_dir = export_dir  # None: the current folder
        self.ready = False
        self.boot_error: str | None = None
        self.profiles: list[ProfileInfo] = []
        self.grading: dict[str, tuple[str, str]] = {}  # turn id -> (session id, question label) being graded
        self.grades: Signal[TurnResult] = Signal(self, "grades")

    # ------------------------------------------------------------------ startup
    def get_default_screen(self):  # noqa: ANN201 - Textual's signature
        from tui.screens.home import HomeScreen  # noqa: PLC0415

        return HomeScreen()

    def show_error(self, exc: BaseException, *, prefix: str = "", severity: str = "error") -> None:
        """Tell the user what went wrong (no traceback); screens report their errors through this."""
        self.notify(f"{prefix}{describe_error(exc)}", severity=severity)

    def on_mount(self) -> None:
        # Paint the home screen first, then load the engine (its imports would compete for the GIL).
        self.call_after_refresh(self._boot)

    @work(thread=True, group="boot", exit_on_error=False)
    def _boot(self) -> None:
        try:
            engine = self.engine or self._build_engine()
            profiles = engine.profiles()  # loads the bank and the profiles (the slow part)
        except Exception as exc:  # noqa: BLE001 - shown to the user, not a traceback
            self._from_thread(self._boot_failed, exc)
            return
        self._from_thread(self._booted, engine, profiles)

    def _build_engine(self) -> Engine:
        if self._engine_factory is not None:
            return self._engine_factory()
        from interviewer.config import load_settings  # noqa: PLC0415
        from interviewer.engine import Engine  # noqa: PLC0415

        return Engine(settings=load_settings(self.settings_path))

    def _from_thread(self, callback: Callable[..., Any], *args: Any) -> None:
        try:
            self.call_from_thread(callback, *args)
        except RuntimeError:  # the app closed while the worker ran: nothing left to update
            pass

    def _booted(self, engine: Engine, profiles: list[ProfileInfo]) -> None:
        self.engine = engine
        self.profiles = profiles
        self.ready = True
        from tui.screens.home import HomeScreen  # noqa: PLC0415

        for screen in self.screen_stack:
            if isinstance(screen, HomeScreen):
                screen.load()
        self._grade_left_over()

    def _grade_left_over(self) -> None:
        """Answers saved but never graded (the app was closed mid-grade) in closed sessions: grade them now.

        Interrupted (active) sessions are graded when resumed.
        """
        assert self.engine is not None
        try:
            waiting = [s for s in self.engine.sessions(limit=200) if s.pending and s.status.value != "active"]
        except Exception as exc:  # noqa: BLE001
            self.show_error(exc)
            return
        started = sum(self.grade_waiting(s.id, include_ungraded=False) for s in waiting)
        if started:
            self.notify(f"上次有 {started} 个回答没评完，正在后台补评。", timeout=4)

    def _boot_failed(self, exc: BaseException) -> None:
        from tui.screens.home import ErrorScreen  # noqa: PLC0415

        self.boot_error = describe_error(exc)
        self.push_screen(ErrorScreen(self.boot_error))

    def require_ready(self) -> bool:
        if self.ready:
            return True
        self.notify(self.boot_error or "正在加载题库，请稍候…", severity="warning" if not self.boot_error else "error")
        return False

    # ------------------------------------------------------------------ grading in the background
    def grade_turn(self, turn_id: str, session_id: str, label: str) -> None:
        """Grade a saved answer in a thread; the result is published on ``self.grades``."""
        if turn_id in self.grading:
            return
        self.grading[turn_id] = (session_id, label)
        self._grade_worker(turn_id)

    @work(thread=True, group="grading", exit_on_error=False)
    def _grade_worker(self, turn_id: str) -> None:
        assert self.engine is not None
        try:
            result = self.engine.grade(turn_id)
        except Exception as exc:  # noqa: BLE001 - the engine keeps the answer; we tell the user
            self._from_thread(self._grade_failed, turn_id, exc)
            return
        self._from_thread(self._grade_done, result)

    def _grade_done(self, result: TurnResult) -> None:
        _session, label = self.grading.pop(result.turn_id, ("", str(result.number)))
        if result.state.value == "ungraded":
            self.notify(
                f"第 {label} 题评分失败：{result.ungraded_reason or '评分器出错'}\n回答已保存（未评分），可在回顾里按 g 补评。",
                title="评分失败",
                severity="error",
                timeout=8,
            )
        elif "fallback" in result.flags:
            self.notify(f"第 {label} 题：{result.fallback_from or '模型'}评分失败，已改用离线匹配估计。", severity="warning", timeout=6)
        self.grades.publish(result)

    def _grade_failed(self, turn_id: str, exc: BaseException) -> None:
        _session, label = self.grading.pop(turn_id, ("", "?"))
        self.notify(f"第 {label} 题评分出错：{describe_error(exc)}\n回答已保存，可稍后补评。", title="评分失败", severity="error", timeout=8)
        try:
            self.grades.publish(self.engine.turn(turn_id))  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - the database itself is failing: the notification says so
            pass

    def grading_labels(self, session_id: str) -> list[str]:
        return [label for sid, label in self.grading.values() if sid == session_id]

    def grade_waiting(self, session_id: str, *, include_ungraded: bool = True) -> int:
        """Grade every answer of a session still waiting (pending after a crash, or ungraded): the count started."""
        assert self.engine is not None
        states = ("pending", "ungraded") if include_ungraded else ("pending",)
        summary = self.engine.summary(session_id)
        started = 0
        for turn in summary.turns:
            if turn.state.value in states and turn.turn_id not in self.grading:
                label = f"{turn.number}·追问" if turn.is_followup else str(turn.number)
                self.grade_turn(turn.turn_id, session_id, label)
                started += 1
        return started

    @work(thread=True, group="warmup", exclusive=True, exit_on_error=False)
    def warm_up(self, backend: str) -> None:
        """Load a model judge before the first answer needs it."""
        assert self.engine is not None
        try:
            message = self.engine.warm_up(backend)
        except Exception as exc:  # noqa: BLE001
            self._from_thread(
                self.notify, f"{backend} 评分器加载失败：{describe_error(exc)}\n回答仍会保存；评分会回退到离线估计或标为未评分。", severity="error", timeout=10
            )
            return
        self._from_thread(self.notify, message, timeout=3)

    # ------------------------------------------------------------------ navigation (also the command palette)
    def start_round(self, profile_id: str, judge: str | None = None) -> None:
        if not self.require_ready():
            return
        assert self.engine is not None
        from tui.screens.interview import InterviewScreen  # noqa: PLC0415

        try:
            info = self.engine.start(profile_id, judge=judge)
        except Exception as exc:  # noqa: BLE001
            self.show_error(exc)
            return
        if info.judge != "offline":
            self.warm_up(info.judge)
        self.push_screen(InterviewScreen(info))

    def start_drill(self, topic: str | None = None, company: str | None = None, count: int = 5) -> None:
        if not self.require_ready():
            return
        assert self.engine is not None
        from tui.screens.interview import InterviewScreen  # noqa: PLC0415

        try:
            info = self.engine.start_drill(topic=topic, company=company, count=count)
        except Exception as exc:  # noqa: BLE001
            self.show_error(exc)
            return
        self.push_screen(InterviewScreen(info))

    def resume_session(self, session_id: str) -> None:
        if not self.require_ready():
            return
        assert self.engine is not None
        from tui.screens.interview import InterviewScreen  # noqa: PLC0415

        try:
            info = self.engine.resume(session_id)
        except Exception as exc:  # noqa: BLE001
            self.show_error(exc)
            return
        if info.pending:
            self.grade_waiting(info.id)
        self.push_screen(InterviewScreen(info))

    def _open(self, name: str) -> None:
        if not self.require_ready():
            return
        from tui.screens import screen_class  # noqa: PLC0415

        cls = screen_class(name)
        if isinstance(self.screen, cls):
            return
        self.push_screen(cls())

    def action_home(self) -> None:
        from tui.screens.interview import InterviewScreen  # noqa: PLC0415

        if isinstance(self.screen, InterviewScreen):
            self.notify("面试进行中：先按 ctrl+r 结束本轮。", severity="warning")
            return
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_drill(self) -> None:
        self._open("drill")

    def action_review(self) -> None:
        self._open("review")

    def action_stats(self) -> None:
        self._open("stats")

    def action_settings(self) -> None:
        self._open("settings")


def run() -> None:
    """The `interviewer` command with no arguments."""
    app = InterviewerApp()
    # Our own loop: asyncio.run() would wait for every worker thread on exit, and a
    # model judge can take a minute. Answers are saved before grading, so an exit
    # with grading still running loses nothing: the next start grades them.
    loop = asyncio.new_event_loop()
    try:
        app.run(loop=loop)
    finally:
        waiting = len(app.grading)
        if waiting:
            print(f"还有 {waiting} 个回答在评分中：回答都已保存，下次打开时可在回顾里补评（g）。", file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(app.return_code or 0)
        loop.close()
    if app.return_code:
        sys.exit(app.return_code)
