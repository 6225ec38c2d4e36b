"""One turn's grade: score and warnings, keypoints with their verdicts, the answer with the quoted
evidence highlighted, misconceptions, feedback and the reference answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from interviewer.engine.models import TurnResult
from tui.render import grade_renderable

if TYPE_CHECKING:
    from tui.app import InterviewerApp


class GradeScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "close", "返回"),
        Binding("n,right", "move(1)", "下一题"),
        Binding("p,left", "move(-1)", "上一题"),
    ]

    app: InterviewerApp  # type: ignore[assignment]

    def __init__(self, turn_ids: list[str], index: int = 0) -> None:
        super().__init__()
        self.turn_ids = turn_ids
        self.index = index
        self.turn: TurnResult | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="grade-scroll"):
            yield Static("", id="grade")
        yield Footer()

    def on_mount(self) -> None:
        self.app.grades.subscribe(self, self.on_grade)
        self.show()
        self.query_one("#grade-scroll").focus()

    def show(self) -> None:
        engine = self.app.engine
        assert engine is not None
        try:
            self.turn = engine.turn(self.turn_ids[self.index])
        except Exception as exc:  # noqa: BLE001
            self.app.show_error(exc)
            return
        self.sub_title = f"评分详情 · {self.index + 1}/{len(self.turn_ids)}"
        self.query_one("#grade", Static).update(grade_renderable(self.turn))

    def on_grade(self, result: TurnResult) -> None:
        if self.turn is not None and result.turn_id == self.turn.turn_id:
            self.show()

    def action_move(self, step: int) -> None:
        index = self.index + step
        if 0 <= index < len(self.turn_ids):
            self.index = index
            self.show()
            self.query_one("#grade-scroll", VerticalScroll).scroll_home(animate=False)

    def action_close(self) -> None:
        self.app.pop_screen()
