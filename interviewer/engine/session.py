"""The session engine: the one door from a UI (the Textual app, the CLI) into the core.

start → next_question → submit (saved at once) → grade (may run in a worker
thread) → follow-up? → … → finish → summary. Plain models in and out
(``interviewer.engine.models``); no SQL row or database session ever leaves.

Crash safety: an answer is committed before it is graded; a session killed at any
point keeps every submitted answer, shows up in ``interrupted()`` and can be
resumed (the unanswered question is asked again with a fresh deadline) or
abandoned; answers left ungraded are graded by ``grade_pending`` / ``regrade``.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from interviewer.bank.loader import Bank, load_bank
from interviewer.bank.models import Question, Rubric
from interviewer.config import JudgeSettings, Settings, load_settings
from interviewer.engine import drills
from interviewer.engine.drills import as_utc
from interviewer.engine.models import (
    DrillItem,
    GradeState,
    MisconceptionView,
    ProfileInfo,
    QuestionView,
    SessionInfo,
    SessionStatus,
    SessionSummary,
    Stats,
    TopicMastery,
    TrendPoint,
    TurnResult,
    VerdictView,
)
from interviewer.engine.profiles import Profile, load_profiles, pick_questions
from interviewer.judges.base import Judge
from interviewer.judges.models import Grade, JudgeMeta
from interviewer.storage.db import Database, DatabaseError
from interviewer.storage.tables import (
    DailyStatRow,
    DrillCardRow,
    JudgeRunRow,
    MisconceptionRow,
    ReviewLogRow,
    SessionRow,
    TopicMasteryRow,
    TurnRow,
    VerdictRow,
)

TIMEOUT_GRACE_S = 2.0
RECENT_DAYS = 14
MASTERY_WINDOW = 30
MASTERY_DECAY = 0.85  # weight of the i-th most recent answer: 0.85**i
MAX_STORED_ANSWER = 1_000_000  # characters; longer answers are cut with a visible note (the judge reads 6,000)
DRILL_PROFILE = "drill"


class EngineError(RuntimeError):
    """Something the user asked for that cannot be done (unknown profile/session, answered twice...)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _answer_text(answer: str | bytes) -> str:
    if isinstance(answer, bytes):
        answer = answer.decode("utf-8", errors="replace")
    if len(answer) > MAX_STORED_ANSWER:
        answer = answer[:MAX_STORED_ANSWER] + f"\n[… 回答超过 {MAX_STORED_ANSWER} 字符，其余部分未保存]"
    return answer


class Engine:
    """Everything a UI needs: profiles, rounds, drills, grading, history, stats, export."""

    def __init__(
        self,
        db: str | Path | None = None,
        *,
        settings: Settings | None = None,
        bank: Bank | None = None,
        judge_factory: Callable[[str], Judge] | None = None,
        clock: Callable[[], datetime] = utcnow,
        profiles_dir: Path | None = None,
        create: bool = True,
    ):
        self.settings = settings or load_settings()
        self.db = Database(db or self.settings.database_url(), create=create)
        self._bank = bank
        self._profiles: dict[str, Profile] | None = None
        self._profiles_dir = profiles_dir
        self._judge_factory = judge_factory
        self._judges: dict[str, Judge] = {}
        self._judge_lock = threading.Lock()
        self._write_lock = threading.RLock()  # SQLite has one writer: serialise our own writes across threads
        self.clock = clock

    # ------------------------------------------------------------------ bank, profiles, judges
    @property
    def bank(self) -> Bank:
        if self._bank is None:
            self._bank = load_bank()
        return self._bank

    def _profile_map(self) -> dict[str, Profile]:
        if self._profiles is None:
            self._profiles = load_profiles(self.bank, self._profiles_dir)
        return self._profiles

    def profile(self, profile_id: str) -> Profile:
        profiles = self._profile_map()
        if profile_id == DRILL_PROFILE:
            return profiles.get("general") or next(iter(profiles.values()))
        if profile_id not in profiles:
            raise EngineError(f"unknown profile '{profile_id}': choose one of {', '.join(profiles)}")
        return profiles[profile_id]

    def profiles(self) -> list[ProfileInfo]:
        order = {"iflytek": 0, "li_auto": 1, "doubao": 2, "compute_vendor": 3, "general": 4}
        return [
            ProfileInfo(
                id=p.id,
                name=p.name,
                description=p.description,
                company=p.company,
                question_count=p.question_count,
                total_time_s=p.total_time_s,
                opening_line=p.opening_line,
            )
            for p in sorted(self._profile_map().values(), key=lambda p: (order.get(p.id, 9), p.id))
        ]

    def topics(self) -> list[tuple[str, str]]:
        """(topic id, display name) for every topic of the bank, in taxonomy order."""
        return [(tid, topic.name) for tid, topic in self.bank.taxonomy.topics.items()]

    def companies(self) -> list[tuple[str, str]]:
        """(company id, display name) for every company tag of the bank."""
        return list(self.bank.taxonomy.companies.items())

    def _topic_name(self, topic: str) -> str:
        """The display name, or the id of a topic the taxonomy no longer has."""
        return self.bank.topic_name(topic) if topic in self.bank.taxonomy.topics else topic

    def judge_settings(self, backend: str | None = None) -> JudgeSettings:
        current = self.settings.judge
        if backend is None or backend == current.backend:
            return current
        return current.model_copy(update={"backend": backend})

    def judge(self, backend: str | None = None) -> Judge:
        """The judge for a backend name, built once (model judges load lazily inside)."""
        name = backend or self.settings.judge.backend
        with self._judge_lock:
            if name not in self._judges:
                if self._judge_factory is not None:
                    self._judges[name] = self._judge_factory(name)
                else:
                    from interviewer.judges import make_judge  # noqa: PLC0415

                    self._judges[name] = make_judge(self.judge_settings(name))
            return self._judges[name]

    def test_connection(self, settings: JudgeSettings) -> str:
        """A human-readable result of reaching the judge; raises JudgeUnavailable with the reason."""
        if settings.backend == "offline":
            return "离线匹配器无需连接（offline estimate，仅关键词匹配）"
        from interviewer.judges import make_judge  # noqa: PLC0415

        judge = make_judge(settings, fallback_offline=False)
        check = getattr(judge, "check_connection", None) or getattr(judge, "load", None)
        result = check() if check else None
        return result if isinstance(result, str) else f"{settings.backend} judge ready"

    def warm_up(self, backend: str | None = None) -> str:
        """Build the judge and load its model now (slow for the local judge: call from a worker)."""
        judge = self.judge(backend)
        primary = getattr(judge, "primary", judge)
        load = getattr(primary, "load", None)
        if load is not None:
            load()
        return f"{primary.name} judge ready"

    def use_settings(self, settings: Settings) -> None:
        """Switch to new settings (from the settings screen); judges are rebuilt on next use."""
        self.settings = settings
        with self._judge_lock:
            self._judges.clear()

    # ------------------------------------------------------------------ starting
    def _recent_questions(self, session: Session) -> set[str]:
        since = as_utc(self.clock() - timedelta(days=RECENT_DAYS))
        rows = session.exec(select(TurnRow.question_id).where(col(TurnRow.answered_at) >= since)).all()
        return set(rows)

    def start(self, profile_id: str, *, seed: int | None = None, judge: str | None = None) -> SessionInfo:
        """A new company-style round. An explicit seed reproduces the same questions."""
        profile = self.profile(profile_id)
        with self._write_lock, self.db.session() as session:
            recent = self._recent_questions(session) if seed is None else set()
            seed = secrets.randbelow(2**31) if seed is None else seed
            questions = pick_questions(profile, self.bank, seed, recent=recent)
            return self._create(session, "round", profile.id, seed, judge, [q.id for q in questions], profile.total_time_s)

    def start_drill(
        self, *, topic: str | None = None, company: str | None = None, count: int = 5, judge: str | None = None
    ) -> SessionInfo:
        """A drill round fed by the drill plan: due cards, then weak topics, then unseen questions."""
        plan = self.drill_plan(topic=topic, company=company, limit=count)
        if not plan:
            raise EngineError("nothing to drill for this filter: answer some questions first, or widen the filter")
        profile = self.profile(DRILL_PROFILE)
        total = sum(profile.time_limit(self.bank.question(d.question_id).kind) for d in plan) + 60
        with self._write_lock, self.db.session() as session:
            return self._create(session, "drill", DRILL_PROFILE, secrets.randbelow(2**31), judge, [d.question_id for d in plan], total)

    def _create(self, session: Session, kind: str, profile: str, seed: int, judge: str | None, plan: list[str], total: int) -> SessionInfo:
        if not plan:
            raise EngineError(f"no question with a rubric matches profile '{profile}'")
        row = SessionRow(
            id=uuid.uuid4().hex[:12],
            kind=kind,
            profile=profile,
            seed=seed,
            judge=judge or self.settings.judge.backend,
            question_count=len(plan),
            plan_json=json.dumps(plan),
            total_time_s=total,
            started_at=as_utc(self.clock()),
        )
        session.add(row)
        session.flush()
        return self._session_info(session, row)

    # ------------------------------------------------------------------ asking
    def _session_row(self, session: Session, session_id: str) -> SessionRow:
        row = session.get(SessionRow, session_id)
        if row is None:
            matches = session.exec(select(SessionRow).where(col(SessionRow.id).startswith(session_id))).all() if len(session_id) >= 4 else []
            if len(matches) == 1:
                return matches[0]
            raise EngineError(f"no session '{session_id}': `interviewer sessions` lists them")
        return row

    def _turn_row(self, session: Session, turn_id: str) -> TurnRow:
        row = session.get(TurnRow, turn_id)
        if row is None:
            raise EngineError(f"no turn '{turn_id}'")
        return row

    def _turns(self, session: Session, session_id: str) -> list[TurnRow]:
        return list(session.exec(select(TurnRow).where(TurnRow.session_id == session_id).order_by(col(TurnRow.seq))).all())

    def next_question(self, session_id: str) -> QuestionView | None:
        """The question to put now: an unanswered one (resume, follow-up) first, then the next main one.

        None when the round is over (all asked, or the total time budget is spent).
        """
        now = self.clock()
        with self._write_lock, self.db.session() as session:
            srow = self._session_row(session, session_id)
            if srow.status != SessionStatus.active.value:
                return None
            turns = self._turns(session, srow.id)
            profile = self.profile(srow.profile)
            used = sum(t.time_taken_s or 0 for t in turns if t.answer is not None)
            if used >= srow.total_time_s:
                return None
            open_turn = next((t for t in turns if t.answer is None), None)
            if open_turn is not None and self._askable(open_turn.question_id) is None:
                session.delete(open_turn)  # its question was removed from the bank since
                turns.remove(open_turn)
                open_turn = None
            if open_turn is None:
                # The first planned question not asked yet that the bank can still grade
                # (a question removed from the bank since the round started is passed over).
                asked = {t.question_id for t in turns if not t.is_followup}
                upcoming = [(i + 1, qid) for i, qid in enumerate(json.loads(srow.plan_json)) if qid not in asked and self._askable(qid)]
                if not upcoming:
                    return None
                number, qid = upcoming[0]
                question = self.bank.question(qid)
                open_turn = TurnRow(
                    id=uuid.uuid4().hex[:16],
                    session_id=srow.id,
                    seq=len(turns) + 1,
                    number=number,
                    question_id=question.id,
                    topic=question.topic,
                    time_limit_s=profile.time_limit(question.kind),
                )
            open_turn.shown_at = as_utc(now)  # a resumed question gets a fresh deadline
            session.add(open_turn)
            session.flush()
            return self._question_view(srow, open_turn, profile, now)

    def _askable(self, question_id: str) -> Question | None:
        question = self.bank.questions.get(question_id)
        return question if question is not None and self.bank.rubric(question_id) is not None else None

    def _question_view(self, srow: SessionRow, turn: TurnRow, profile: Profile, now: datetime) -> QuestionView:
        question = self.bank.question(turn.question_id)
        if turn.is_followup:
            text = self._followup_text(question, turn.followup_keypoint)
            line = "追问一下刚才那道题："
        else:
            text = question.text
            if turn.number == 1 and srow.kind == "round":
                line = profile.opening_line
            elif srow.kind == "drill":
                line = "复习题：" if turn.number > 1 else "开始今天的复习。"
            else:
                options = profile.transitions or ["下一题。"]
                line = random.Random(f"{srow.seed}:{turn.number}").choice(options)
        return QuestionView(
            turn_id=turn.id,
            session_id=srow.id,
            number=turn.number,
            total=srow.question_count,
            question_id=question.id,
            text=text,
            topic=question.topic,
            topic_name=self.bank.topic_name(question.topic),
            subtopic_name=self.bank.subtopic_name(question.topic, question.subtopic),
            kind=question.kind.value,
            difficulty=question.difficulty,
            companies=list(question.companies),
            time_limit_s=turn.time_limit_s,
            shown_at=now,
            deadline=now + timedelta(seconds=turn.time_limit_s),
            interviewer_line=line,
            is_followup=turn.is_followup,
            followup_keypoint=turn.followup_keypoint,
            hints_used=turn.hints_used,
        )

    def _followup_text(self, question: Question, keypoint_id: str | None) -> str:
        rubric = self.bank.rubric(question.id)
        if rubric is None or keypoint_id is None or keypoint_id not in {k.id for k in rubric.keypoints}:
            return question.text
        keypoint = rubric.keypoint(keypoint_id)
        return keypoint.followup or f"关于「{question.text}」，再具体说说：{keypoint.statement.split('，')[0]}？"

    def hint(self, turn_id: str) -> str:
        """A hint for an open question: names an aspect of the heaviest keypoint not hinted yet. Costs points."""
        with self._write_lock, self.db.session() as session:
            turn = self._turn_row(session, turn_id)
            if turn.answer is not None:
                raise EngineError("this question is already answered")
            srow = self._session_row(session, turn.session_id)
            rubric = self._rubric_for(turn)
            if rubric is None:
                raise EngineError("no rubric for this question, so no hint")
            ordered = sorted(rubric.keypoints, key=lambda k: -k.weight)
            if turn.hints_used >= len(ordered):
                return "没有更多提示了。"
            keypoint = ordered[turn.hints_used]
            cue = keypoint.aliases[0] if keypoint.aliases else keypoint.statement[:12]
            turn.hints_used += 1
            turn.hint_penalty = round(turn.hints_used * self.profile(srow.profile).hint_penalty, 2)
            session.add(turn)
            return f"提示 {turn.hints_used}（扣 {self.profile(srow.profile).hint_penalty:g} 分）：可以从「{cue}」这个角度展开。"

    # ------------------------------------------------------------------ answering
    def _take_answer(self, session: Session, turn_id: str, now: datetime, time_taken_s: float | None) -> tuple[TurnRow, float]:
        """The open turn, stamped as answered now; with the seconds it took (given, or since it was shown)."""
        turn = self._turn_row(session, turn_id)
        if turn.answer is not None:
            raise EngineError("this question was already answered")
        shown = as_utc(turn.shown_at) or now
        turn.answered_at = as_utc(now)
        return turn, (time_taken_s if time_taken_s is not None else (now - shown).total_seconds())

    def submit(self, turn_id: str, answer: str | bytes, *, time_taken_s: float | None = None, timed_out: bool = False) -> TurnResult:
        """Save the answer now (committed before any grading). Returns it with state ``pending``."""
        with self._write_lock, self.db.session() as session:
            turn, taken = self._take_answer(session, turn_id, self.clock(), time_taken_s)
            turn.answer = _answer_text(answer)
            turn.time_taken_s = round(max(0.0, taken), 2)
            turn.timed_out = timed_out or taken > turn.time_limit_s + TIMEOUT_GRACE_S
            turn.state = GradeState.pending.value
            session.add(turn)
            session.flush()
            return self._turn_result(session, turn)

    def skip(self, turn_id: str, *, time_taken_s: float | None = None) -> TurnResult:
        with self._write_lock, self.db.session() as session:
            turn, taken = self._take_answer(session, turn_id, self.clock(), time_taken_s)
            turn.answer = ""
            turn.time_taken_s = round(taken, 2)
            turn.skipped = True
            turn.state = GradeState.skipped.value
            turn.score = 0.0
            turn.raw_score = 0.0
            session.add(turn)
            session.flush()
            if not turn.is_followup:
                self._count_day(session, turn)
                self._update_mastery(session, turn.topic)
                self._review_card(session, turn)
            return self._turn_result(session, turn)

    # ------------------------------------------------------------------ grading
    def _rubric_for(self, turn: TurnRow) -> Rubric | None:
        rubric = self.bank.rubric(turn.question_id)
        if rubric is None or not turn.is_followup or turn.followup_keypoint is None:
            return rubric
        try:
            keypoint = rubric.keypoint(turn.followup_keypoint)
        except KeyError:  # the rubric was edited since the follow-up was asked
            return None
        return Rubric(question=rubric.question, style=rubric.style, keypoints=[keypoint], misconceptions=rubric.misconceptions, reference_answer=rubric.reference_answer)

    def grade(self, turn_id: str, *, judge: str | None = None) -> TurnResult:
        """Grade one saved answer (blocking: call it from a worker thread in a UI).

        A failing judge never loses the answer: the turn becomes ``ungraded`` with the reason.
        """
        with self.db.session() as session:
            turn = self._turn_row(session, turn_id)
            srow = self._session_row(session, turn.session_id)
            if turn.answer is None:
                raise EngineError("nothing to grade: the question has not been answered")
            if turn.state == GradeState.skipped.value:
                return self._turn_result(session, turn)
            answer = turn.answer
            backend = judge or srow.judge
        question = self.bank.questions.get(turn.question_id)
        rubric = self._rubric_for(turn) if question else None
        started = self.clock()
        if question is None or rubric is None:
            grade = None
            reason = f"{turn.question_id} is no longer in the bank or has no rubric; the answer is kept"
        else:
            try:
                grade = self.judge(backend).grade(question, rubric, answer)
                reason = grade.ungraded_reason or ""
            except Exception as exc:  # noqa: BLE001 - any judge failure keeps the answer, ungraded
                grade = None
                reason = f"{type(exc).__name__}: {exc}"
        if grade is None:
            grade = Grade(question_id=turn.question_id, flags=["ungraded"], ungraded_reason=reason, meta=JudgeMeta(backend=backend, error=reason))
        with self._write_lock, self.db.session() as session:
            turn = self._turn_row(session, turn_id)
            self._store_grade(session, turn, grade, started, rubric)
            return self._turn_result(session, turn)

    def _store_grade(self, session: Session, turn: TurnRow, grade: Grade, at: datetime, rubric: Rubric | None) -> None:
        first_grade = not session.exec(select(ReviewLogRow.id).where(ReviewLogRow.turn_id == turn.id)).first()
        previous = turn.score if turn.state == GradeState.graded.value and not turn.is_followup else None
        session.exec(delete(VerdictRow).where(VerdictRow.turn_id == turn.id))
        session.exec(delete(MisconceptionRow).where(MisconceptionRow.turn_id == turn.id))
        weights = {k.id: k.weight for k in rubric.keypoints} if rubric else {}
        for v in grade.verdicts:
            session.add(
                VerdictRow(
                    turn_id=turn.id,
                    keypoint_id=v.keypoint_id,
                    status=v.status.value,
                    evidence=v.evidence,
                    reason=v.reason,
                    weight=weights.get(v.keypoint_id, 1.0),
                    probabilities_json=json.dumps(v.probabilities) if v.probabilities else None,
                )
            )
        for m in grade.misconceptions:
            session.add(MisconceptionRow(turn_id=turn.id, misconception_id=m.misconception_id, evidence=m.evidence, penalty=m.penalty))
        meta = grade.meta
        session.add(JudgeRunRow(turn_id=turn.id, created_at=as_utc(at), **meta.model_dump()))  # every JudgeMeta field is a column
        turn.flags_json = json.dumps([f.value if hasattr(f, "value") else str(f) for f in grade.flags])
        turn.judge_backend = meta.backend
        turn.feedback = grade.feedback
        turn.answer_graded = grade.answer_normalised
        turn.ungraded_reason = grade.ungraded_reason
        if grade.graded:
            turn.state = GradeState.graded.value
            turn.raw_score = grade.score
            turn.score = round(max(0.0, (grade.score or 0.0) - turn.hint_penalty), 1)
        else:
            turn.state = GradeState.ungraded.value
            turn.raw_score = turn.score = None
        session.add(turn)
        session.flush()
        if turn.is_followup or not grade.graded:
            return
        self._count_day(session, turn, previous)
        self._update_mastery(session, turn.topic)
        if first_grade:
            self._review_card(session, turn)
            self._maybe_followup(session, turn, grade)

    def _count_day(self, session: Session, turn: TurnRow, previous: float | None = None) -> None:
        """Per-day sums for the trend; a regrade replaces the previous score."""
        day = (turn.answered_at or as_utc(self.clock())).date().isoformat()
        stat = session.get(DailyStatRow, day) or DailyStatRow(day=day)
        if previous is not None:
            stat.score_sum -= previous
            stat.answers -= 1
        stat.score_sum += turn.score or 0.0
        stat.answers += 1
        session.add(stat)

    def _review_card(self, session: Session, turn: TurnRow) -> None:
        """The question's drill card is reviewed (fsrs) with a rating from the score."""
        score = turn.score or 0.0
        when = as_utc(turn.answered_at) or self.clock()
        card_row = session.get(DrillCardRow, turn.question_id)
        card_json, due, log = drills.review(card_row.card_json if card_row else None, score, when)
        if card_row is None:
            card_row = DrillCardRow(question_id=turn.question_id, topic=turn.topic, card_json=card_json, due=as_utc(due))
        card_row.card_json = card_json
        card_row.due = as_utc(due)
        card_row.last_score = score
        card_row.reviews += 1
        session.add(card_row)
        session.add(ReviewLogRow(question_id=turn.question_id, turn_id=turn.id, rating=log["rating"], score=score, log_json=json.dumps(log), reviewed_at=as_utc(when)))

    def _maybe_followup(self, session: Session, turn: TurnRow, grade: Grade) -> None:
        srow = session.get(SessionRow, turn.session_id)
        if srow is None or srow.status != SessionStatus.active.value:
            return
        policy = self.profile(srow.profile).followups
        turns = self._turns(session, srow.id)
        if sum(1 for t in turns if t.is_followup) >= policy.max_total:
            return
        if sum(1 for t in turns if t.parent_turn_id == turn.id) >= policy.max_per_question:
            return
        rubric = self.bank.rubric(turn.question_id)
        if rubric is None:
            return
        candidates = [
            k
            for k in sorted(rubric.keypoints, key=lambda k: -k.weight)
            if k.weight >= policy.min_weight and k.followup and (grade.verdict(k.id) is None or grade.verdict(k.id).status.value == "missing")
        ]
        if not candidates or random.Random(f"{srow.seed}:followup:{turn.seq}").random() >= policy.probability:
            return
        session.add(
            TurnRow(
                id=uuid.uuid4().hex[:16],
                session_id=srow.id,
                seq=max(t.seq for t in turns) + 1,
                number=turn.number,
                question_id=turn.question_id,
                topic=turn.topic,
                is_followup=True,
                parent_turn_id=turn.id,
                followup_keypoint=candidates[0].id,
                time_limit_s=max(60, turn.time_limit_s // 2),
            )
        )

    def _update_mastery(self, session: Session, topic: str) -> None:
        recent = session.exec(
            select(TurnRow)
            .where(TurnRow.topic == topic, col(TurnRow.is_followup).is_(False), col(TurnRow.state).in_(["graded", "skipped"]))
            .order_by(col(TurnRow.answered_at).desc())
            .limit(MASTERY_WINDOW)
        ).all()
        attempts = session.exec(
            select(func.count()).select_from(TurnRow).where(TurnRow.topic == topic, col(TurnRow.is_followup).is_(False), col(TurnRow.state).in_(["graded", "skipped"]))
        ).one()
        row = session.get(TopicMasteryRow, topic) or TopicMasteryRow(topic=topic)
        if recent:
            weights = [MASTERY_DECAY**i for i in range(len(recent))]
            row.mastery = round(sum(w * (t.score or 0.0) for w, t in zip(weights, recent)) / sum(weights), 2)
            row.last_seen = recent[0].answered_at
            ids = [t.id for t in recent]
            misses = session.exec(
                select(VerdictRow.keypoint_id, TurnRow.question_id, VerdictRow.weight).join(TurnRow, TurnRow.id == VerdictRow.turn_id).where(col(VerdictRow.turn_id).in_(ids), VerdictRow.status == "missing")
            ).all()
            counts = Counter(misses)
            statements = []
            # Most often missed first; among equals the heavier keypoint, then a stable order.
            for (keypoint_id, question_id, _weight), _n in sorted(counts.items(), key=lambda item: (-item[1], -item[0][2], item[0][:2]))[:8]:
                rubric = self.bank.rubric(question_id)
                try:
                    statements.append(rubric.keypoint(keypoint_id).statement if rubric else keypoint_id)
                except KeyError:
                    continue
            row.missed_json = json.dumps(statements[:5], ensure_ascii=False)
        row.attempts = int(attempts)
        session.add(row)

    def grade_pending(self, session_id: str | None = None, *, judge: str | None = None, include_ungraded: bool = False) -> list[TurnResult]:
        """Grade every saved answer still waiting (after a crash, or in the background)."""
        states = ["pending", "ungraded"] if include_ungraded else ["pending"]
        with self.db.session() as session:
            query = select(TurnRow.id).where(col(TurnRow.state).in_(states), col(TurnRow.answer).is_not(None))
            if session_id:
                query = query.where(TurnRow.session_id == self._session_row(session, session_id).id)
            ids = list(session.exec(query.order_by(col(TurnRow.answered_at))).all())
        return [self.grade(turn_id, judge=judge) for turn_id in ids]

    def regrade(self, session_id: str | None = None, *, judge: str | None = None, all_turns: bool = False) -> list[TurnResult]:
        """Grade again: by default answers that are pending, ungraded or graded by a fallback."""
        with self.db.session() as session:
            query = select(TurnRow).where(col(TurnRow.answer).is_not(None), TurnRow.state != "skipped")
            if session_id:
                query = query.where(TurnRow.session_id == self._session_row(session, session_id).id)
            rows = session.exec(query.order_by(col(TurnRow.answered_at))).all()
            ids = [t.id for t in rows if all_turns or t.state in ("pending", "ungraded") or "fallback" in json.loads(t.flags_json)]
        return [self.grade(turn_id, judge=judge) for turn_id in ids]

    # ------------------------------------------------------------------ finishing, history
    def _close(self, session_id: str, status: SessionStatus) -> str:
        """Questions shown but never answered are dropped; answers stay. Returns the full session id."""
        with self._write_lock, self.db.session() as session:
            srow = self._session_row(session, session_id)
            session.exec(delete(TurnRow).where(TurnRow.session_id == srow.id, col(TurnRow.answer).is_(None)))
            if srow.status == SessionStatus.active.value:
                srow.status = status.value
                srow.finished_at = as_utc(self.clock())
                session.add(srow)
            return srow.id

    def finish(self, session_id: str) -> SessionSummary:
        """End the round normally and summarise it."""
        return self.summary(self._close(session_id, SessionStatus.finished))

    def abandon(self, session_id: str) -> SessionInfo:
        """Close an interrupted round without finishing it; its answers are kept."""
        full_id = self._close(session_id, SessionStatus.abandoned)
        with self.db.session() as session:
            return self._session_info(session, self._session_row(session, full_id))

    def interrupted(self) -> list[SessionInfo]:
        """Rounds left active (the app was closed or killed): resume or abandon them."""
        return self.sessions(status=SessionStatus.active)

    def sessions(self, *, profile: str | None = None, since: date | datetime | None = None, status: SessionStatus | None = None, limit: int | None = None) -> list[SessionInfo]:
        with self.db.session() as session:
            query = select(SessionRow)
            if profile:
                query = query.where(SessionRow.profile == profile)
            if since:
                start = since if isinstance(since, datetime) else datetime(since.year, since.month, since.day, tzinfo=UTC)
                query = query.where(col(SessionRow.started_at) >= as_utc(start))
            if status:
                query = query.where(SessionRow.status == status.value)
            query = query.order_by(col(SessionRow.started_at).desc())
            if limit:
                query = query.limit(limit)
            rows = session.exec(query).all()
            aggregates = self._aggregates(session, [r.id for r in rows])
            return [self._session_info(session, r, aggregates.get(r.id)) for r in rows]

    def _aggregates(self, session: Session, ids: list[str]) -> dict[str, tuple[int, float | None, int]]:
        if not ids:
            return {}
        answered = func.sum(func.iif(col(TurnRow.answer).is_not(None), 1, 0))
        pending = func.sum(func.iif(TurnRow.state == "pending", 1, 0))
        mean = func.avg(func.iif(col(TurnRow.state).in_(["graded", "skipped"]), TurnRow.score, None))
        rows = session.exec(
            select(TurnRow.session_id, answered, mean, pending).where(col(TurnRow.session_id).in_(ids), col(TurnRow.is_followup).is_(False), col(TurnRow.answer).is_not(None)).group_by(TurnRow.session_id)
        ).all()
        return {sid: (int(a or 0), round(m, 2) if m is not None else None, int(p or 0)) for sid, a, m, p in rows}

    def _session_info(self, session: Session, row: SessionRow, aggregate: tuple[int, float | None, int] | None = None) -> SessionInfo:
        if aggregate is None:
            aggregate = self._aggregates(session, [row.id]).get(row.id, (0, None, 0))
        name = "复习（drill）" if row.profile == DRILL_PROFILE else (self._profile_map()[row.profile].name if row.profile in self._profile_map() else row.profile)
        return SessionInfo(
            id=row.id,
            kind=row.kind,
            profile=row.profile,
            profile_name=name,
            status=SessionStatus(row.status),
            started_at=as_utc(row.started_at),
            finished_at=as_utc(row.finished_at),
            seed=row.seed,
            judge=row.judge,
            question_count=row.question_count,
            answered=aggregate[0],
            mean_score=aggregate[1],
            pending=aggregate[2],
        )

    def resume(self, session_id: str) -> SessionInfo:
        with self.db.session() as session:
            srow = self._session_row(session, session_id)
            if srow.status != SessionStatus.active.value:
                raise EngineError(f"session {srow.id} is {srow.status}; only an active session can be resumed")
            return self._session_info(session, srow)

    def _turn_result(self, session: Session, turn: TurnRow) -> TurnResult:
        question = self.bank.questions.get(turn.question_id)
        rubric = self._rubric_for(turn)
        statements = {k.id: (k.statement, k.weight) for k in rubric.keypoints} if rubric else {}
        claims = {m.id: (m.claim, m.correction) for m in rubric.misconceptions} if rubric else {}
        verdicts = session.exec(select(VerdictRow).where(VerdictRow.turn_id == turn.id).order_by(col(VerdictRow.id))).all()
        hits = session.exec(select(MisconceptionRow).where(MisconceptionRow.turn_id == turn.id)).all()
        run = session.exec(select(JudgeRunRow).where(JudgeRunRow.turn_id == turn.id).order_by(col(JudgeRunRow.id).desc())).first()
        if question is None:
            text = f"（题目 {turn.question_id} 已不在题库中）"
        elif turn.is_followup:
            text = self._followup_text(question, turn.followup_keypoint)
        else:
            text = question.text
        return TurnResult(
            turn_id=turn.id,
            session_id=turn.session_id,
            number=turn.number,
            question_id=turn.question_id,
            question_text=text,
            topic=turn.topic,
            topic_name=self._topic_name(turn.topic),
            is_followup=turn.is_followup,
            followup_keypoint=turn.followup_keypoint,
            answer=turn.answer or "",
            time_limit_s=turn.time_limit_s,
            time_taken_s=turn.time_taken_s or 0.0,
            timed_out=turn.timed_out,
            skipped=turn.skipped,
            hints_used=turn.hints_used,
            hint_penalty=turn.hint_penalty,
            state=GradeState(turn.state),
            score=turn.score,
            raw_score=turn.raw_score,
            verdicts=[
                VerdictView(
                    keypoint_id=v.keypoint_id,
                    statement=statements.get(v.keypoint_id, (v.keypoint_id, v.weight))[0],
                    weight=v.weight,
                    status=v.status,
                    evidence=v.evidence,
                    reason=v.reason,
                    probabilities=json.loads(v.probabilities_json) if v.probabilities_json else None,
                )
                for v in verdicts
            ],
            misconceptions=[
                MisconceptionView(misconception_id=m.misconception_id, claim=claims.get(m.misconception_id, ("", ""))[0], correction=claims.get(m.misconception_id, ("", ""))[1], evidence=m.evidence, penalty=m.penalty)
                for m in hits
            ],
            feedback=turn.feedback,
            reference_answer=rubric.reference_answer if rubric else "",
            flags=json.loads(turn.flags_json),
            ungraded_reason=turn.ungraded_reason,
            judge_backend=run.backend if run else turn.judge_backend,
            judge_model=run.model if run else "",
            fallback_from=run.fallback_from if run else None,
            answer_graded=turn.answer_graded,
            answered_at=as_utc(turn.answered_at),
        )

    def turn(self, turn_id: str) -> TurnResult:
        with self.db.session() as session:
            return self._turn_result(session, self._turn_row(session, turn_id))

    def summary(self, session_id: str) -> SessionSummary:
        with self.db.session() as session:
            srow = self._session_row(session, session_id)
            turns = [self._turn_result(session, t) for t in self._turns(session, srow.id) if t.answer is not None]
            info = self._session_info(session, srow)
        topics = {t.topic for t in turns}
        weakest = [m for m in self.weak_topics() if m.topic in topics][:3]
        weak_ids = [m.topic for m in weakest]
        drill_next = [d for d in self.drill_plan(limit=10) if d.topic in weak_ids or d.reason == "due"][:5]
        return SessionSummary(session=info, turns=turns, time_used_s=round(sum(t.time_taken_s for t in turns), 1), weakest_topics=weakest, drill_next=drill_next)

    # ------------------------------------------------------------------ weak topics, drills, stats
    def weak_topics(self, limit: int | None = None) -> list[TopicMastery]:
        with self.db.session() as session:
            rows = session.exec(select(TopicMasteryRow).where(TopicMasteryRow.attempts > 0).order_by(col(TopicMasteryRow.mastery), col(TopicMasteryRow.topic))).all()
        result = [
            TopicMastery(
                topic=r.topic,
                topic_name=self._topic_name(r.topic),
                mastery=r.mastery,
                attempts=r.attempts,
                last_seen=as_utc(r.last_seen),
                missed_keypoints=json.loads(r.missed_json),
            )
            for r in rows
        ]
        return result[:limit] if limit else result

    def drill_plan(self, *, topic: str | None = None, company: str | None = None, limit: int = 10) -> list[DrillItem]:
        """Due cards first, then seen questions of weak topics (lowest last score first), then unseen ones."""
        if topic and topic not in self.bank.taxonomy.topics:
            raise EngineError(f"unknown topic '{topic}': choose one of {', '.join(self.bank.taxonomy.topics)}")
        if company and company not in self.bank.taxonomy.companies:
            raise EngineError(f"unknown company '{company}': choose one of {', '.join(self.bank.taxonomy.companies)}")
        now = self.clock()
        with self.db.session() as session:
            cards = session.exec(select(DrillCardRow)).all()
        weak = [m.topic for m in self.weak_topics() if m.mastery < 7.0]
        return drills.plan(self.bank, cards, weak, now=now, topic=topic, company=company, limit=limit)

    def stats(self) -> Stats:
        now = self.clock()
        with self.db.session() as session:
            by_state = dict(session.exec(select(TurnRow.state, func.count()).where(col(TurnRow.is_followup).is_(False)).group_by(TurnRow.state)).all())
            answers = sum(n for state, n in by_state.items() if state != "open")
            graded = by_state.get("graded", 0)
            sessions = session.exec(select(func.count()).select_from(SessionRow)).one()
            days = session.exec(select(DailyStatRow).order_by(col(DailyStatRow.day))).all()
            due = session.exec(select(func.count()).select_from(DrillCardRow).where(col(DrillCardRow.due) <= as_utc(now))).one()
        total_answers = sum(d.answers for d in days)
        mean = round(sum(d.score_sum for d in days) / total_answers, 2) if total_answers else None
        trend = [TrendPoint(day=d.day, mean_score=round(d.score_sum / d.answers, 2), answers=d.answers) for d in days if d.answers]
        return Stats(answers=int(answers), graded=int(graded), sessions=int(sessions), mean_score=mean, weak_topics=self.weak_topics(), trend=trend, due_cards=int(due))

    def export(self, session_id: str, fmt: str = "md") -> str:
        from interviewer.engine.export import to_json, to_markdown  # noqa: PLC0415

        summary = self.summary(session_id)
        if fmt == "json":
            return to_json(summary)
        if fmt == "md":
            return to_markdown(summary)
        raise EngineError(f"unknown export format '{fmt}': use md or json")

    def close(self) -> None:
        self.db.close()


__all__ = ["DatabaseError", "Engine", "EngineError"]
