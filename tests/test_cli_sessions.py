"""The plain-terminal CLI end to end, as a real process on a real SQLite file.

A whole Doubao round with a timeout, a follow-up, an export and a drill plan; a
process killed with SIGKILL between answers and in the middle of grading loses
no submitted answer.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml

from interviewer.bank.loader import load_bank
from interviewer.engine import Engine
from interviewer.engine.profiles import load_profiles, pick_questions, profiles_dir

BANK = load_bank()
CLI = str(Path(sys.executable).parent / "interviewer")
PROMPT = "输入结束即结束本轮"
GRADED = "\n  → "  # the line under each answer: score, skip or ungraded (misconception lines also hold "→")
TIME_LIMIT = 8  # seconds per question in the test profile: long enough to answer, short enough to time out


class Proc:
    """A running CLI whose output is collected by a thread; the test waits on text, never on sleeps."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(
            [CLI, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8", env=env, bufsize=1
        )
        self.chunks: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.chunks.append(line)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def wait_for(self, needle: str, count: int = 1, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.text.count(needle) >= count:
                return self.text
            if self.proc.poll() is not None and self.text.count(needle) < count:
                self.reader.join(2)
                if self.text.count(needle) >= count:
                    return self.text
                raise AssertionError(f"process exited ({self.proc.returncode}) before {needle!r} x{count}:\n{self.text[-3000:]}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {needle!r} x{count}:\n{self.text[-3000:]}")

    def wait_until(self, condition, timeout: float = 60) -> str:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self.text):
                return self.text
            if self.proc.poll() is not None:
                self.reader.join(2)
                if condition(self.text):
                    return self.text
                raise AssertionError(f"process exited ({self.proc.returncode}):\n{self.text[-3000:]}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting:\n{self.text[-3000:]}")

    def send(self, text: str) -> None:
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def answer(self, text: str) -> None:
        self.send(text.replace("\n.\n", "\n") + "\n.\n")

    def close_input(self) -> None:
        self.proc.stdin.close()

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        self.reader.join(5)
        return code


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """A copy of the shipped profiles with short time limits and a follow-up always asked."""
    pdir = tmp_path / "profiles"
    pdir.mkdir()
    for path in profiles_dir().glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["time_limits_s"] = {k: TIME_LIMIT for k in data["time_limits_s"]}
        data["total_time_s"] = 3600
        data["followups"] = {"probability": 1.0, "max_per_question": 1, "max_total": 1, "min_weight": 2}
        (pdir / path.name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    env = dict(os.environ, INTERVIEWER_PROFILE_DIR=str(pdir), INTERVIEWER_DB=str(tmp_path / "history.db"), PYTHONUNBUFFERED="1", NO_COLOR="1", COLUMNS="200")
    return env


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], input=stdin, capture_output=True, text=True, encoding="utf-8", env=env, timeout=120)


def planned(env: dict[str, str], profile: str, seed: int) -> list[str]:
    profiles = load_profiles(BANK, Path(env["INTERVIEWER_PROFILE_DIR"]))
    return [q.id for q in pick_questions(profiles[profile], BANK, seed)]


def rows(db: str, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_whole_doubao_round_through_the_cli(cli_env: dict[str, str], tmp_path: Path) -> None:
    seed = 2024
    plan = planned(cli_env, "doubao", seed)
    proc = Proc(["interview", "--profile", "doubao", "--seed", str(seed), "--judge", "offline"], cli_env)
    prompts = 0
    followups = 0
    while True:
        proc.wait_until(lambda text: text.count(PROMPT) > prompts or "本轮结束" in text)
        if proc.text.count(PROMPT) == prompts:
            break
        prompts += 1
        text = proc.text
        number = int(text[text.rfind("\n[") + 2 :].split("/")[0])
        qid = plan[number - 1]
        if text.rfind("\n追问 ") > text.rfind("\n["):  # a follow-up on a missed keypoint
            followups += 1
            rubric = BANK.rubric(qid)
            keypoint = next(k for k in rubric.keypoints if k.followup and k.followup in text[text.rfind("\n追问 ") :])
            assert keypoint.weight >= 2
            proc.answer(keypoint.covered)
        elif number == 2:  # type half an answer and let the clock run out
            proc.send("只写了一半的回答，关于这个问题我想先说\n")
            proc.wait_for("时间到")
        elif number == 3:
            proc.answer(BANK.rubric(qid).reference_answer)
        else:
            proc.answer("这个我不太清楚，大概和训练有关。")
        proc.wait_for(GRADED, count=prompts)
    assert proc.wait() == 0
    assert followups == 1, proc.text

    db = cli_env["INTERVIEWER_DB"]
    sessions = json.loads(run(["sessions", "--json"], cli_env).stdout)
    assert len(sessions) == 1 and sessions[0]["status"] == "finished" and sessions[0]["answered"] == len(plan)
    sid = sessions[0]["id"]
    turns = rows(db, "SELECT question_id, is_followup, timed_out, answer, state, time_taken_s FROM turn ORDER BY seq")
    assert [t[0] for t in turns if not t[1]] == plan
    assert sum(t[1] for t in turns) == 1
    timed_out = [t for t in turns if t[2]]
    assert len(timed_out) == 1 and timed_out[0][3].startswith("只写了一半") and timed_out[0][5] >= TIME_LIMIT
    assert all(t[4] == "graded" for t in turns if t[3].strip())
    assert rows(db, "SELECT COUNT(*) FROM verdict")[0][0] >= len(plan)
    assert rows(db, "SELECT COUNT(DISTINCT turn_id) FROM judge_run")[0][0] == len(turns)
    assert rows(db, "SELECT COUNT(*) FROM review_log")[0][0] == len(plan)

    transcript = json.loads(run(["show", sid, "--json"], cli_env).stdout)
    assert [t["question_id"] for t in transcript["turns"] if not t["is_followup"]] == plan
    out = tmp_path / "round.md"
    result = run(["export", sid, "--format", "md", "--output", str(out)], cli_env)
    assert result.returncode == 0, result.stderr
    md = out.read_text(encoding="utf-8")
    assert BANK.question(plan[0]).text in md and "参考答案" in md and "超时" in md and "追问" in md

    drill = json.loads(run(["drill", "--plan", "--json"], cli_env).stdout)
    assert drill and {d["reason"] for d in drill} <= {"due", "weak_topic", "unseen"}
    stats = json.loads(run(["stats", "--json"], cli_env).stdout)
    assert stats["answers"] == len(plan) and stats["weak_topics"]


def test_cli_errors_are_clear(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run(["sessions", "--db", str(tmp_path / "none.db")], cli_env)
    assert result.returncode == 2 and "no database at" in result.stderr
    result = run(["interview", "--profile", "nope"], cli_env, stdin="")
    assert result.returncode == 2 and "unknown profile 'nope'" in result.stderr
    result = run(["show", "deadbeef"], cli_env)
    assert result.returncode == 2 and "no session 'deadbeef'" in result.stderr
    bad = tmp_path / "answers.txt"
    bad.write_bytes(b"\xff\xfe\x00binary")
    result = run(["interview", "--answers", str(bad)], cli_env)
    assert result.returncode == 2 and "not UTF-8" in result.stderr
    result = run(["interview", "--answers", str(tmp_path / "missing.txt")], cli_env)
    assert result.returncode == 2 and "cannot read the answer file" in result.stderr


def test_answers_from_a_file_and_end_of_input_end_the_round(cli_env: dict[str, str], tmp_path: Path) -> None:
    answers = tmp_path / "answers.txt"
    answers.write_text("第一题的回答\n多行也可以\n.\n第二题的回答\n", encoding="utf-8")
    result = run(["interview", "--profile", "general", "--seed", "1", "--answers", str(answers)], cli_env)
    assert result.returncode == 0, result.stderr
    stored = rows(cli_env["INTERVIEWER_DB"], "SELECT answer FROM turn WHERE answer IS NOT NULL ORDER BY seq")
    assert [a[0] for a in stored][:2] == ["第一题的回答\n多行也可以", "第二题的回答"]


def test_kill_9_between_answers_loses_nothing_and_the_round_resumes(cli_env: dict[str, str]) -> None:
    seed = 77
    plan = planned(cli_env, "iflytek", seed)
    proc = Proc(["interview", "--profile", "iflytek", "--seed", str(seed)], cli_env)
    for number in (1, 2):
        proc.wait_for(f"[{number}/{len(plan)}]")
        proc.answer(BANK.rubric(plan[number - 1]).reference_answer)
        proc.wait_for(GRADED, count=number)
    proc.wait_for(f"[3/{len(plan)}]")
    proc.proc.send_signal(signal.SIGKILL)
    proc.wait()

    engine = Engine(cli_env["INTERVIEWER_DB"], bank=BANK)
    [interrupted] = engine.interrupted()
    assert interrupted.answered == 2 and interrupted.pending == 0
    engine.close()
    rest = "".join(f"{BANK.rubric(qid).reference_answer}\n.\n" for qid in plan[2:]) + "够了\n.\n" * 3
    result = run(["resume", interrupted.id], cli_env, stdin=rest)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[3/" in result.stdout  # the question that was open when killed is asked again
    sessions = json.loads(run(["sessions", "--json"], cli_env).stdout)
    assert sessions[0]["status"] == "finished" and sessions[0]["answered"] == len(plan)
    assert rows(cli_env["INTERVIEWER_DB"], "PRAGMA integrity_check")[0][0] == "ok"


KILL_MID_GRADE = textwrap.dedent(
    """
    import sys, time
    from interviewer.engine import Engine
    from interviewer.judges.offline import OfflineJudge

    class SlowJudge(OfflineJudge):
        def grade(self, question, rubric, answer):
            print("GRADING", flush=True)
            time.sleep(600)

    engine = Engine(sys.argv[1], judge_factory=lambda name: SlowJudge())
    info = engine.start("general", seed=3)
    q = engine.next_question(info.id)
    engine.submit(q.turn_id, "被杀死之前提交的回答：注意力 softmax(QK^T/sqrt(d_k))V")
    print("SUBMITTED", info.id, q.turn_id, flush=True)
    engine.grade(q.turn_id)
    """
)


def test_kill_9_in_the_middle_of_grading_keeps_the_answer_for_regrade(tmp_path: Path) -> None:
    db = str(tmp_path / "mid.db")
    proc = subprocess.Popen([sys.executable, "-c", KILL_MID_GRADE, db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("GRADING"):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    _, session_id, turn_id = next(line for line in lines if line.startswith("SUBMITTED")).split()
    engine = Engine(db, bank=BANK)
    [interrupted] = engine.interrupted()
    assert interrupted.id == session_id and interrupted.pending == 1
    assert engine.turn(turn_id).answer.startswith("被杀死之前提交的回答")
    [graded] = engine.grade_pending(session_id)
    assert graded.turn_id == turn_id and graded.state.value == "graded"
    engine.close()


def test_repeated_kills_at_random_moments_never_corrupt_the_database(cli_env: dict[str, str]) -> None:
    answers = "".join(f"{BANK.rubric(qid).reference_answer}\n.\n" for qid in sorted(BANK.rubrics)[:40])
    seen_answers = 0
    for delay in (0.02, 0.15, 0.5):
        proc = Proc(["interview", "--profile", "general"], cli_env)
        proc.wait_for("开始：")  # the database exists from here on
        proc.send(answers)
        time.sleep(delay)  # the point is an arbitrary moment, not a condition
        proc.proc.send_signal(signal.SIGKILL)
        proc.wait()
        reported = proc.text.count(GRADED)
        stored = rows(cli_env["INTERVIEWER_DB"], "SELECT COUNT(*) FROM turn WHERE answer IS NOT NULL")[0][0]
        assert stored - seen_answers >= reported  # every answer the CLI showed a grade for is stored
        seen_answers = stored
        assert rows(cli_env["INTERVIEWER_DB"], "PRAGMA integrity_check")[0][0] == "ok"
    engine = Engine(cli_env["INTERVIEWER_DB"], bank=BANK)
    sessions = engine.sessions()
    assert len(sessions) == 3  # each killed run is either finished or left active for resume
    assert {s.status.value for s in sessions} <= {"active", "finished"}
    engine.close()
