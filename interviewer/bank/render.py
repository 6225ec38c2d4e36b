"""Plain-text (Markdown) rendering of a question and its rubric."""

from __future__ import annotations

from interviewer.bank.loader import Bank


def question_markdown(bank: Bank, qid: str) -> str:
    q = bank.question(qid)
    lines = [
        f"# {q.text}",
        "",
        f"- id: {q.id}",
        f"- topic: {bank.topic_name(q.topic)} / {bank.subtopic_name(q.topic, q.subtopic)} ({q.topic}.{q.subtopic})",
        f"- kind: {q.kind.value}, difficulty {q.difficulty}",
        f"- companies: {', '.join(bank.company_name(c) for c in q.companies) or '-'}",
        "- sources: " + "; ".join(f"{s.seed} §{s.section or '-'} L{','.join(map(str, s.lines))}" for s in q.sources),
        "",
    ]
    rubric = bank.rubric(qid)
    if rubric is None:
        lines.append("(no rubric yet: this question cannot be graded)")
        return "\n".join(lines)
    lines.append(f"## Keypoints ({rubric.style.value}, total weight {rubric.total_weight:g})")
    for k in rubric.keypoints:
        lines += [
            f"- [{k.weight:g}] {k.id}: {k.statement}",
            f"    covered: {k.covered}",
            f"    partial: {k.partial}",
        ]
        if k.followup:
            lines.append(f"    追问: {k.followup}")
    if rubric.misconceptions:
        lines += ["", "## Misconceptions"]
        for m in rubric.misconceptions:
            lines += [f"- [-{m.penalty:g}] {m.claim}", f"    correct: {m.correction}"]
    lines += ["", "## Reference answer", rubric.reference_answer.rstrip()]
    return "\n".join(lines)
