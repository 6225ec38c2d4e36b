"""Drill: what is due, the weak topics, and a drill round (the interview screen fed by start_drill)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Select, Static

from tui.screens.summary import REASONS

if TYPE_CHECKING:
    from interviewer.engine import Engine
    from tui.app import InterviewerApp

COUNTS = [("3 题", 3), ("5 题", 5), ("8 题", 8), ("10 题", 10)]


def topic_choices(engine: Engine) -> list[tuple[str, str]]:
    """(name, id) of every topic of the bank, for the drill's topic filter."""
    return [(name, topic) for topic, name in engine.topics()]


class DrillScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "close", "返回"),
        Binding("s", "start", "开始复习"),
    ]

    app: InterviewerApp  # type: ignore[assignment]
    plan: list = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="drill-body"):
            with Horizontal(id="drill-filters"):
                yield Label("主题", classes="filter-label")
                yield Select([], prompt="全部主题", id="topic", compact=True)
                yield Label("公司", classes="filter-label")
                yield Select([], prompt="全部公司", id="company", compact=True)
                yield Label("题数", classes="filter-label")
                yield Select(COUNTS, value=5, allow_blank=False, id="count", compact=True)
            yield Static("", id="drill-head")
            yield DataTable(id="plan", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "复习"
        engine = self.app.engine
        assert engine is not None
        self.query_one("#topic", Select).set_options(topic_choices(engine))
        companies = [(p.name.split(" · ")[0], p.company) for p in self.app.profiles if p.company]
        self.query_one("#company", Select).set_options(companies)
        table = self.query_one("#plan", DataTable)
        table.add_column("原因", key="reason", width=4)
        table.add_column("主题", key="topic", width=14)
        table.add_column("上次", key="last", width=4)
        table.add_column("题目", key="text")
        self.reload()
        table.focus()

    def filters(self) -> tuple[str | None, str | None, int]:
        topic = self.query_one("#topic", Select).value
        company = self.query_one("#company", Select).value
        count = self.query_one("#count", Select).value
        return (topic if isinstance(topic, str) else None, company if isinstance(company, str) else None, count if isinstance(count, int) else 5)

    def reload(self) -> None:
        engine = self.app.engine
        assert engine is not None
        topic, company, count = self.filters()
        try:
            plan = engine.drill_plan(topic=topic, company=company, limit=count)
            stats = engine.stats()
        except Exception as exc:  # noqa: BLE001
            self.app.show_error(exc)
            return
        self.plan = plan
        head = Text()
        head.append(f"待复习（到期）{stats.due_cards} 题", style="bold")
        weak = stats.weak_topics[:5]
        if weak:
            head.append(" · 薄弱主题：")
            head.append("、".join(f"{m.topic_name} {m.mastery:.1f}" for m in weak))
        head.append(f"\n本次复习 {len(plan)} 题（到期优先，其次薄弱主题，再次新题）· s 开始 · esc 返回", style="dim")
        self.query_one("#drill-head", Static).update(head)
        table = self.query_one("#plan", DataTable)
        table.clear()
        for item in plan:
            last = f"{item.last_score:.1f}" if item.last_score is not None else "—"
            text = item.text if len(item.text) <= 60 else item.text[:59] + "…"
            table.add_row(REASONS.get(item.reason, item.reason), item.topic_name, last, text, key=item.question_id)

    def on_select_changed(self, _event: Select.Changed) -> None:
        self.reload()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_start()

    def action_start(self) -> None:
        if not self.plan:
            self.app.notify("这个筛选下没有可复习的题目：放宽筛选，或先答几道题。", severity="warning")
            return
        topic, company, count = self.filters()
        self.app.pop_screen()
        self.app.start_drill(topic=topic, company=company, count=count)

    def action_close(self) -> None:
        self.app.pop_screen()
