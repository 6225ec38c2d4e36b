"""An API key reaches the judge's HTTP client and nothing else: not the database, transcripts, settings or output."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from interviewer.bank.loader import load_bank
from interviewer.config import JudgeSettings, Settings, load_settings, save_settings
from interviewer.engine import Engine

SECRET = "sk-test-DO-NOT-STORE-7f3a9c1e5b2d"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def every_file(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_api_key_is_never_written_anywhere(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("INTERVIEWER_API_KEY", SECRET)
    monkeypatch.setenv("INTERVIEWER_CONFIG_DIR", str(tmp_path / "config"))
    judge = JudgeSettings(backend="openai", base_url=f"http://127.0.0.1:{closed_port()}/v1", model="judge-model", timeout_s=2, max_retries=0)
    settings = Settings(judge=judge, db_url=f"sqlite:///{tmp_path / 'data' / 'history.db'}")
    assert judge.api_key() == SECRET  # the key is really in play
    save_settings(settings)
    assert load_settings() == settings

    engine = Engine(settings=settings, bank=load_bank())
    info = engine.start("doubao", seed=1)
    q = engine.next_question(info.id)
    engine.submit(q.turn_id, "RoPE 把位置编码成旋转，q 和 k 旋转后内积只依赖相对位置。")
    result = engine.grade(q.turn_id)
    assert "fallback" in result.flags and result.fallback_from == "openai"  # the dead server was really tried
    exports = engine.export(info.id, "md") + engine.export(info.id, "json")
    engine.finish(info.id)
    engine.close()

    assert SECRET not in exports
    files = every_file(tmp_path)
    assert any(p.name == "history.db" for p in files) and any(p.name == "config.yaml" for p in files)
    for path, data in files.items():
        assert SECRET.encode() not in data, f"the API key was written to {path}"

    env = dict(os.environ, INTERVIEWER_DB=str(tmp_path / "data" / "cli.db"), PYTHONUNBUFFERED="1")
    cli = str(Path(sys.executable).parent / "interviewer")
    run = subprocess.run([cli, "interview", "--profile", "general", "--seed", "2"], input="注意力是 softmax(QK^T/sqrt(d_k))V\n.\n", capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "openai" in run.stdout and SECRET not in run.stdout + run.stderr
    for path, data in every_file(tmp_path).items():
        assert SECRET.encode() not in data, f"the API key was written to {path}"
