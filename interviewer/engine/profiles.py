"""Company-style interview profiles (``profiles/*.yaml``) and the question picker.

A profile says how many questions, which topics weigh how much, what share comes
from the company's own tagged questions, the difficulty per position, time
limits per question kind, the total budget, the follow-up policy and the
interviewer's lines. ``pick_questions`` turns a profile and a seed into the
questions of one round.

Reproducibility: the same profile, bank and seed give the same questions. When
the caller passes ``recent`` (question ids seen lately), those are made less
likely; the CLI and the app pass it only when the user did not ask for a seed.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from interviewer.bank.loader import Bank, BankError, Problem, package_data_dir, read_yaml, strip_lines, validation_problems
from interviewer.bank.models import Kind, Question

RECENT_FACTOR = 0.15  # a recently seen question is this much less likely
DIFFICULTY_FACTOR = {0: 1.0, 1: 0.35, 2: 0.08}


class FollowupPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    probability: float = Field(default=0.5, ge=0, le=1)  # chance to follow up when a keypoint was missed
    max_per_question: int = Field(default=1, ge=0, le=3)
    max_total: int = Field(default=2, ge=0, le=10)
    min_weight: float = Field(default=2, gt=0)  # only keypoints at least this heavy are followed up


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    company: str | None = None
    description: str = ""
    question_count: int = Field(ge=1, le=30)
    own_company_share: float = Field(default=0.0, ge=0, le=1)
    topic_weights: dict[str, float] = Field(default_factory=dict)
    default_topic_weight: float = Field(default=0.0, ge=0)  # for topics not listed
    difficulty_curve: list[int] = Field(default_factory=list)
    time_limits_s: dict[Kind, int]
    total_time_s: int = Field(ge=60)
    followups: FollowupPolicy = Field(default_factory=FollowupPolicy)
    hint_penalty: float = Field(default=1.0, ge=0, le=5)
    opening_line: str
    tone: str = ""
    transitions: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> "Profile":
        if self.difficulty_curve and len(self.difficulty_curve) != self.question_count:
            raise ValueError(f"difficulty_curve has {len(self.difficulty_curve)} entries for {self.question_count} questions: give one per question")
        if any(d not in (1, 2, 3) for d in self.difficulty_curve):
            raise ValueError("difficulty_curve entries must be 1, 2 or 3")
        missing = [k.value for k in Kind if k not in self.time_limits_s]
        if missing:
            raise ValueError(f"time_limits_s lacks {', '.join(missing)}: give a limit for every question kind")
        if any(v < 1 for v in self.time_limits_s.values()):
            raise ValueError("time limits must be at least 1 second")
        if not self.topic_weights and self.default_topic_weight <= 0:
            raise ValueError("no topic can be asked: list topic_weights or set default_topic_weight > 0")
        return self

    def time_limit(self, kind: Kind | str) -> int:
        return self.time_limits_s[Kind(kind)]

    def difficulty_at(self, position: int) -> int | None:
        return self.difficulty_curve[position] if position < len(self.difficulty_curve) else None

    def topic_weight(self, topic: str) -> float:
        return self.topic_weights.get(topic, self.default_topic_weight)


def profiles_dir() -> Path:
    env = os.environ.get("INTERVIEWER_PROFILE_DIR")
    return Path(env) if env else package_data_dir("profiles")


def load_profiles(bank: Bank, directory: Path | None = None) -> dict[str, Profile]:
    """Every ``*.yaml`` profile, checked against the bank's taxonomy; BankError lists all problems."""
    directory = directory or profiles_dir()
    problems: list[Problem] = []
    profiles: dict[str, Profile] = {}
    for path in sorted(directory.glob("*.yaml")):
        label = path.name
        raw = read_yaml(path, label, problems)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            problems.append(Problem(label, 1, None, "a profile must be a mapping", "see profiles/general.yaml for the fields"))
            continue
        try:
            profile = Profile.model_validate(strip_lines(raw))
        except ValidationError as exc:
            problems.extend(validation_problems(exc, raw, label, None, Profile))
            continue
        line = raw.get("__line__")
        if profile.id != path.stem:
            problems.append(Problem(label, line, None, f"profile id '{profile.id}' does not match the file name", f"name the file {profile.id}.yaml or set 'id: {path.stem}'"))
        unknown = [t for t in profile.topic_weights if t not in bank.taxonomy.topics]
        if unknown:
            problems.append(Problem(label, line, None, f"unknown topics in topic_weights: {', '.join(unknown)}", f"use topics of question_bank/taxonomy.yaml: {', '.join(bank.taxonomy.topics)}"))
        if profile.company and profile.company not in bank.taxonomy.companies:
            problems.append(Problem(label, line, None, f"unknown company '{profile.company}'", f"use one of {', '.join(bank.taxonomy.companies)}"))
        profiles[profile.id] = profile
    if problems:
        raise BankError(problems)
    if not profiles:
        raise BankError([Problem(str(directory), None, None, "no profiles found", "add at least profiles/general.yaml")])
    return profiles


def _weighted_pick(rng: random.Random, items: list[Question], weights: list[float]) -> Question | None:
    total = sum(weights)
    if total <= 0:
        return None
    target = rng.random() * total
    acc = 0.0
    for item, weight in zip(items, weights):
        acc += weight
        if target < acc:
            return item
    return items[-1]


def pick_questions(
    profile: Profile,
    bank: Bank,
    seed: int,
    *,
    recent: set[str] | frozenset[str] = frozenset(),
    count: int | None = None,
) -> list[Question]:
    """The main questions of one round, in order. Only questions with a rubric are asked."""
    rng = random.Random(f"{profile.id}:{seed}")
    count = count or profile.question_count
    pool = sorted((q for q in bank.questions.values() if bank.rubric(q.id) is not None), key=lambda q: q.id)
    own = [q for q in pool if profile.company and profile.company in q.companies]
    own_slots = set(rng.sample(range(count), k=min(len(own), round(count * profile.own_company_share)))) if own else set()
    chosen: list[Question] = []
    taken: set[str] = set()
    for position in range(count):
        candidates = own if position in own_slots else pool
        target = profile.difficulty_at(position)
        items, weights = [], []
        for q in candidates:
            if q.id in taken:
                continue
            weight = profile.topic_weight(q.topic) if position not in own_slots else max(profile.topic_weight(q.topic), 1.0)
            if target is not None:
                weight *= DIFFICULTY_FACTOR[abs(q.difficulty - target)]
            if q.id in recent:
                weight *= RECENT_FACTOR
            if weight > 0:
                items.append(q)
                weights.append(weight)
        picked = _weighted_pick(rng, items, weights)
        if picked is None and candidates is own:  # the company's questions ran out: take from the whole profile
            items = [q for q in pool if q.id not in taken and profile.topic_weight(q.topic) > 0]
            picked = _weighted_pick(rng, items, [profile.topic_weight(q.topic) for q in items])
        if picked is None:
            break
        chosen.append(picked)
        taken.add(picked.id)
    return chosen
