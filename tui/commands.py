"""The command palette (ctrl+p): start a round, drill, review, stats, settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from tui.app import InterviewerApp


class InterviewerCommands(Provider):
    """The app's main actions; during a round only the round's own actions."""

    def _commands(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        app: InterviewerApp = self.app  # type: ignore[assignment]
        screen = self.screen
        if getattr(screen, "is_interview", False):  # the interview screen (not imported here: it needs the engine)
            yield "提交回答", screen.action_submit  # type: ignore[attr-defined], "保存并评分当前回答（ctrl+s）"
            yield "提示", screen.action_hint, "显示一条提示，扣分（ctrl+t）"
            yield "跳过此题", screen.action_skip, "记 0 分（ctrl+n）"
            yield "结束本轮", screen.action_end_round, "结束并查看总结（ctrl+r）"
            return
        for profile in app.profiles:
            yield f"开始面试：{profile.name}", partial(app.start_round, profile.id, None), f"{profile.question_count} 题 · {profile.total_time_s // 60} 分钟"
        yield "复习 drill", app.action_drill, "到期题目与薄弱主题（d）"
        yield "回顾 review", app.action_review, "历史面试、评分详情与导出（r）"
        yield "统计 stats", app.action_stats, "薄弱主题排名与分数趋势（t）"
        yield "设置 settings", app.action_settings, "评分器、模型与连接测试（s）"
        yield "首页 home", app.action_home, "回到首页"

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = max(matcher.match(name), matcher.match(help_text) * 0.5)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
