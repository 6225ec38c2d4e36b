"""Small widgets shared by the screens: the countdown, a yes/no dialog, a path prompt."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


def mmss(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.999))  # 0.2 s left still shows 00:01; zero only when time is up
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class Countdown(Static):
    """Time left for the current question, from a clock the app owns (frozen in snapshot tests).

    Turns to a warning in the last 30 s or 20 % of the limit (whichever is shorter)
    and posts ``Expired`` once when it reaches zero.
    """

    TICK_S = 0.25

    class Expired(Message):
        """Time is up for the question on screen."""

    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._clock = clock
        self._limit = 0.0
        self._start = 0.0
        self._running = False
        self._warned = False

    def on_mount(self) -> None:
        self.set_interval(self.TICK_S, self.tick)

    def start(self, limit_s: float) -> None:
        self._limit = float(limit_s)
        self._start = self._clock()
        self._running = True
        self._warned = False
        self.remove_class("-warning", "-expired")
        self.tick()

    def stop(self) -> None:
        self._running = False

    @property
    def elapsed(self) -> float:
        return max(0.0, self._clock() - self._start)

    @property
    def remaining(self) -> float:
        return self._limit - self.elapsed

    @property
    def warn_at(self) -> float:
        return min(30.0, 0.2 * self._limit)

    def tick(self) -> None:
        if not self._running:
            return
        remaining = self.remaining
        warning = remaining <= self.warn_at
        self.set_class(warning, "-warning")
        self.update(f"⏱ {mmss(remaining)}" + (" 快到时间了" if warning and remaining > 0 else ""))
        if warning and not self._warned and remaining > 0:
            self._warned = True
            self.app.notify(f"还剩 {int(remaining + 0.999)} 秒：到时自动提交", severity="warning", timeout=4)
        if remaining <= 0:
            self._running = False
            self.add_class("-expired")
            self.post_message(self.Expired())


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; dismisses with True for yes."""

    BINDINGS = [Binding("y", "answer(True)", "是"), Binding("n,escape", "answer(False)", "否")]

    def __init__(self, question: str, yes: str = "是 (y)", no: str = "否 (n)") -> None:
        super().__init__()
        self.question = question
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.yes, variant="primary", id="yes")
                yield Button(self.no, id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class PathScreen(ModalScreen[str | None]):
    """Ask for a file path (pre-filled); dismisses with the text, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "取消")]

    def __init__(self, title: str, default: str) -> None:
        super().__init__()
        self.title_text = title
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-question")
            yield Input(self.default, id="path")
            yield Label("回车确认 · esc 取消", classes="dim")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or self.default)

    def action_cancel(self) -> None:
        self.dismiss(None)
