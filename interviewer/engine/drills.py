"""Spaced repetition with FSRS (the ``fsrs`` package): one card per question.

The judged score maps to a rating: < 4 Again, < 6 Hard, < 8.5 Good, else Easy.
Cards and review logs are stored as fsrs's own JSON. Learning steps are 10
minutes (a question failed tonight comes back later tonight); fuzzing is off so
a review is reproducible.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from fsrs import Card, Rating, Scheduler

from interviewer.bank.loader import Bank
from interviewer.engine.models import DrillItem

SCHEDULER = Scheduler(
    desired_retention=0.9,
    learning_steps=(timedelta(minutes=10),),
    relearning_steps=(timedelta(minutes=10),),
    enable_fuzzing=False,
)


def rating_for(score: float) -> Rating:
    if score < 4.0:
        return Rating.Again
    if score < 6.0:
        return Rating.Hard
    if score < 8.5:
        return Rating.Good
    return Rating.Easy


def review(card_json: str | None, score: float, when: datetime) -> tuple[str, datetime, dict]:
    """Review a card (a new one when ``card_json`` is None): (new card JSON, due, review log as a dict)."""
    card = Card.from_json(card_json) if card_json else Card()
    card, log = SCHEDULER.review_card(card, rating_for(score), review_datetime=when.astimezone(UTC))
    log_dict = json.loads(log.to_json())
    log_dict["rating"] = int(rating_for(score))
    return card.to_json(), card.due, log_dict


class CardLike(Protocol):
    question_id: str
    topic: str
    due: datetime
    last_score: float | None


def as_utc(moment: datetime | None) -> datetime | None:
    """Aware UTC; a naive time is taken to be UTC (sqlmodel already returns stored times aware)."""
    if moment is None:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def plan(
    bank: Bank,
    cards: Iterable[CardLike],
    weak_topics: list[str],
    *,
    now: datetime,
    topic: str | None = None,
    company: str | None = None,
    limit: int = 10,
) -> list[DrillItem]:
    """Due cards first (most overdue first), then seen questions of weak topics (lowest last score
    first), then unseen questions of weak topics; restricted to a topic or company when given.

    With no history at all, unseen questions of the filter (or the whole bank) are offered, easiest first.
    """

    def allowed(qid: str) -> bool:
        question = bank.questions.get(qid)
        if question is None or bank.rubric(qid) is None:
            return False
        return (topic is None or question.topic == topic) and (company is None or company in question.companies)

    def item(qid: str, reason: str, due: datetime | None = None, last: float | None = None) -> DrillItem:
        q = bank.question(qid)
        return DrillItem(question_id=qid, text=q.text, topic=q.topic, topic_name=bank.topic_name(q.topic), reason=reason, due=due, last_score=last)

    cards = [c for c in cards if allowed(c.question_id)]
    chosen: list[DrillItem] = []
    seen_ids = {c.question_id for c in cards}
    due = sorted((c for c in cards if as_utc(c.due) <= now), key=lambda c: as_utc(c.due))
    chosen += [item(c.question_id, "due", as_utc(c.due), c.last_score) for c in due]
    rank = {t: i for i, t in enumerate(weak_topics)}
    taken = {d.question_id for d in chosen}
    weak_seen = sorted(
        (c for c in cards if c.topic in rank and c.question_id not in taken),
        key=lambda c: (rank[c.topic], c.last_score if c.last_score is not None else 0.0, c.question_id),
    )
    chosen += [item(c.question_id, "weak_topic", as_utc(c.due), c.last_score) for c in weak_seen]
    topics = weak_topics or ([topic] if topic else [])
    unseen = [q for q in bank.questions.values() if q.id not in seen_ids and allowed(q.id) and (not topics or q.topic in topics)]
    if not topics:
        unseen = [q for q in bank.questions.values() if q.id not in seen_ids and allowed(q.id)]
    unseen.sort(key=lambda q: (rank.get(q.topic, 99), q.difficulty, q.id))
    chosen += [item(q.id, "unseen") for q in unseen]
    return chosen[:limit]
