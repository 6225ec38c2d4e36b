"""The end of a round (and a past session's transcript): per-question scores, time, weak topics, what to drill.

Scores still being graded show "评分中…" and fill in as the grades arrive.
Enter opens a turn's grade view; e / j export; g grades what is still waiting.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from interviewer.engine.models import SessionSummary, TurnResult
from tui.render import clock, score_text, turn_label
from tui.widgets import PathScreen

if TYPE_CHECKING:
    from tui.app import InterviewerApp

REASONS = {"due": "到期", "weak_topic": "薄弱", "unseen": "新题"}


def export_default(app: InterviewerApp, summary: SessionSummary, fmt: str) -> str:
    folder = app.export_dir or Path.cwd()
    day = summary.session.started_at.astimezone().strftime("%Y%m%d")
    return str(folder / f"interview-{day}-{summary.session.id}.{fmt}")


def export_session(app: InterviewerApp, session_id: str, fmt: str) -> None:
    """Ask for a path (default: the current folder), write the export there, say where."""
    assert app.engine is not None
    engine = app.engine
    try:
        summary = engine.summary(session_id)
    except Exception as exc:  # noqa: BLE001
        app.show_error(exc)
        return

    def write(answer: str | None) -> None:
        if not answer:
            return
        path = Path(answer).expanduser()
        if path.is_dir():
            path = path / Path(export_default(app, summary, fmt)).name
        try:
            text = engine.export(session_id, fmt)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except Exception as exc:  # noqa: BLE001
            app.notify(f"导出失败：{exc}", severity="error")
            return
        app.notify(f"已导出到 {path.resolve()}", title="导出完成", timeout=6)

    name = "Markdown" if fmt == "md" else "JSON"
    app.push_screen(PathScreen(f"导出为 {name}：文件路径（可改）", export_default(app, summary, fmt)), write)


class SummaryScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,h", "close", "返回"),
        Binding("enter", "open_turn", "评分详情", show=False),
        Binding("d", "drill", "复习薄弱点"),
        Binding("e", "export('md')", "导出 md"),
        Binding("j", "export('json')", "导出 json"),
        Binding("g", "grade_waiting", "补评"),
    ]

    app: InterviewerApp  # type: ignore[assignment]

    def __init__(self, session_id: str, *, end_of_round: bool = False) -> None:
        super().__init__()
        self.session_id = session_id
        self.end_of_round = end_of_round
        self.summary: SessionSummary | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="summary-body"):
            yield Static("", id="summary-head")
            yield DataTable(id="turns", cursor_type="row", zebra_stripes=True)
            yield Static("", id="summary-foot")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#turns", DataTable)
        table.add_column("题", key="n", width=6)
        table.add_column("主题", key="topic", width=14)
        table.add_column("得分", key="score", width=14)
        table.add_column("用时", key="time", width=11)
        table.add_column("题目", key="q")
        self.app.grades.subscribe(self, self.on_grade)
        self.reload()
        table.focus()

    def reload(self) -> None:
        engine = self.app.engine
        assert engine is not None
        try:
            self.summary = summary = engine.summary(self.session_id)
        except Exception as exc:  # noqa: BLE001
            self.app.show_error(exc)
            return
        info = summary.session
        self.sub_title = ("本轮总结 · " if self.end_of_round else "面试记录 · ") + info.profile_name
        head = Text()
        head.append("本轮总结" if self.end_of_round else "面试记录", style="bold")
        head.append(f" · {info.profile_name} · {info.started_at.astimezone():%Y-%m-%d %H:%M} · 评分器 {info.judge}\n")
        graded = [t.score for t in summary.turns if t.score is not None and not t.is_followup]
        mean = f"{sum(graded) / len(graded):.1f}" if graded else "—"
        head.append(f"已答 {info.answered}/{info.question_count} 题 · 平均 {mean} 分 · 用时 {clock(summary.time_used_s)}")
        waiting = sum(1 for t in summary.turns if t.state.value == "pending")
        if waiting:
            head.append(f" · {waiting} 题评分中…", style="cyan")
        ungraded = sum(1 for t in summary.turns if t.state.value == "ungraded")
        if ungraded:
            head.append(f" · {ungraded} 题未评分（g 补评）", style="bold red")
        self.query_one("#summary-head", Static).update(head)
        self._fill_table(summary.turns)
        self.query_one("#summary-foot", Static).update(self._foot(summary))

    def _fill_table(self, turns: list[TurnResult]) -> None:
        table = self.query_one("#turns", DataTable)
        row = table.cursor_row
        table.clear()
        for t in turns:
            question = t.question_text if len(t.question_text) <= 60 else t.question_text[:59] + "…"
            table.add_row(turn_label(t), t.topic_name, score_text(t), f"{clock(t.time_taken_s)}/{clock(t.time_limit_s)}", question, key=t.turn_id)
        if turns:
            table.move_cursor(row=min(row, len(turns) - 1))

    def _foot(self, summary: SessionSummary) -> Text:
        foot = Text()
        if summary.weakest_topics:
            foot.append("最薄弱：", style="bold")
            foot.append("、".join(f"{m.topic_name} {m.mastery:.1f}" for m in summary.weakest_topics))
            foot.append("\n")
        if summary.drill_next:
            foot.append("接下来复习：", style="bold")
            foot.append("；".join(f"[{REASONS.get(d.reason, d.reason)}] {d.text[:24]}{'…' if len(d.text) > 24 else ''}" for d in summary.drill_next[:3]))
            foot.append("（d 开始）\n")
        foot.append("回车查看评分详情 · e/j 导出 · esc 返回", style="dim")
        return foot

    def on_grade(self, result: TurnResult) -> None:
        if result.session_id == self.session_id:
            self.reload()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open(event.row_key.value)

    def action_open_turn(self) -> None:
        table = self.query_one("#turns", DataTable)
        if table.row_count:
            self._open(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def _open(self, turn_id: str | None) -> None:
        if turn_id is None or self.summary is None:
            return
        from tui.screens.grade import GradeScreen  # noqa: PLC0415

        ids = [t.turn_id for t in self.summary.turns]
        self.app.push_screen(GradeScreen(ids, ids.index(turn_id)))

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_drill(self) -> None:
        topics = [m.topic for m in self.summary.weakest_topics] if self.summary else []
        self.app.start_drill(topic=topics[0] if topics else None)

    def action_export(self, fmt: str) -> None:
        export_session(self.app, self.session_id, fmt)

    def action_grade_waiting(self) -> None:
        started = self.app.grade_waiting(self.session_id)
        self.app.notify(f"开始补评 {started} 题。" if started else "没有待评分的回答。", timeout=3)
        if started:
            self.reload()
