"""The interview: one question at a time, timed; answers are saved at once and graded in the background.

After a submit the answer is committed (engine.submit), its grading starts in a
thread worker and the next question appears immediately. Grades come back on the
app's ``grades`` signal; a follow-up (追问) created by a grade is asked next. When
the plan is done the screen waits for the last grades (one may add a follow-up),
then finishes the round and shows the summary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TextArea

from interviewer.engine.models import QuestionView, SessionInfo, TurnResult
from tui.render import question_meta, score_text
from tui.widgets import ConfirmScreen, Countdown

if TYPE_CHECKING:
    from tui.app import InterviewerApp


def label_of(q: QuestionView | TurnResult) -> str:
    return f"{q.number}·追问" if q.is_followup else str(q.number)


class InterviewScreen(Screen[None]):
    is_interview = True  # the command palette offers the round's own actions here

    BINDINGS = [
        Binding("ctrl+s", "submit", "提交", priority=True),
        Binding("ctrl+t", "hint", "提示(扣分)", priority=True),
        Binding("ctrl+n", "skip", "跳过", priority=True),
        Binding("ctrl+r", "end_round", "结束本轮", priority=True),
    ]

    app: InterviewerApp  # type: ignore[assignment]

    def __init__(self, session: SessionInfo) -> None:
        super().__init__()
        self.session = session
        self.current: QuestionView | None = None
        self.waiting = False  # the plan is done; waiting for grades that may add a follow-up
        self.last_grade: TurnResult | None = None
        self.finished = False
        self.hints: list[str] = []
        self.note = ""  # one line about the last action, shown in the status line

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="question-bar"):
            yield Static("", id="question-meta")
            yield Countdown(self.app.monotonic, id="countdown")
        with VerticalScroll(id="question-box"):
            yield Static("", id="interviewer-line")
            yield Static("", id="question-text")
        yield Static("", id="hint")
        yield TextArea(id="answer", soft_wrap=True, tab_behavior="indent", placeholder="在这里作答（支持中文、多行；ctrl+s 提交）")
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.session.profile_name} · 评分器 {self.session.judge}"
        self.query_one("#hint").display = False
        self.app.grades.subscribe(self, self.on_grade)
        self.set_interval(1.0, self._check_waiting)
        self.next_question()

    # ------------------------------------------------------------------ asking
    def next_question(self) -> None:
        engine = self.app.engine
        assert engine is not None
        try:
            question = engine.next_question(self.session.id)
        except Exception as exc:  # noqa: BLE001
            self.app.show_error(exc)
            return
        if question is not None:
            self.show(question)
            return
        self.current = None
        self.query_one(Countdown).stop()
        if self.app.grading_labels(self.session.id):
            self.waiting = True
            answer = self.query_one("#answer", TextArea)
            answer.text = ""
            answer.disabled = True
            self.query_one("#question-meta", Static).update(Text("本轮题目已答完", style="bold"))
            self.query_one("#interviewer-line", Static).update(Text("面试官：稍等，我看一下你刚才的回答…", style="italic"))
            self.query_one("#question-text", Static).update("")
            self.query_one("#countdown", Countdown).update("")
            self.update_status()
            return
        self.finish()

    def show(self, q: QuestionView) -> None:
        self.current = q
        self.waiting = False
        self.query_one("#question-meta", Static).update(question_meta(q))
        self.query_one("#interviewer-line", Static).update(Text(f"面试官：{q.interviewer_line}", style="italic"))
        self.query_one("#question-text", Static).update(Text(q.text, style="bold"))
        self.query_one("#question-box", VerticalScroll).scroll_home(animate=False)
        self.hints = []
        hint = self.query_one("#hint", Static)
        hint.update("")
        hint.display = False
        answer = self.query_one("#answer", TextArea)
        answer.disabled = False
        answer.text = ""
        answer.focus()
        self.query_one(Countdown).start(q.time_limit_s)
        self.update_status()

    # ------------------------------------------------------------------ answering
    def action_submit(self, timed_out: bool = False) -> None:
        q = self.current
        if q is None:
            return
        answer = self.query_one("#answer", TextArea).text
        if not answer.strip() and not timed_out:
            self.app.notify("回答是空的：写点什么再提交，或按 ctrl+n 跳过。", severity="warning")
            return
        countdown = self.query_one(Countdown)
        taken = countdown.elapsed
        countdown.stop()
        engine = self.app.engine
        assert engine is not None
        try:
            engine.submit(q.turn_id, answer, time_taken_s=round(taken, 2), timed_out=timed_out)
        except Exception as exc:  # noqa: BLE001 - nothing was saved: keep the answer on screen
            self.app.show_error(exc, prefix="回答没有保存：")
            countdown.start(max(1.0, countdown.remaining))
            return
        self.current = None
        self.note = ""
        if timed_out:
            self.app.notify(f"第 {label_of(q)} 题时间到：已自动提交", severity="warning", timeout=4)
        self.app.grade_turn(q.turn_id, self.session.id, label_of(q))
        self.next_question()

    def on_countdown_expired(self, _event: Countdown.Expired) -> None:
        if self.current is not None:
            self.action_submit(timed_out=True)

    def action_skip(self) -> None:
        q = self.current
        if q is None:
            return
        countdown = self.query_one(Countdown)
        engine = self.app.engine
        assert engine is not None
        try:
            engine.skip(q.turn_id, time_taken_s=round(countdown.elapsed, 2))
        except Exception as exc:  # noqa: BLE001
            self.app.show_error(exc)
            return
        countdown.stop()
        self.current = None
        self.note = f"第 {label_of(q)} 题已跳过（0 分）。"
        self.next_question()

    def action_hint(self) -> None:
        q = self.current
        if q is None:
            return
        engine = self.app.engine
        assert engine is not None
        try:
            text = engine.hint(q.turn_id)
        except Exception as exc:  # noqa: BLE001
            self.app.show_error(exc, severity="warning")
            return
        self.hints.append(text)
        hint = self.query_one("#hint", Static)
        hint.update(Text("\n".join(self.hints), style="yellow"))
        hint.display = True
        self.update_status()

    def action_end_round(self) -> None:
        def done(yes: bool | None) -> None:
            if yes:
                self.finish()

        answered = "当前这题还没提交，结束后不计入。" if self.current else ""
        self.app.push_screen(ConfirmScreen(f"结束本轮面试？{answered}已提交的回答都会保留并继续评分。"), done)

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.current = None
        self.query_one(Countdown).stop()
        engine = self.app.engine
        assert engine is not None
        try:
            engine.finish(self.session.id)
        except Exception as exc:  # noqa: BLE001
            self.app.show_error(exc)
            self.finished = False
            return
        from tui.screens.summary import SummaryScreen  # noqa: PLC0415

        self.app.switch_screen(SummaryScreen(self.session.id, end_of_round=True))

    # ------------------------------------------------------------------ grades arriving
    def on_grade(self, result: TurnResult) -> None:
        if result.session_id != self.session.id or self.finished:
            return
        self.last_grade = result
        if self.waiting and not self.app.grading_labels(self.session.id):
            self.next_question()  # a follow-up may have been added; otherwise the round ends
            return
        self.update_status()

    def _check_waiting(self) -> None:
        """A safety net: never stay on "waiting for grades" once no grading is left."""
        if self.waiting and not self.finished and not self.app.grading_labels(self.session.id):
            self.next_question()

    def update_status(self) -> None:
        status = Text()
        if self.note:
            status.append(self.note + " ", style="dim")
        grading = self.app.grading_labels(self.session.id)
        if grading:
            status.append(f"第 {'、'.join(grading)} 题评分中… ", style="cyan")
        if self.last_grade is not None:
            status.append(f"第 {label_of(self.last_grade)} 题：")
            status.append_text(score_text(self.last_grade))
            status.append("  ")
        if self.current is not None and (self.hints or self.current.hints_used):
            status.append(f"本题已用提示 {max(len(self.hints), self.current.hints_used)} 次（扣分）", style="yellow")
        if not status.plain:
            status.append("ctrl+s 提交 · ctrl+t 提示（扣分）· ctrl+n 跳过 · ctrl+r 结束本轮", style="dim")
        self.query_one("#status", Static).update(status)
