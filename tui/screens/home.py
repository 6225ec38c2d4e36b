"""Home: start a round (company profile + judge), continue an interrupted one, and the way to everything else.

Shown before the engine is loaded (with a loading line), so it imports no engine module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from tui.widgets import ConfirmScreen

if TYPE_CHECKING:
    from tui.app import InterviewerApp

JUDGES = [("离线匹配 offline（即时，估计）", "offline"), ("API 模型 openai", "openai"), ("本地模型 local", "local")]


def session_prompt(info) -> Text:  # noqa: ANN001 - a SessionInfo
    started = info.started_at.astimezone().strftime("%m-%d %H:%M")
    text = Text()
    text.append(f"{info.profile_name}\n", style="bold")
    text.append(f"{started} · 已答 {info.answered}/{info.question_count}", style="dim")
    if info.pending:
        text.append(f"  {info.pending} 题待评分", style="yellow")
    return text


class HomeScreen(Screen[None]):
    BINDINGS = [
        Binding("d", "app.drill", "复习"),
        Binding("r", "app.review", "回顾"),
        Binding("t", "app.stats", "统计"),
        Binding("s", "app.settings", "设置"),
        Binding("x", "abandon", "放弃所选未完成面试", show=False),
        Binding("q", "app.quit", "退出"),
    ]

    app: InterviewerApp  # type: ignore[assignment]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="home-body"):
            with Vertical(id="home-left"):
                yield Label("开始一轮面试（↑↓ 选择，回车开始）", classes="section-title")
                yield OptionList(Option("正在加载题库…", disabled=True), id="profiles")
                yield Static("", id="profile-detail")
                with Horizontal(id="judge-row"):
                    yield Label("评分器", id="judge-label")
                    yield Select(JUDGES, value="offline", allow_blank=False, compact=True, id="judge")
            with Vertical(id="home-right"):
                yield Label("未完成（回车继续 · x 放弃）", classes="section-title")
                yield OptionList(id="interrupted")
                yield Static("", id="overview")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#interrupted").display = False
        self.query_one("#home-right .section-title").display = False
        if self.app.ready:
            self.load()

    def on_screen_resume(self) -> None:
        if self.app.ready:
            self.refresh_data()

    def load(self) -> None:
        """The engine is ready: show the profiles and the current settings."""
        profiles = self.query_one("#profiles", OptionList)
        profiles.clear_options()
        for p in self.app.profiles:
            profiles.add_option(Option(Text(p.name, style="bold"), id=p.id))
        assert self.app.engine is not None
        default = self.app.engine.settings.default_profile
        ids = [p.id for p in self.app.profiles]
        profiles.highlighted = ids.index(default) if default in ids else 0
        self.query_one("#judge", Select).value = self.app.engine.settings.judge.backend
        profiles.focus()
        self.refresh_data()

    def refresh_data(self) -> None:
        engine = self.app.engine
        assert engine is not None
        try:
            interrupted = engine.interrupted()
            stats = engine.stats()
        except Exception as exc:  # noqa: BLE001 - a database problem: say so, keep the screen usable
            self.app.show_error(exc)
            return
        listing = self.query_one("#interrupted", OptionList)
        listing.clear_options()
        for info in interrupted:
            listing.add_option(Option(session_prompt(info), id=info.id))
        if interrupted:
            listing.highlighted = 0
        listing.display = bool(interrupted)
        self.query_one("#home-right .section-title", Label).display = bool(interrupted)
        overview = Text()
        if stats.answers:
            mean = f"{stats.mean_score:.1f}" if stats.mean_score is not None else "—"
            overview.append(f"已答 {stats.answers} 题 · 平均 {mean} 分 · {stats.sessions} 次练习\n")
        else:
            overview.append("还没有练习记录：从左边选一家公司开始第一轮吧。\n")
        overview.append(f"待复习 {stats.due_cards} 题", style="bold" if stats.due_cards else "")
        overview.append("（d 开始复习）\n")
        weak = [m for m in stats.weak_topics[:4]]
        if weak:
            overview.append("薄弱主题：", style="bold")
            overview.append("、".join(f"{m.topic_name} {m.mastery:.1f}" for m in weak))
            overview.append("\n")
        overview.append("\nd 复习 · r 回顾 · t 统计 · s 设置 · ctrl+p 命令", style="dim")
        self.query_one("#overview", Static).update(overview)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id != "profiles":
            return
        profile = next((p for p in self.app.profiles if p.id == event.option_id), None)
        detail = Text()
        if profile is not None:
            detail.append(f"{profile.question_count} 题 · {profile.total_time_s // 60} 分钟", style="bold")
            detail.append(f" · {profile.description}", style="dim")
        self.query_one("#profile-detail", Static).update(detail)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_id is None:
            return
        if event.option_list.id == "profiles":
            judge = self.query_one("#judge", Select).value
            self.app.start_round(event.option_id, judge if isinstance(judge, str) else None)
        elif event.option_list.id == "interrupted":
            self.app.resume_session(event.option_id)

    def action_abandon(self) -> None:
        listing = self.query_one("#interrupted", OptionList)
        if not listing.display or listing.highlighted is None:
            self.app.notify("先在“未完成的面试”里选中一场。")
            return
        session_id = listing.get_option_at_index(listing.highlighted).id
        if session_id is None:
            return

        def done(yes: bool | None) -> None:
            if yes:
                assert self.app.engine is not None
                self.app.engine.abandon(session_id)
                self.app.notify("已放弃该场面试（已答的回答保留在回顾里）。")
                self.refresh_data()

        self.app.push_screen(ConfirmScreen("放弃这场未完成的面试？已答的题目仍保留在回顾里。"), done)


class ErrorScreen(Screen[None]):
    """The app cannot start (database, settings, bank): the reason and the fix, no traceback."""

    BINDINGS = [Binding("q,escape,enter", "quit", "退出")]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="error-box"):
            yield Label("interviewer 无法启动", classes="section-title")
            yield Static(self.message, id="error-message")
            yield Static(
                "数据库和设置的位置可以用环境变量 INTERVIEWER_DATA_DIR / INTERVIEWER_CONFIG_DIR 指定。按 q 退出。",
                classes="dim",
            )
        yield Footer()

    def action_quit(self) -> None:
        self.app.exit(return_code=1, message=self.message)
