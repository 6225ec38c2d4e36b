"""Settings: the judge backend and how to reach it; test the connection; save and apply.

The API key itself is never typed here or saved: only the name of the environment
variable that holds it (or a 0600 key file set in the config file).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pydantic import ValidationError
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from interviewer.config import JudgeSettings, Settings, save_settings
from tui.screens.home import JUDGES

if TYPE_CHECKING:
    from tui.app import InterviewerApp

FIELDS = [
    ("base_url", "Base URL（OpenAI 兼容）", "https://api.deepseek.com/v1"),
    ("model", "模型名", "deepseek-chat / qwen-plus / 本地 HF 名称"),
    ("api_key_env", "API Key 环境变量名", "INTERVIEWER_API_KEY"),
    ("local_model_path", "本地模型目录 / HF 名称", "~/models/Qwen2.5-1.5B-Instruct"),
    ("local_gguf_file", "GGUF 文件（可选）", "qwen2.5-1.5b-instruct-q4_k_m.gguf"),
]
DEVICES = [("自动 auto", "auto"), ("CPU", "cpu"), ("CUDA", "cuda")]


class SettingsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "close", "返回"),
        Binding("ctrl+s", "save", "保存并应用", priority=True),
        Binding("ctrl+t", "test", "测试连接", priority=True),
    ]

    app: InterviewerApp  # type: ignore[assignment]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="settings-form"):
            with Horizontal(classes="field"):
                yield Label("评分器", classes="field-label")
                yield Select(JUDGES, allow_blank=False, id="backend", compact=True)
            for key, label, placeholder in FIELDS:
                with Horizontal(classes="field"):
                    yield Label(label, classes="field-label")
                    yield Input(placeholder=placeholder, id=key, compact=True)
            with Horizontal(classes="field"):
                yield Label("设备", classes="field-label")
                yield Select(DEVICES, allow_blank=False, id="device", compact=True)
            yield Static("", id="key-status")
            with Horizontal(id="settings-buttons"):
                yield Button("测试连接 ^t", id="test")
                yield Button("保存并应用 ^s", variant="primary", id="save")
                yield Button("预加载模型", id="warm")
            yield Static("", id="result")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "设置"
        engine = self.app.engine
        assert engine is not None
        judge = engine.settings.judge
        self.query_one("#backend", Select).value = judge.backend
        self.query_one("#device", Select).value = judge.device if judge.device in ("auto", "cpu", "cuda") else "auto"
        for key, _label, _placeholder in FIELDS:
            value = getattr(judge, key)
            self.query_one(f"#{key}", Input).value = "" if value is None else str(value)
        self.update_key_status()
        self.query_one("#backend").focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "api_key_env":
            self.update_key_status()

    def update_key_status(self) -> None:
        name = self.query_one("#api_key_env", Input).value.strip()
        text = Text()
        if name and os.environ.get(name):
            text.append(f"✔ 环境变量 {name} 已设置（密钥不会显示或写入配置文件）", style="green")
        elif name:
            text.append(f"环境变量 {name} 未设置（只有 openai 评分器需要：export {name}=…）", style="yellow")
        self.query_one("#key-status", Static).update(text)

    def judge_settings(self) -> JudgeSettings | None:
        """The form as JudgeSettings (other fields kept), or None after showing what is wrong."""
        engine = self.app.engine
        assert engine is not None
        values = engine.settings.judge.model_dump()
        backend = self.query_one("#backend", Select).value
        device = self.query_one("#device", Select).value
        values["backend"] = backend
        values["device"] = device
        for key, _label, _placeholder in FIELDS:
            text = self.query_one(f"#{key}", Input).value.strip()
            values[key] = text or (None if key != "api_key_env" else "INTERVIEWER_API_KEY")
        try:
            return JudgeSettings.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            self.show_result(False, f"设置有误：{problems}")
            return None

    def show_result(self, ok: bool, message: str) -> None:
        if not self.is_mounted:  # a connection test can outlive the screen
            return
        self.query_one("#result", Static).update(Text(("✔ " if ok else "✘ ") + message, style="bold green" if ok else "bold red"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"test": self.action_test, "save": self.action_save, "warm": self.action_warm}[event.button.id or "save"]()

    def action_save(self) -> None:
        judge = self.judge_settings()
        if judge is None:
            return
        engine = self.app.engine
        assert engine is not None
        settings = Settings.model_validate({**engine.settings.model_dump(), "judge": judge.model_dump()})
        try:
            path = save_settings(settings, self.app.settings_path)
        except OSError as exc:
            self.show_result(False, f"无法写入设置文件：{exc}")
            return
        engine.use_settings(settings)
        self.show_result(True, f"已保存到 {path} 并应用：新的一轮使用 {judge.backend} 评分器。")
        self.app.notify(f"设置已保存：{path}", timeout=4)

    def action_test(self) -> None:
        judge = self.judge_settings()
        if judge is None:
            return
        self.query_one("#result", Static).update(Text(f"正在测试 {judge.backend} 评分器…", style="cyan"))
        self.test_connection(judge)

    @work(thread=True, exclusive=True, group="settings-test", exit_on_error=False)
    def test_connection(self, judge: JudgeSettings) -> None:
        engine = self.app.engine
        assert engine is not None
        try:
            message = engine.test_connection(judge)
        except Exception as exc:  # noqa: BLE001 - the reason is the result
            self.app.call_from_thread(self.show_result, False, f"连接失败：{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self.show_result, True, f"连接成功：{message}")

    def action_warm(self) -> None:
        engine = self.app.engine
        assert engine is not None
        backend = engine.settings.judge.backend
        if backend == "offline":
            self.show_result(True, "离线匹配器无需加载模型。")
            return
        self.show_result(True, f"正在后台加载 {backend} 评分器（已保存的设置）…")
        self.app.warm_up(backend)

    def action_close(self) -> None:
        self.app.pop_screen()
