"""Stats: weak-topic ranking (bar chart), score trend (line chart), mastery per topic with missed keypoints.

textual-plotext is imported here only, so its cost is paid when this screen first opens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual_plotext import PlotextPlot

from interviewer.engine.models import Stats

if TYPE_CHECKING:
    from tui.app import InterviewerApp


class StatsScreen(Screen[None]):
    BINDINGS = [Binding("escape", "close", "返回"), Binding("d", "app.drill", "复习")]

    app: InterviewerApp  # type: ignore[assignment]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="stats-body"):
            yield Static("", id="stats-head")
            with Horizontal(id="charts"):
                yield PlotextPlot(id="weak-chart")
                yield PlotextPlot(id="trend-chart")
            yield DataTable(id="mastery", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "统计"
        table = self.query_one("#mastery", DataTable)
        table.add_column("#", key="rank", width=2)
        table.add_column("主题", key="topic", width=14)
        table.add_column("掌握度", key="mastery", width=6)
        table.add_column("次数", key="attempts", width=4)
        table.add_column("最近", key="last", width=5)
        table.add_column("常漏要点", key="missed")
        self.reload()
        table.focus()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        engine = self.app.engine
        assert engine is not None
        try:
            stats = engine.stats()
        except Exception as exc:  # noqa: BLE001
            self.app.show_error(exc)
            return
        self.stats = stats
        head = Text()
        mean = f"{stats.mean_score:.1f}" if stats.mean_score is not None else "—"
        head.append(f"已答 {stats.answers} 题（已评分 {stats.graded}）· {stats.sessions} 次练习 · 平均 {mean} 分 · 待复习 {stats.due_cards} 题", style="bold")
        if not stats.graded:
            head.append("\n还没有评分记录：答几道题后这里会出现薄弱主题和分数趋势。", style="dim")
        self.query_one("#stats-head", Static).update(head)
        self._weak_chart(stats)
        self._trend_chart(stats)
        table = self.query_one("#mastery", DataTable)
        table.clear()
        for rank, m in enumerate(stats.weak_topics, start=1):
            last = f"{m.last_seen.astimezone():%m-%d}" if m.last_seen else "—"
            style = "bold red" if m.mastery < 4 else "yellow" if m.mastery < 7 else "green"
            missed = "；".join(m.missed_keypoints[:2]) or "—"
            table.add_row(str(rank), m.topic_name, Text(f"{m.mastery:.1f}", style=style), str(m.attempts), last, missed, key=m.topic)

    def _weak_chart(self, stats: Stats) -> None:
        plot = self.query_one("#weak-chart", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        weakest = stats.weak_topics[:10]
        plt.title("mastery, weakest first (#)")
        if weakest:
            # Rank numbers, not the Chinese names: plotext counts one column per character;
            # the table below names each rank.
            plt.bar([str(i) for i in range(1, len(weakest) + 1)], [m.mastery for m in weakest], width=0.5)
            plt.ylim(0, 10)
        plot.refresh()

    def _trend_chart(self, stats: Stats) -> None:
        plot = self.query_one("#trend-chart", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        points = stats.trend[-30:]
        plt.title("daily mean score")
        if points:
            xs = list(range(1, len(points) + 1))
            plt.plot(xs, [p.mean_score for p in points], marker="braille")
            plt.scatter(xs, [p.mean_score for p in points])
            step = max(1, len(points) // 4)
            ticks = xs[::step]
            plt.xticks(ticks, [points[i - 1].day[5:] for i in ticks])
            plt.ylim(0, 10)
        plot.refresh()

    def action_close(self) -> None:
        self.app.pop_screen()
