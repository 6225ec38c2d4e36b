"""The installed `interviewer` command in a real terminal (tmux): start a general round, answer in Chinese, submit."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(90), pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (make test installs it)")]

COMMAND = Path(sys.executable).parent / "interviewer"


def capture(name: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True, check=True).stdout


def wait_screen(name: str, condition: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(name)
        if condition(screen):
            return screen
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; the terminal shows:\n{screen}")


def keys(name: str, *args: str, literal: bool = False) -> None:
    subprocess.run(["tmux", "send-keys", "-t", name, *(["-l"] if literal else []), *args], check=True)


def test_a_general_round_in_a_real_terminal(tmp_path: Path) -> None:
    assert COMMAND.exists(), f"{COMMAND} is not installed: pip install -e ."
    name = f"interviewer-test-{uuid.uuid4().hex[:8]}"
    env = [f"INTERVIEWER_DATA_DIR={tmp_path / 'data'}", f"INTERVIEWER_CONFIG_DIR={tmp_path / 'config'}", "TERM=xterm-256color", "LANG=C.UTF-8"]
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "100", "-y", "30", "env", *env, str(COMMAND)], check=True)
    try:
        wait_screen(name, lambda s: "综合练习" in s and "正在加载" not in s, "the home screen with the profiles")
        keys(name, "Enter")  # general is the default profile, highlighted
        screen = wait_screen(name, lambda s: "第 1/5 题" in s, "the first question")
        assert "⏱ 0" in screen and "面试官" in screen
        keys(name, "缩放点积注意力：softmax(QK^T/√d_k)V，除以根号 d_k 防止 softmax 饱和。", literal=True)
        wait_screen(name, lambda s: "除以根号" in s, "the typed answer in the editor")
        keys(name, "C-s")
        screen = wait_screen(name, lambda s: "第 2/5 题" in s and "第 1 题：" in s, "the next question and the grade of the first")
        assert "离线估计" in screen
        print(screen)  # shown with -s: the interview screen in a real terminal
        answers = list((tmp_path / "data").glob("*.db"))
        assert answers, "the database was not created in INTERVIEWER_DATA_DIR"
        keys(name, "C-q")  # quits at once; the round stays resumable
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(["tmux", "has-session", "-t", name], capture_output=True).returncode == 0:
            time.sleep(0.1)
        assert subprocess.run(["tmux", "has-session", "-t", name], capture_output=True).returncode != 0, "the app did not quit on ctrl+q"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
