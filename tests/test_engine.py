"""The session engine on a real SQLite file: rounds, timing, follow-ups, hints, failures, drills, stats."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from interviewer.bank.loader import BankError, load_bank
from interviewer.engine import Engine, EngineError, GradeState, SessionStatus
from interviewer.engine.drills import rating_for
from interviewer.engine.profiles import load_profiles, pick_questions, profiles_dir
from interviewer.judges.base import JudgeUnavailable
from interviewer.judges.fallback import FallbackJudge
from interviewer.judges.models import Grade
from interviewer.judges.offline import OfflineJudge

BANK = load_bank()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def strong_answer(qid: str) -> str:
    """An answer made of the rubric's reference: the offline judge should score it high."""
    return BANK.rubric(qid).reference_answer


def weak_answer() -> str:
    return "这个我不太确定，大概是和模型训练有关系的一些技巧，具体细节记不清了。"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(tmp_path: Path, clock: Clock) -> Engine:
    eng = Engine(tmp_path / "history.db", bank=BANK, clock=clock)
    yield eng
    eng.close()


def answer_round(engine: Engine, session_id: str, clock: Clock, answer=weak_answer, seconds: float = 30) -> list:
    results = []
    while (q := engine.next_question(session_id)) is not None:
        clock.advance(seconds)
        engine.submit(q.turn_id, answer(q.question_id) if answer is not weak_answer else answer())
        results.append(engine.grade(q.turn_id))
    return results


# ----------------------------------------------------------------------------- profiles


def test_shipped_profiles_load_and_cover_the_companies() -> None:
    profiles = load_profiles(BANK)
    assert {"iflytek", "li_auto", "doubao", "compute_vendor", "general"} <= set(profiles)
    for profile in profiles.values():
        if profile.company:
            assert profile.company in BANK.taxonomy.companies


def test_same_profile_and_seed_give_the_same_questions_without_repeats() -> None:
    profile = load_profiles(BANK)["doubao"]
    first = [q.id for q in pick_questions(profile, BANK, seed=7)]
    again = [q.id for q in pick_questions(profile, BANK, seed=7)]
    other = [q.id for q in pick_questions(profile, BANK, seed=8)]
    assert first == again
    assert first != other
    assert len(first) == profile.question_count == len(set(first))
    assert all(BANK.rubric(qid) is not None for qid in first)
    own = sum("doubao" in BANK.question(qid).companies for qid in first)
    assert own >= round(profile.question_count * profile.own_company_share)


def test_recently_seen_questions_are_less_likely() -> None:
    profile = load_profiles(BANK)["general"]
    plain = [q.id for seed in range(40) for q in pick_questions(profile, BANK, seed)]
    recent = set(plain[:60])
    avoided = [q.id for seed in range(40) for q in pick_questions(profile, BANK, seed, recent=recent)]
    assert sum(q in recent for q in avoided) < 0.5 * sum(q in recent for q in plain)


def test_a_broken_profile_names_the_file_and_the_fix(tmp_path: Path) -> None:
    good = yaml.safe_load((profiles_dir() / "general.yaml").read_text(encoding="utf-8"))
    bad = dict(good, id="broken", topic_weights={"not_a_topic": 2}, difficulty_curve=[1, 2])
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    with pytest.raises(BankError) as caught:
        load_profiles(BANK, tmp_path)
    message = str(caught.value)
    assert "broken.yaml" in message and "difficulty_curve" in message
    bad = dict(good, id="broken", topic_weights={"not_a_topic": 2})
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    with pytest.raises(BankError) as caught:
        load_profiles(BANK, tmp_path)
    assert "not_a_topic" in str(caught.value) and "taxonomy.yaml" in str(caught.value)


def test_unknown_profile_is_a_clear_error(engine: Engine) -> None:
    with pytest.raises(EngineError, match="unknown profile 'nope'.*doubao"):
        engine.start("nope")


# ----------------------------------------------------------------------------- a round


def test_a_whole_round_is_stored_and_summarised(engine: Engine, clock: Clock) -> None:
    info = engine.start("li_auto", seed=11)
    assert info.status is SessionStatus.active and info.question_count == 6
    first = engine.next_question(info.id)
    assert first.interviewer_line == engine.profile("li_auto").opening_line
    assert first.deadline - first.shown_at == timedelta(seconds=first.time_limit_s)
    clock.advance(42)
    saved = engine.submit(first.turn_id, strong_answer(first.question_id))
    assert saved.state is GradeState.pending and saved.time_taken_s == 42 and not saved.timed_out
    graded = engine.grade(first.turn_id)
    assert graded.state is GradeState.graded and graded.score >= 7
    assert graded.reference_answer and graded.verdicts and "offline_estimate" in graded.flags
    assert any(v.evidence and v.evidence in graded.answer_graded for v in graded.verdicts)
    answer_round(engine, info.id, clock)
    summary = engine.finish(info.id)
    assert summary.session.status is SessionStatus.finished
    main = [t for t in summary.turns if not t.is_followup]
    assert len(main) == 6 and len({t.question_id for t in main}) == 6
    assert summary.time_used_s == pytest.approx(sum(t.time_taken_s for t in summary.turns))
    assert summary.weakest_topics and summary.weakest_topics[0].mastery <= summary.weakest_topics[-1].mastery
    assert engine.next_question(info.id) is None
    listed = engine.sessions()
    assert [s.id for s in listed] == [info.id] and listed[0].answered == 6


def test_timeout_is_recorded_when_the_deadline_passed(engine: Engine, clock: Clock) -> None:
    info = engine.start("general", seed=1)
    q = engine.next_question(info.id)
    clock.advance(q.time_limit_s + 10)
    result = engine.submit(q.turn_id, "写到一半")
    assert result.timed_out and result.answer == "写到一半"
    q2 = engine.next_question(info.id)
    result2 = engine.submit(q2.turn_id, "时间没到，界面判定超时", timed_out=True)
    assert result2.timed_out


def test_total_time_budget_ends_the_round(engine: Engine, clock: Clock) -> None:
    info = engine.start("general", seed=2)
    budget = engine.profile("general").total_time_s
    q = engine.next_question(info.id)
    engine.submit(q.turn_id, weak_answer(), time_taken_s=budget + 1)
    assert engine.next_question(info.id) is None


def test_missed_heavy_keypoint_gets_a_followup_graded_against_it(tmp_path: Path, clock: Clock) -> None:
    pdir = tmp_path / "profiles"
    pdir.mkdir()
    general = yaml.safe_load((profiles_dir() / "general.yaml").read_text(encoding="utf-8"))
    general["followups"] = {"probability": 1.0, "max_per_question": 1, "max_total": 5, "min_weight": 2}
    (pdir / "general.yaml").write_text(yaml.safe_dump(general, allow_unicode=True), encoding="utf-8")
    engine = Engine(tmp_path / "f.db", bank=BANK, clock=clock, profiles_dir=pdir)
    info = engine.start("general", seed=5)
    q = engine.next_question(info.id)
    engine.submit(q.turn_id, weak_answer())
    engine.grade(q.turn_id)
    follow = engine.next_question(info.id)
    rubric = BANK.rubric(q.question_id)
    heavy = [k for k in rubric.keypoints if k.weight >= 2 and k.followup]
    assert follow.is_followup and follow.number == q.number
    assert follow.followup_keypoint == max(heavy, key=lambda k: k.weight).id
    assert follow.text == rubric.keypoint(follow.followup_keypoint).followup
    keypoint = rubric.keypoint(follow.followup_keypoint)
    engine.submit(follow.turn_id, keypoint.covered)
    result = engine.grade(follow.turn_id)
    assert [v.keypoint_id for v in result.verdicts] == [keypoint.id]
    after = engine.next_question(info.id)
    assert not after.is_followup and after.number == 2  # at most one follow-up per question
    engine.close()


def test_hints_cost_points_and_are_recorded(engine: Engine) -> None:
    info = engine.start("general", seed=3)
    q = engine.next_question(info.id)
    hint = engine.hint(q.turn_id)
    assert "提示 1" in hint
    engine.submit(q.turn_id, strong_answer(q.question_id))
    result = engine.grade(q.turn_id)
    assert result.hints_used == 1 and result.hint_penalty == 1.0
    assert result.score == pytest.approx(max(0.0, result.raw_score - 1.0))
    with pytest.raises(EngineError):
        engine.hint(q.turn_id)


def test_skip_scores_zero_without_a_judge(engine: Engine) -> None:
    info = engine.start("general", seed=4)
    q = engine.next_question(info.id)
    result = engine.skip(q.turn_id)
    assert result.state is GradeState.skipped and result.score == 0
    assert engine.grade(q.turn_id).state is GradeState.skipped


def test_answering_twice_is_refused(engine: Engine) -> None:
    info = engine.start("general", seed=4)
    q = engine.next_question(info.id)
    engine.submit(q.turn_id, "一")
    with pytest.raises(EngineError, match="already answered"):
        engine.submit(q.turn_id, "二")


def test_huge_and_binary_answers_are_kept_and_graded(engine: Engine) -> None:
    info = engine.start("general", seed=6)
    q = engine.next_question(info.id)
    huge = strong_answer(q.question_id) + "。补充" * 50_000
    engine.submit(q.turn_id, huge)
    result = engine.grade(q.turn_id)
    assert result.answer == huge and "truncated" in result.flags and result.score is not None
    q2 = engine.next_question(info.id)
    engine.submit(q2.turn_id, bytes(range(256)) * 8)
    result2 = engine.grade(q2.turn_id)
    assert result2.state is GradeState.graded and result2.score == 0


class BrokenJudge:
    name = "broken"

    def grade(self, question, rubric, answer) -> Grade:  # noqa: ANN001
        raise JudgeUnavailable("server at http://127.0.0.1:9 refused the connection")


def test_a_failing_judge_keeps_the_answer_ungraded_and_regrade_fixes_it(tmp_path: Path, clock: Clock) -> None:
    judges = {"offline": BrokenJudge()}
    engine = Engine(tmp_path / "r.db", bank=BANK, clock=clock, judge_factory=lambda name: judges[name])
    info = engine.start("general", seed=9)
    q = engine.next_question(info.id)
    engine.submit(q.turn_id, strong_answer(q.question_id))
    result = engine.grade(q.turn_id)
    assert result.state is GradeState.ungraded and result.score is None
    assert "refused" in result.ungraded_reason and result.answer == strong_answer(q.question_id)
    judges["offline"] = OfflineJudge()
    engine.use_settings(engine.settings)  # as after fixing the judge in settings: judges are rebuilt
    regraded = engine.regrade(info.id)
    assert [r.turn_id for r in regraded] == [q.turn_id] and regraded[0].state is GradeState.graded
    assert engine.regrade(info.id) == []  # nothing left to regrade
    engine.close()


def test_fallback_grade_is_flagged_and_regradable(tmp_path: Path, clock: Clock) -> None:
    judges = {"offline": FallbackJudge(BrokenJudge(), OfflineJudge())}
    engine = Engine(tmp_path / "fb.db", bank=BANK, clock=clock, judge_factory=lambda name: judges[name])
    info = engine.start("general", seed=9)
    q = engine.next_question(info.id)
    engine.submit(q.turn_id, strong_answer(q.question_id))
    result = engine.grade(q.turn_id)
    assert result.score is not None and {"fallback", "offline_estimate"} <= set(result.flags)
    assert result.fallback_from == "broken"
    judges["offline"] = OfflineJudge()
    engine.use_settings(engine.settings)
    assert [r.turn_id for r in engine.regrade(info.id)] == [q.turn_id]
    engine.close()


def test_grading_in_a_thread_does_not_block_the_next_question(tmp_path: Path, clock: Clock) -> None:
    release = threading.Event()

    class SlowJudge(OfflineJudge):
        def grade(self, question, rubric, answer):  # noqa: ANN001
            release.wait(10)
            return super().grade(question, rubric, answer)

    engine = Engine(tmp_path / "s.db", bank=BANK, clock=clock, judge_factory=lambda name: SlowJudge())
    info = engine.start("general", seed=10)
    q1 = engine.next_question(info.id)
    engine.submit(q1.turn_id, strong_answer(q1.question_id))
    done: list = []
    worker = threading.Thread(target=lambda: done.append(engine.grade(q1.turn_id)))
    worker.start()
    q2 = engine.next_question(info.id)  # while q1 is still being graded
    engine.submit(q2.turn_id, weak_answer())
    assert engine.summary(info.id).session.pending == 2
    release.set()
    worker.join(10)
    assert done and done[0].state is GradeState.graded
    engine.grade(q2.turn_id)
    assert engine.summary(info.id).session.pending == 0
    engine.close()


# ----------------------------------------------------------------------------- resume


def test_resume_reasks_the_open_question_with_a_fresh_deadline(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "resume.db"
    first = Engine(path, bank=BANK, clock=clock)
    info = first.start("iflytek", seed=12)
    q1 = first.next_question(info.id)
    first.submit(q1.turn_id, weak_answer())  # saved, never graded: the app "dies" here
    q2 = first.next_question(info.id)
    first.close()
    clock.advance(3600)
    second = Engine(path, bank=BANK, clock=clock)
    assert [s.id for s in second.interrupted()] == [info.id]
    assert second.resume(info.id).pending == 1
    assert [r.turn_id for r in second.grade_pending(info.id)] == [q1.turn_id]
    again = second.next_question(info.id)
    assert again.turn_id == q2.turn_id and again.shown_at == clock.now
    second.abandon(info.id)
    assert second.interrupted() == []
    with pytest.raises(EngineError, match="only an active session"):
        second.resume(info.id)
    second.close()


# ----------------------------------------------------------------------------- weak topics, drills, stats


def test_weak_topics_rank_by_recency_weighted_score(engine: Engine, clock: Clock) -> None:
    info = engine.start("general", seed=21)
    topics = {}
    while (q := engine.next_question(info.id)) is not None:
        good = len(topics) % 2 == 0
        engine.submit(q.turn_id, strong_answer(q.question_id) if good else weak_answer())
        result = engine.grade(q.turn_id)
        if not q.is_followup:
            topics.setdefault(q.topic, []).append(result.score)
        clock.advance(60)
    engine.finish(info.id)
    ranking = engine.weak_topics()
    assert [m.mastery for m in ranking] == sorted(m.mastery for m in ranking)
    weakest = ranking[0]
    assert weakest.missed_keypoints and weakest.attempts == len(topics[weakest.topic])


def test_score_maps_to_fsrs_rating() -> None:
    assert [int(rating_for(s)) for s in (0, 3.9, 4, 5.9, 6, 8.4, 8.5, 10)] == [1, 1, 2, 2, 3, 3, 4, 4]


def test_drill_plan_puts_due_cards_first_then_weak_topics_then_unseen(engine: Engine, clock: Clock) -> None:
    info = engine.start("general", seed=30)
    answered = {}
    while (q := engine.next_question(info.id)) is not None:
        good = len(answered) == 0
        engine.submit(q.turn_id, strong_answer(q.question_id) if good else weak_answer())
        answered[q.question_id] = engine.grade(q.turn_id).score
    engine.finish(info.id)
    # Right after the round nothing is due (the 10-minute learning step has not passed).
    plan = engine.drill_plan(limit=50)
    assert all(item.reason != "due" for item in plan)
    reasons = [item.reason for item in plan]
    assert reasons == sorted(reasons, key=["due", "weak_topic", "unseen"].index)
    clock.advance(3600)
    plan = engine.drill_plan(limit=50)
    due = [i for i in plan if i.reason == "due"]
    assert {i.question_id for i in due} <= set(answered) and due
    assert plan[: len(due)] == due
    failed = {qid for qid, s in answered.items() if s < 4}
    assert failed <= {i.question_id for i in due}  # "Again" cards come back soonest
    unseen = [i for i in plan if i.reason == "unseen"]
    weak_topics = {m.topic for m in engine.weak_topics() if m.mastery < 7}
    assert all(i.topic in weak_topics and i.question_id not in answered for i in unseen)
    drill = engine.start_drill(count=3)
    assert drill.kind == "drill" and drill.question_count == 3
    first = engine.next_question(drill.id)
    assert first.question_id == plan[0].question_id


def test_drill_plan_filters_by_topic_and_company(engine: Engine) -> None:
    plan = engine.drill_plan(topic="rlhf", limit=5)
    assert plan and all(i.topic == "rlhf" for i in plan)
    plan = engine.drill_plan(company="li_auto", limit=20)
    assert plan and all("li_auto" in BANK.question(i.question_id).companies for i in plan)
    with pytest.raises(EngineError, match="unknown topic"):
        engine.drill_plan(topic="nope")


def test_stats_trend_counts_each_answer_once_even_after_regrade(engine: Engine, clock: Clock) -> None:
    info = engine.start("general", seed=40)
    answer_round(engine, info.id, clock)
    clock.advance(86400)
    info2 = engine.start("general", seed=41)
    answer_round(engine, info2.id, clock, answer=strong_answer)
    before = engine.stats()
    engine.regrade(all_turns=True)
    after = engine.stats()
    assert len(after.trend) == 2 and after.trend == before.trend
    assert after.trend[1].mean_score > after.trend[0].mean_score
    assert sum(p.answers for p in after.trend) == after.graded


def test_export_markdown_and_json_hold_the_whole_transcript(engine: Engine, clock: Clock) -> None:
    info = engine.start("doubao", seed=50)
    q = engine.next_question(info.id)
    engine.submit(q.turn_id, strong_answer(q.question_id))
    graded = engine.grade(q.turn_id)
    engine.finish(info.id)
    md = engine.export(info.id, "md")
    assert q.text in md and graded.reference_answer.strip()[:30] in md and "离线估计" in md
    evidence = next(v.evidence for v in graded.verdicts if v.evidence)
    assert evidence.replace("|", "\\|").replace("\n", " ") in md
    data = json.loads(engine.export(info.id, "json"))
    assert data["session"]["id"] == info.id
    assert data["turns"][0]["verdicts"][0]["statement"]
    with pytest.raises(EngineError, match="unknown export format"):
        engine.export(info.id, "pdf")


def test_a_question_removed_from_the_bank_mid_round_is_passed_over_and_its_answer_kept(tmp_path: Path, clock: Clock) -> None:
    import dataclasses

    path = tmp_path / "edited.db"
    first = Engine(path, bank=BANK, clock=clock)
    info = first.start("general", seed=60)
    q1 = first.next_question(info.id)
    first.submit(q1.turn_id, strong_answer(q1.question_id))  # saved, not graded
    q2 = first.next_question(info.id)  # open when the app closes
    first.close()
    plan = [q.id for q in pick_questions(load_profiles(BANK)["general"], BANK, 60)]
    gone = {q1.question_id, q2.question_id}
    edited = dataclasses.replace(
        BANK,
        questions={k: v for k, v in BANK.questions.items() if k not in gone},
        rubrics={k: v for k, v in BANK.rubrics.items() if k not in gone},
    )
    second = Engine(path, bank=edited, clock=clock)
    [graded] = second.grade_pending(info.id)
    assert graded.state is GradeState.ungraded and "no longer in the bank" in graded.ungraded_reason
    assert graded.answer == strong_answer(q1.question_id)
    nxt = second.next_question(info.id)
    assert nxt.question_id == plan[2] and nxt.number == 3
    summary = second.finish(info.id)
    assert [t.question_id for t in summary.turns] == [q1.question_id]
    second.close()
