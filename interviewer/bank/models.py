"""Plain models of the question bank and the rubrics (the schema of the YAML files).

See docs/data-format.md for the human-facing description of these files.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

ID_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+)+$"
SLUG_PATTERN = r"^[a-z0-9_]+$"

QuestionId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Kind(str, Enum):
    concept = "concept"
    formula = "formula"
    code = "code"
    practical = "practical"
    open = "open"


class Source(_Strict):
    seed: Text
    section: str = ""
    lines: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)
    quote: Text


class Question(_Strict):
    id: QuestionId
    text: Text
    topic: Slug
    subtopic: Slug
    difficulty: Annotated[int, Field(ge=1, le=3)]
    kind: Kind
    companies: list[Slug] = Field(default_factory=list)
    sources: list[Source] = Field(min_length=1)


class QuestionFile(_Strict):
    """One ``question_bank/<topic>.yaml``. Questions inherit the file's topic."""

    topic: Slug
    questions: list[dict] = Field(default_factory=list)


class Keypoint(_Strict):
    id: Slug
    statement: Text
    weight: Annotated[float, Field(gt=0)]
    aliases: list[Text] = Field(default_factory=list)
    covered: Text
    partial: Text
    followup: str | None = None


class Misconception(_Strict):
    id: Slug
    claim: Text
    correction: Text
    penalty: Annotated[float, Field(gt=0, le=10)]
    aliases: list[Text] = Field(default_factory=list)


class RubricStyle(str, Enum):
    facts = "facts"
    criteria = "criteria"


class Rubric(_Strict):
    question: QuestionId
    style: RubricStyle = RubricStyle.facts
    keypoints: list[Keypoint] = Field(min_length=1)
    misconceptions: list[Misconception] = Field(default_factory=list)
    reference_answer: Text

    @field_validator("keypoints")
    @classmethod
    def _unique_keypoints(cls, keypoints: list[Keypoint]) -> list[Keypoint]:
        seen: set[str] = set()
        for keypoint in keypoints:
            if keypoint.id in seen:
                raise ValueError(f"duplicate keypoint id {keypoint.id!r}: give each keypoint its own id")
            seen.add(keypoint.id)
        return keypoints

    @property
    def total_weight(self) -> float:
        return sum(k.weight for k in self.keypoints)

    def keypoint(self, keypoint_id: str) -> Keypoint:
        for keypoint in self.keypoints:
            if keypoint.id == keypoint_id:
                return keypoint
        raise KeyError(keypoint_id)


class RubricFile(_Strict):
    topic: Slug
    rubrics: list[dict] = Field(default_factory=list)


class Topic(_Strict):
    name: Text
    subtopics: dict[Slug, Text]


class Taxonomy(_Strict):
    companies: dict[Slug, Text]
    topics: dict[Slug, Topic]


def slug_ok(value: str) -> bool:
    return re.match(SLUG_PATTERN, value) is not None
