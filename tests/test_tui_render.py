"""The grade view's pieces: evidence found and highlighted in the answer, scores and warnings that say what they are."""

from __future__ import annotations

from datetime import UTC, datetime

from interviewer.engine.models import GradeState, MisconceptionView, TurnResult, VerdictView
from tui.render import find_spans, grade_badges, highlighted_answer, score_text

ANSWER = "MQA 里所有头共享一组KV，KV cache 减为 1/h。Q 也只有一个头。"


def turn(**changes) -> TurnResult:  # noqa: ANN003
    base = dict(
        turn_id="t1",
        session_id="s1",
        number=1,
        question_id="attention.mqa.intro",
        question_text="介绍一下 Multi-Query Attention？",
        topic="attention",
        topic_name="注意力机制",
        answer=ANSWER,
        time_limit_s=180,
        time_taken_s=61,
        state=GradeState.graded,
        score=6.5,
        raw_score=6.5,
        verdicts=[
            VerdictView(keypoint_id="definition", statement="共享 K 和 V", weight=3, status="covered", evidence="所有头共享一组KV"),
            VerdictView(keypoint_id="kv", statement="KV cache 减为 1/h", weight=3, status="partial", evidence="KV cache 减为 1/h"),
            VerdictView(keypoint_id="tradeoff", statement="质量下降", weight=2, status="missing"),
        ],
        misconceptions=[MisconceptionView(misconception_id="q_shared", claim="Q 也共享", correction="Q 仍有 h 个头", evidence="Q 也只有一个头", penalty=1)],
        flags=["offline_estimate"],
        answer_graded=ANSWER,
        answered_at=datetime(2025, 6, 2, tzinfo=UTC),
    )
    base.update(changes)
    return TurnResult(**base)


def styles_at(text, start: int, end: int) -> set[str]:  # noqa: ANN001
    return {str(span.style) for span in text.spans if span.start <= start and span.end >= end}


def test_evidence_is_highlighted_where_it_occurs_in_the_answer() -> None:
    text, unplaced = highlighted_answer(turn())
    assert text.plain == ANSWER and unplaced == []
    covered = ANSWER.index("所有头共享一组KV")
    partial = ANSWER.index("KV cache")
    wrong = ANSWER.index("Q 也只有")
    assert "black on green" in styles_at(text, covered, covered + len("所有头共享一组KV"))
    assert "black on yellow" in styles_at(text, partial, partial + len("KV cache 减为 1/h"))
    assert "white on red" in styles_at(text, wrong, wrong + len("Q 也只有一个头"))


def test_the_typed_answer_is_shown_when_the_quotes_differ_only_in_width() -> None:
    typed = "MQA：所有头共享一组ＫＶ，省显存。"
    graded = "MQA:所有头共享一组KV,省显存。"
    t = turn(answer=typed, answer_graded=graded, verdicts=[VerdictView(keypoint_id="d", statement="s", weight=3, status="covered", evidence="所有头共享一组KV")], misconceptions=[])
    text, unplaced = highlighted_answer(t)
    assert text.plain == typed and unplaced == []
    at = typed.index("所有头")
    assert "black on green" in styles_at(text, at, at + len("所有头共享一组ＫＶ"))


def test_a_quote_that_cannot_be_found_is_listed_not_lost() -> None:
    t = turn(verdicts=[VerdictView(keypoint_id="d", statement="s", weight=3, status="covered", evidence="不在回答里的话")], misconceptions=[])
    _text, unplaced = highlighted_answer(t)
    assert unplaced == ["不在回答里的话"]


def test_find_spans_finds_every_occurrence() -> None:
    assert find_spans("KV 和 KV", "KV") == [(0, 2), (5, 7)]
    assert find_spans("abc", "") == []


def test_scores_say_what_they_are() -> None:
    assert "离线估计" in score_text(turn()).plain
    assert "回退估计" in score_text(turn(flags=["fallback"], fallback_from="openai")).plain
    assert score_text(turn(state=GradeState.pending, score=None)).plain == "评分中…"
    assert score_text(turn(state=GradeState.ungraded, score=None)).plain == "未评分"
    assert "跳过" in score_text(turn(state=GradeState.skipped, score=0.0, skipped=True)).plain


def test_badges_explain_missing_or_estimated_grades() -> None:
    ungraded = [b.plain for b in grade_badges(turn(state=GradeState.ungraded, score=None, ungraded_reason="ConnectionError: refused", flags=["ungraded"]))]
    assert any("未评分" in b and "ConnectionError: refused" in b for b in ungraded)
    fallback = [b.plain for b in grade_badges(turn(flags=["fallback"], fallback_from="openai"))]
    assert any("openai评分失败" in b and "离线匹配估计" in b for b in fallback)
    assert any("离线估计" in b for b in (b.plain for b in grade_badges(turn())))
    assert any("超时" in b for b in (b.plain for b in grade_badges(turn(timed_out=True))))
