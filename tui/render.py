"""Rich renderables for grades, scores and questions (pure functions, no widgets).

Imported only after the engine is loaded (it needs the engine's plain models).
"""

from __future__ import annotations

import unicodedata

from rich.console import Group
from rich.table import Table
from rich.text import Text

from interviewer.engine.export import badges
from interviewer.engine.models import QuestionView, SessionInfo, TurnResult

KIND_NAMES = {"concept": "概念", "formula": "公式推导", "code": "代码", "practical": "实战", "open": "开放"}
STATUS = {
    "covered": ("✔ 覆盖", "bold green", "black on green"),
    "partial": ("◐ 部分", "bold yellow", "black on yellow"),
    "missing": ("✘ 缺失", "bold red", ""),
}
MISCONCEPTION_STYLE = "white on red"
STATE_NAMES = {"pending": "评分中…", "graded": "已评分", "ungraded": "未评分", "skipped": "跳过"}


def stars(difficulty: int) -> str:
    return "★" * difficulty + "☆" * max(0, 3 - difficulty)


def clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def question_meta(q: QuestionView) -> Text:
    """One line: 第 2/5 题 · 注意力机制 / MQA·GQA · 概念 · 难度 ★★☆ [追问]."""
    text = Text()
    text.append(f"第 {q.number}/{q.total} 题", style="bold")
    if q.is_followup:
        text.append(" 追问 ", style="bold black on magenta")
    text.append(f" · {q.topic_name} / {q.subtopic_name} · {KIND_NAMES.get(q.kind, q.kind)} · ")
    text.append(f"难度 {stars(q.difficulty)}", style="yellow")
    return text


def turn_label(turn: TurnResult) -> str:
    return f"{turn.number}·追问" if turn.is_followup else str(turn.number)


def score_text(turn: TurnResult) -> Text:
    """The score as it should be read in a table: a number, or why there is none."""
    state = turn.state.value
    if state == "skipped":
        return Text("0（跳过）", style="dim")
    if state == "pending":
        return Text("评分中…", style="italic cyan")
    if state == "ungraded" or turn.score is None:
        return Text("未评分", style="bold red")
    style = "bold green" if turn.score >= 7 else "bold yellow" if turn.score >= 4 else "bold red"
    text = Text(f"{turn.score:.1f}", style=style)
    if "fallback" in turn.flags:
        text.append(" 回退估计", style="magenta")
    elif turn.offline_estimate:
        text.append(" 离线估计", style="dim")
    if turn.timed_out:
        text.append(" ⏱", style="yellow")
    return text


def session_line(info: SessionInfo) -> str:
    started = info.started_at.astimezone().strftime("%m-%d %H:%M")
    mean = f"{info.mean_score:.1f}" if info.mean_score is not None else "—"
    return f"{started}  {info.profile_name}  已答 {info.answered}/{info.question_count}  均分 {mean}"


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def find_spans(haystack: str, needle: str) -> list[tuple[int, int]]:
    """Where a quoted evidence span occurs in the answer: exact first, then ignoring width and case."""
    needle = needle.strip()
    if not needle:
        return []
    spans = []
    start = haystack.find(needle)
    while start != -1:
        spans.append((start, start + len(needle)))
        start = haystack.find(needle, start + len(needle))
    if spans:
        return spans
    folded, target = _fold(haystack), _fold(needle)
    if len(folded) == len(haystack):  # offsets still line up after folding
        start = folded.find(target)
        if start != -1:
            return [(start, start + len(target))]
    return []


def highlighted_answer(turn: TurnResult) -> tuple[Text, list[str]]:
    """The answer with every quoted evidence span styled; also the quotes that could not be placed.

    The evidence quotes the judge's normalised text (``answer_graded``: NFKC, so full-width
    punctuation became ASCII). The answer as typed is shown when every quote can be placed
    in it (ignoring width and case); otherwise the normalised text is.
    """
    quotes: list[tuple[str, str]] = [(v.evidence, STATUS.get(v.status, ("", "", ""))[2]) for v in turn.verdicts if v.evidence]
    quotes += [(m.evidence, MISCONCEPTION_STYLE) for m in turn.misconceptions if m.evidence]
    quotes = [(q, style) for q, style in quotes if style]
    source = turn.answer
    if turn.answer_graded and any(not find_spans(turn.answer, q) for q, _style in quotes):
        source = turn.answer_graded
    text = Text(source or "（空）")
    unplaced: list[str] = []
    for quote, style in quotes:
        spans = find_spans(source, quote)
        if not spans:
            unplaced.append(quote)
        for start, end in spans:
            text.stylize(style, start, end)
    return text, unplaced


def verdict_table(turn: TurnResult) -> Table:
    table = Table(expand=True, show_lines=False, pad_edge=False, header_style="bold")
    table.add_column("判定", no_wrap=True, width=7)
    table.add_column("要点", ratio=3, overflow="fold")
    table.add_column("权重", no_wrap=True, justify="right", width=4)
    table.add_column("证据（原文）", ratio=2, overflow="fold")
    for v in turn.verdicts:
        label, style, quote_style = STATUS.get(v.status, (v.status, "", ""))
        evidence = Text(f"“{v.evidence}”", style=quote_style) if v.evidence else Text("—", style="dim")
        statement = Text(v.statement)
        if v.reason and v.status != "covered":
            statement.append(f"\n{v.reason}", style="dim")
        table.add_row(Text(label, style=style), statement, f"{v.weight:g}", evidence)
    return table


def grade_badges(turn: TurnResult) -> list[Text]:
    """Warnings next to the score: engine badges plus the state when there is no grade."""
    out = [Text(b, style="bold yellow") for b in badges(turn)]
    if turn.state.value == "ungraded":
        out.insert(0, Text(f"⚠ 未评分：{turn.ungraded_reason or '评分器失败'}（回答已保存，可在回顾中补评）", style="bold red"))
    elif turn.state.value == "pending":
        out.insert(0, Text("… 正在评分（回答已保存）", style="italic cyan"))
    return out


def grade_renderable(turn: TurnResult) -> Group:
    """Everything about one graded turn, top to bottom."""
    parts: list = []
    title = Text()
    title.append(f"第 {turn.number} 题{'（追问）' if turn.is_followup else ''} · {turn.topic_name}", style="bold")
    parts.append(title)
    parts.append(Text(turn.question_text))
    parts.append(Text(""))
    score = Text("得分：", style="bold")
    if turn.state.value == "graded" and turn.score is not None:
        style = "bold green" if turn.score >= 7 else "bold yellow" if turn.score >= 4 else "bold red"
        score.append(f"{turn.score:.1f}", style=style)
        score.append(" / 10")
        if turn.hint_penalty:
            score.append(f"（原始 {turn.raw_score:.1f}，提示扣 {turn.hint_penalty:g}）", style="dim")
    else:
        score.append_text(score_text(turn))
    score.append(f"   用时 {clock(turn.time_taken_s)} / 限时 {clock(turn.time_limit_s)}", style="dim")
    if turn.judge_backend:
        model = f" {turn.judge_model}" if turn.judge_model else ""
        score.append(f"   评分器 {turn.judge_backend}{model}", style="dim")
    parts.append(score)
    parts.extend(grade_badges(turn))
    parts.append(Text(""))
    parts.append(Text("你的回答（绿色=覆盖，黄色=部分，红色=误区）", style="bold underline"))
    answer, unplaced = highlighted_answer(turn)
    parts.append(answer)
    for quote in unplaced:
        parts.append(Text(f"（这段证据没能在原文中定位：“{quote}”）", style="dim"))
    if turn.verdicts:
        parts.append(Text(""))
        parts.append(Text("要点", style="bold underline"))
        parts.append(verdict_table(turn))
    if turn.misconceptions:
        parts.append(Text(""))
        parts.append(Text("误区", style="bold underline"))
        for m in turn.misconceptions:
            line = Text("✘ ", style="bold red")
            line.append(f"“{m.evidence}”", style=MISCONCEPTION_STYLE)
            line.append(f"  {m.claim} → {m.correction}（−{m.penalty:g}）")
            parts.append(line)
    if turn.feedback:
        parts.append(Text(""))
        parts.append(Text("反馈", style="bold underline"))
        parts.append(Text(turn.feedback))
    if turn.reference_answer:
        parts.append(Text(""))
        parts.append(Text("参考答案", style="bold underline"))
        parts.append(Text(turn.reference_answer.strip(), style="italic"))
    return Group(*parts)

