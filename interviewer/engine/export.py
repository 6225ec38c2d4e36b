"""Graded transcripts as Markdown (to read, share, print) or JSON (to script)."""

from __future__ import annotations

import json

from interviewer.engine.models import SessionSummary, TurnResult

STATUS_MARK = {"covered": "✅ 覆盖", "partial": "🟡 部分", "missing": "❌ 缺失"}


def to_json(summary: SessionSummary) -> str:
    return json.dumps(summary.model_dump(mode="json"), ensure_ascii=False, indent=2)


def _score(turn: TurnResult) -> str:
    if turn.state.value == "skipped":
        return "0 / 10（跳过）"
    if turn.score is None:
        return f"未评分（{turn.ungraded_reason or turn.state.value}）"
    extra = f"，提示扣 {turn.hint_penalty:g} 分" if turn.hint_penalty else ""
    return f"{turn.score:.1f} / 10{extra}"


def badges(turn: TurnResult) -> list[str]:
    """Warnings a reader must see next to a score."""
    out = []
    if "fallback" in turn.flags:
        out.append(f"⚠ {turn.fallback_from or '模型'}评分失败，以下为离线匹配估计")
    elif "offline_estimate" in turn.flags:
        out.append("⚠ 离线估计（关键词匹配，非模型评分）")
    if "injection_suspected" in turn.flags:
        out.append("⚠ 回答中有疑似操纵评分的内容，已忽略")
    if "needs_review" in turn.flags:
        out.append("⚠ 评分样本不一致，建议复核")
    if "truncated" in turn.flags:
        out.append("⚠ 回答过长，只评了前面部分")
    if turn.timed_out:
        out.append("⏱ 超时自动提交")
    return out


def to_markdown(summary: SessionSummary) -> str:
    info = summary.session
    lines = [
        f"# 面试记录 · {info.profile_name}",
        "",
        f"- 会话：`{info.id}`（{info.kind}，{info.status.value}）",
        f"- 开始：{info.started_at:%Y-%m-%d %H:%M} UTC；用时 {summary.time_used_s / 60:.1f} 分钟",
        f"- 评分：{info.judge}；平均分 {info.mean_score if info.mean_score is not None else '—'}",
        "",
    ]
    for turn in summary.turns:
        title = f"追问（第 {turn.number} 题）" if turn.is_followup else f"第 {turn.number} 题"
        lines += [f"## {title} · {turn.topic_name}", "", f"**问题**：{turn.question_text}", ""]
        lines += [f"**用时**：{turn.time_taken_s:.0f} 秒 / 限时 {turn.time_limit_s} 秒", ""]
        lines += ["**回答**：", "", *[f"> {line}" for line in (turn.answer or "（空）").splitlines() or ["（空）"]], ""]
        lines += [f"**得分**：{_score(turn)}", ""]
        lines += [f"> {b}" for b in badges(turn)]
        if badges(turn):
            lines.append("")
        if turn.verdicts:
            lines += ["| 要点 | 权重 | 判定 | 证据 |", "|---|---|---|---|"]
            for v in turn.verdicts:
                evidence = v.evidence.replace("|", "\\|").replace("\n", " ") if v.evidence else "—"
                lines.append(f"| {v.statement} | {v.weight:g} | {STATUS_MARK.get(v.status, v.status)} | {evidence} |")
            lines.append("")
        for m in turn.misconceptions:
            lines += [f"- **误区**（−{m.penalty:g}）：{m.claim} → {m.correction}（原文：“{m.evidence}”）"]
        if turn.misconceptions:
            lines.append("")
        if turn.feedback:
            lines += ["**反馈**：", "", turn.feedback, ""]
        if turn.reference_answer:
            lines += ["<details><summary>参考答案</summary>", "", turn.reference_answer.strip(), "", "</details>", ""]
    if summary.weakest_topics:
        lines += ["## 薄弱主题", ""]
        lines += [f"- {m.topic_name}：掌握度 {m.mastery:.1f}（{m.attempts} 次）" for m in summary.weakest_topics]
        lines.append("")
    return "\n".join(lines)
