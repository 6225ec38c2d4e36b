"""Past sessions, filtered by profile and start date; open a transcript, export it."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, Select, Static

from tui.screens.summary import SummaryScreen, export_session

if TYPE_CHECKING:
    from tui.app import InterviewerApp

STATUS_NAMES = {"active": "未完成", "finished": "已完成", "abandoned": "已放弃"}


class ReviewScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "close", "返回"),
        Binding("enter", "open", "打开记录", show=False),
        Binding("e", "export('md')", "导出 md"),
        Binding("j", "export('json')", "导出 json"),
    ]

    app: InterviewerApp  # type: ignore[assignment]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="review-body"):
            with Horizontal(id="review-filters"):
                yield Label("面试", classes="filter-label")
                yield Select([], prompt="全部", id="profile-filter", compact=True)
                yield Label("起始日期", classes="filter-label")
                yield Input(placeholder="YYYY-MM-DD", id="since", max_length=10, compact=True)
            yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
            yield Static("", id="review-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "回顾"
        profiles = [(p.name, p.id) for p in self.app.profiles] + [("复习（drill）", "drill")]
        self.query_one("#profile-filter", Select).set_options(profiles)
        table = self.query_one("#sessions", DataTable)
        table.add_column("开始", key="start", width=11)
        table.add_column("面试", key="profile")
        table.add_column("状态", key="status", width=6)
        table.add_column("已答", key="answered", width=5)
        table.add_column("均分", key="mean", width=5)
        table.add_column("评分器", key="judge", width=8)
        self.reload()
        table.focus()

    def on_screen_resume(self) -> None:
        self.reload()

    def since(self) -> date | None:
        text = self.query_one("#since", Input).value.strip()
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None

    def reload(self) -> None:
        engine = self.app.engine
        assert engine is not None
        profile = self.query_one("#profile-filter", Select).value
        text = self.query_one("#since", Input).value.strip()
        since = self.since()
        hint = self.query_one("#review-hint", Static)
        if text and since is None:
            hint.update(Text("日期格式：YYYY-MM-DD（例如 2025-06-01）", style="bold red"))
            return
        try:
            sessions = engine.sessions(profile=profile if isinstance(profile, str) else None, since=since, limit=500)
        except Exception as exc:  # noqa: BLE001
            self.app.show_error(exc)
            return
        table = self.query_one("#sessions", DataTable)
        row = table.cursor_row
        table.clear()
        for s in sessions:
            mean = f"{s.mean_score:.1f}" if s.mean_score is not None else "—"
            answered = f"{s.answered}/{s.question_count}"
            table.add_row(f"{s.started_at.astimezone():%m-%d %H:%M}", s.profile_name, STATUS_NAMES.get(s.status.value, s.status.value), answered, mean, s.judge, key=s.id)
        if sessions:
            table.move_cursor(row=min(row, len(sessions) - 1))
        hint.update(Text(f"{len(sessions)} 场 · 回车打开记录（逐题评分详情）· e/j 导出所选 · esc 返回" if sessions else "没有符合条件的面试记录。", style="dim"))

    def on_select_changed(self, _event: Select.Changed) -> None:
        self.reload()

    def on_input_changed(self, event: Input.Changed) -> None:
        if len(event.value.strip()) in (0, 10):
            self.reload()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.reload()
        self.query_one("#sessions").focus()

    def selected(self) -> str | None:
        table = self.query_one("#sessions", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.app.push_screen(SummaryScreen(event.row_key.value))

    def action_open(self) -> None:
        session_id = self.selected()
        if session_id:
            self.app.push_screen(SummaryScreen(session_id))

    def action_export(self, fmt: str) -> None:
        session_id = self.selected()
        if session_id is None:
            self.app.notify("没有可导出的记录。", severity="warning")
            return
        export_session(self.app, session_id, fmt)

    def action_close(self) -> None:
        self.app.pop_screen()
