"""CLI commands over the session engine: a plain-terminal interview, history, export, stats, drills.

The interview reads answers from stdin (or --answers FILE): an answer ends at a
line holding only ".", end of input ends the round. Each question has a
deadline; when it passes, what was typed so far is submitted as a timeout.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import IO, Optional

import typer
from rich.table import Table

from interviewer.cli import app, err, out

DbOption = typer.Option(None, "--db", help="Database file or SQLAlchemy URL (default: settings, else the user data folder).", envvar="INTERVIEWER_DB")
JudgeOption = typer.Option(None, "--judge", help="Judge backend: offline, openai or local (default: settings).")
JsonOption = typer.Option(False, "--json", help="Print JSON for scripts.")

END_OF_ANSWER = "."


def _engine(db: Optional[str], *, create: bool = True):
    from interviewer.bank.loader import BankError  # noqa: PLC0415
    from interviewer.config import SettingsError, load_settings  # noqa: PLC0415
    from interviewer.engine import DatabaseError, Engine  # noqa: PLC0415

    try:
        settings = load_settings()
        return Engine(db, settings=settings, create=create)
    except (DatabaseError, SettingsError, BankError) as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None


def _fail(exc: Exception) -> None:
    err.print(f"error: {exc}", markup=False)
    raise typer.Exit(2) from None


def _guard(call):  # noqa: ANN001, ANN202
    from interviewer.engine import DatabaseError, EngineError  # noqa: PLC0415

    try:
        return call()
    except (DatabaseError, EngineError) as exc:
        _fail(exc)


# ---------------------------------------------------------------------------- reading answers


class LineSource:
    """Lines from a stream, read by a thread so a deadline can interrupt the wait."""

    def __init__(self, stream: IO[str]):
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.closed = False
        thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        thread.start()

    def _pump(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self._queue.put(line)
        except (OSError, ValueError, UnicodeDecodeError):
            pass
        self._queue.put(None)

    def read_answer(self, deadline: float) -> tuple[str, bool, bool]:
        """(text, timed_out, end_of_input) for one answer."""
        lines: list[str] = []
        while True:
            if self.closed:
                return "\n".join(lines), False, True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "\n".join(lines), True, False
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                return "\n".join(lines), True, False
            if line is None:
                self.closed = True
                return "\n".join(lines), False, True
            line = line.rstrip("\r\n")
            if line.strip() == END_OF_ANSWER:
                return "\n".join(lines), False, False
            lines.append(line)


def _print_grade(result) -> None:  # noqa: ANN001
    from interviewer.engine.export import STATUS_MARK, badges  # noqa: PLC0415

    if result.state.value == "skipped":
        out.print("  → 跳过，0 分", markup=False)
        return
    if result.score is None:
        out.print(f"  → 未评分：{result.ungraded_reason}（回答已保存，可用 `interviewer regrade` 重新评分）", markup=False)
        return
    penalty = f"（含提示扣分 {result.hint_penalty:g}）" if result.hint_penalty else ""
    out.print(f"  → 得分 {result.score:.1f} / 10{penalty}", markup=False)
    for badge in badges(result):
        out.print(f"    {badge}", markup=False)
    for v in result.verdicts:
        evidence = f"  「{v.evidence[:60]}」" if v.evidence else ""
        out.print(f"    {STATUS_MARK.get(v.status, v.status)}  {v.statement[:70]}{evidence}", markup=False)
    for m in result.misconceptions:
        out.print(f"    ✗ 误区：{m.claim} → {m.correction}", markup=False)


def _run_round(engine, session_id: str, source: LineSource) -> None:  # noqa: ANN001
    while True:
        question = _guard(lambda: engine.next_question(session_id))
        if question is None:
            break
        tag = "追问" if question.is_followup else f"[{question.number}/{question.total}]"
        out.print("", markup=False)
        out.print(f"{tag} {question.topic_name} · {question.kind} · 难度 {question.difficulty} · 限时 {question.time_limit_s} 秒", markup=False)
        if question.interviewer_line:
            out.print(f"面试官：{question.interviewer_line}", markup=False)
        out.print(f"问题：{question.text}", markup=False)
        out.print('（输入回答，单独一行 "." 结束；输入结束即结束本轮）', markup=False)
        sys.stdout.flush()
        started = time.monotonic()
        text, timed_out, ended = source.read_answer(started + question.time_limit_s)
        taken = time.monotonic() - started
        if ended and not text.strip():
            break  # end of input before an answer: the question stays unasked in the record
        if timed_out:
            out.print("  ⏱ 时间到，已提交当前输入。", markup=False)
        _guard(lambda: engine.submit(question.turn_id, text, time_taken_s=taken, timed_out=timed_out))
        result = _guard(lambda: engine.grade(question.turn_id))
        _print_grade(result)
        if ended:
            break
    summary = _guard(lambda: engine.finish(session_id))
    _print_summary(summary)


def _print_summary(summary) -> None:  # noqa: ANN001
    info = summary.session
    out.print("", markup=False)
    out.print(f"本轮结束 · {info.profile_name} · 会话 {info.id} · 用时 {summary.time_used_s / 60:.1f} 分钟 · 平均分 {info.mean_score if info.mean_score is not None else '—'}", markup=False)
    for turn in summary.turns:
        label = f"  追问({turn.number})" if turn.is_followup else f"  第{turn.number}题"
        score = "跳过" if turn.skipped else ("未评分" if turn.score is None else f"{turn.score:.1f}")
        flag = " ⏱" if turn.timed_out else ""
        out.print(f"{label} {score:>5}{flag}  {turn.question_text[:50]}", markup=False)
    if summary.weakest_topics:
        out.print("薄弱主题：" + "，".join(f"{m.topic_name} {m.mastery:.1f}" for m in summary.weakest_topics), markup=False)
    if summary.drill_next:
        out.print("建议复习：", markup=False)
        for item in summary.drill_next:
            out.print(f"  - {item.text}（{item.topic_name}）", markup=False)
    out.print(f"查看记录：interviewer show {info.id}    导出：interviewer export {info.id} --format md", markup=False)


def _source(answers: Optional[Path]) -> LineSource:
    if answers is None:
        return LineSource(sys.stdin)
    try:
        data = answers.read_bytes()
    except OSError as exc:
        _fail(OSError(f"cannot read the answer file {answers}: {exc.strerror}"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        _fail(ValueError(f"the answer file {answers} is not UTF-8 text: save it as UTF-8"))
    import io  # noqa: PLC0415

    return LineSource(io.StringIO(text))


@app.command("interview")
def interview_cmd(
    profile: str = typer.Option("general", "--profile", "-p", help="iflytek, li_auto, doubao, compute_vendor or general."),
    judge: Optional[str] = JudgeOption,
    db: Optional[str] = DbOption,
    seed: Optional[int] = typer.Option(None, "--seed", help="Same profile + seed = same questions."),
    answers: Optional[Path] = typer.Option(None, "--answers", help="Read answers from this file instead of stdin."),
) -> None:
    """A round in the plain terminal: questions printed, answers read from stdin."""
    engine = _engine(db)
    source = _source(answers)
    for stale in _guard(engine.interrupted):
        out.print(f"（有未完成的会话 {stale.id}：{stale.profile_name}，可用 `interviewer resume {stale.id}` 继续）", markup=False)
    info = _guard(lambda: engine.start(profile, seed=seed, judge=judge))
    out.print(f"开始：{info.profile_name} · {info.question_count} 题 · 评分：{info.judge} · 会话 {info.id} · seed {info.seed}", markup=False)
    _run_round(engine, info.id, source)


@app.command("resume")
def resume_cmd(session: str = typer.Argument(..., help="Session id (or a unique prefix)."), db: Optional[str] = DbOption, answers: Optional[Path] = typer.Option(None, "--answers")) -> None:
    """Continue an interrupted round in the plain terminal (pending answers are graded first)."""
    engine = _engine(db, create=False)
    info = _guard(lambda: engine.resume(session))
    graded = _guard(lambda: engine.grade_pending(info.id))
    if graded:
        out.print(f"已为上次保存但未评分的 {len(graded)} 个回答评分。", markup=False)
    _run_round(engine, info.id, _source(answers))


@app.command("abandon")
def abandon_cmd(session: str = typer.Argument(...), db: Optional[str] = DbOption) -> None:
    """Close an interrupted round without finishing it (its answers are kept)."""
    engine = _engine(db, create=False)
    info = _guard(lambda: engine.abandon(session))
    out.print(f"会话 {info.id} 已关闭（{info.answered} 个回答保留）。", markup=False)


@app.command("drill")
def drill_cmd(
    plan: bool = typer.Option(False, "--plan", help="Only print what is due / suggested, do not start."),
    topic: Optional[str] = typer.Option(None, "--topic"),
    company: Optional[str] = typer.Option(None, "--company"),
    count: int = typer.Option(5, "--count", min=1, max=30),
    judge: Optional[str] = JudgeOption,
    db: Optional[str] = DbOption,
    as_json: bool = JsonOption,
    answers: Optional[Path] = typer.Option(None, "--answers"),
) -> None:
    """Spaced-repetition drill: due cards first, then weak topics, then unseen questions of weak topics."""
    engine = _engine(db, create=not plan)
    if plan:
        items = _guard(lambda: engine.drill_plan(topic=topic, company=company, limit=count))
        if as_json:
            sys.stdout.write(json.dumps([i.model_dump(mode="json") for i in items], ensure_ascii=False) + "\n")
            return
        if not items:
            out.print("没有需要复习的题目。", markup=False)
        reasons = {"due": "到期", "weak_topic": "薄弱主题", "unseen": "未做过"}
        for item in items:
            due = f"  到期 {item.due:%m-%d %H:%M}" if item.due and item.reason == "due" else ""
            last = f"  上次 {item.last_score:.1f}" if item.last_score is not None else ""
            out.print(f"[{reasons.get(item.reason, item.reason)}] {item.question_id}  {item.text}{last}{due}", markup=False)
        return
    source = _source(answers)
    info = _guard(lambda: engine.start_drill(topic=topic, company=company, count=count, judge=judge))
    out.print(f"开始复习 · {info.question_count} 题 · 会话 {info.id}", markup=False)
    _run_round(engine, info.id, source)


# ---------------------------------------------------------------------------- history


@app.command("sessions")
def sessions_cmd(
    profile: Optional[str] = typer.Option(None, "--profile"),
    since: Optional[str] = typer.Option(None, "--since", help="YYYY-MM-DD"),
    db: Optional[str] = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """List past sessions, newest first."""
    engine = _engine(db, create=False)
    try:
        since_date = date.fromisoformat(since) if since else None
    except ValueError:
        _fail(ValueError(f"--since {since!r} is not a date: use YYYY-MM-DD"))
    rows = _guard(lambda: engine.sessions(profile=profile, since=since_date))
    if as_json:
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False) + "\n")
        return
    table = Table(show_edge=False)
    for column in ("id", "started (UTC)", "profile", "status", "answered", "mean", "pending", "judge"):
        table.add_column(column, no_wrap=True)
    for r in rows:
        table.add_row(r.id, f"{r.started_at:%Y-%m-%d %H:%M}", r.profile, r.status.value, f"{r.answered}/{r.question_count}", "—" if r.mean_score is None else f"{r.mean_score:.1f}", str(r.pending), r.judge)
    out.print(table)


@app.command("show")
def show_cmd(session: str = typer.Argument(...), db: Optional[str] = DbOption, as_json: bool = JsonOption) -> None:
    """A graded transcript: question, answer, time, verdicts with evidence, feedback, reference."""
    engine = _engine(db, create=False)
    if as_json:
        sys.stdout.write(_guard(lambda: engine.export(session, "json")) + "\n")
    else:
        out.print(_guard(lambda: engine.export(session, "md")), markup=False)


@app.command("export")
def export_cmd(
    session: str = typer.Argument(...),
    fmt: str = typer.Option("md", "--format", help="md or json"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    db: Optional[str] = DbOption,
) -> None:
    """Export a transcript as Markdown or JSON."""
    engine = _engine(db, create=False)
    text = _guard(lambda: engine.export(session, fmt))
    if output is None:
        sys.stdout.write(text + "\n")
        return
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        _fail(OSError(f"cannot write {output}: {exc.strerror}"))
    out.print(f"wrote {output}", markup=False)


@app.command("stats")
def stats_cmd(db: Optional[str] = DbOption, as_json: bool = JsonOption) -> None:
    """Weak topics (recency-weighted mastery), score trend, drill cards due."""
    engine = _engine(db, create=False)
    stats = _guard(engine.stats)
    if as_json:
        sys.stdout.write(stats.model_dump_json() + "\n")
        return
    out.print(f"answers {stats.answers} (graded {stats.graded}) · sessions {stats.sessions} · mean {stats.mean_score if stats.mean_score is not None else '—'} · drill cards due {stats.due_cards}", markup=False)
    table = Table(title="weak topics (weakest first)", show_edge=False, title_justify="left")
    for column in ("topic", "mastery", "attempts", "most missed"):
        table.add_column(column)
    for m in stats.weak_topics:
        table.add_row(m.topic_name, f"{m.mastery:.1f}", str(m.attempts), (m.missed_keypoints[0][:50] if m.missed_keypoints else ""))
    out.print(table)
    if stats.trend:
        out.print("trend: " + "  ".join(f"{p.day[5:]} {p.mean_score:.1f}({p.answers})" for p in stats.trend[-14:]), markup=False)


@app.command("regrade")
def regrade_cmd(
    session: Optional[str] = typer.Argument(None, help="Only this session (default: all)."),
    judge: Optional[str] = JudgeOption,
    all_turns: bool = typer.Option(False, "--all", help="Regrade every answer, not only pending / ungraded / fallback ones."),
    db: Optional[str] = DbOption,
) -> None:
    """Grade again the answers that are pending, ungraded, or were graded by the offline fallback."""
    engine = _engine(db, create=False)
    results = _guard(lambda: engine.regrade(session, judge=judge, all_turns=all_turns))
    graded = sum(1 for r in results if r.score is not None and "fallback" not in r.flags)
    out.print(f"regraded {len(results)} answer(s): {graded} graded, {len(results) - graded} still ungraded or fallback", markup=False)
    for r in results:
        if r.score is None:
            out.print(f"  {r.turn_id}: {r.ungraded_reason}", markup=False)
