"""Load and check the question bank and the rubrics.

Every problem is reported with the file, the line, the question id where there
is one, and how to fix it. ``load_bank`` refuses a bank with problems;
``check_bank`` returns all problems at once (for ``interviewer bank validate``).
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import BaseModel, ValidationError

from interviewer.bank.models import (
    Question,
    QuestionFile,
    Rubric,
    RubricFile,
    Taxonomy,
)

TAXONOMY_FILE = "taxonomy.yaml"
LINE_KEY = "__line__"
KEYPOINTS_MIN, KEYPOINTS_MAX = 3, 7
NEAR_DUPLICATE_RATIO = 90.0


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int | None
    qid: str | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        who = f" [{self.qid}]" if self.qid else ""
        return f"{where}:{who} {self.message}. Fix: {self.fix}"


class BankError(Exception):
    """The bank or the rubrics have problems; ``problems`` lists them all."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        head = f"{len(problems)} problem(s) in the question bank / rubrics:"
        super().__init__("\n".join([head, *(f"  {p}" for p in problems[:50])]))


@dataclass
class Bank:
    taxonomy: Taxonomy
    questions: dict[str, Question]
    rubrics: dict[str, Rubric]
    question_files: dict[str, str] = field(default_factory=dict)  # id -> file name
    question_lines: dict[str, int] = field(default_factory=dict)

    def question(self, qid: str) -> Question:
        try:
            return self.questions[qid]
        except KeyError:
            raise KeyError(f"unknown question id {qid!r} (try `interviewer bank search`)") from None

    def rubric(self, qid: str) -> Rubric | None:
        return self.rubrics.get(qid)

    def topic_name(self, topic: str) -> str:
        found = self.taxonomy.topics.get(topic)
        return found.name if found else topic

    def subtopic_name(self, topic: str, subtopic: str) -> str:
        found = self.taxonomy.topics.get(topic)
        return found.subtopics.get(subtopic, subtopic) if found else subtopic

    def company_name(self, company: str) -> str:
        return self.taxonomy.companies.get(company, company)

    def filter(self, *, topic: str | None = None, company: str | None = None) -> list[Question]:
        return [
            q
            for q in self.questions.values()
            if (topic is None or q.topic == topic) and (company is None or company in q.companies)
        ]


# --------------------------------------------------------------------------- locations


def default_dirs() -> tuple[Path, Path]:
    """Where the shipped data lives: $INTERVIEWER_BANK_DIR / $INTERVIEWER_RUBRIC_DIR, the
    installed package data, or the source tree's folders (editable installs)."""
    env_bank = os.environ.get("INTERVIEWER_BANK_DIR")
    env_rubrics = os.environ.get("INTERVIEWER_RUBRIC_DIR")
    return (
        Path(env_bank) if env_bank else package_data_dir("question_bank"),
        Path(env_rubrics) if env_rubrics else package_data_dir("rubrics"),
    )


def package_data_dir(name: str) -> Path:
    try:
        installed = resources.files(f"interviewer.data.{name}")
        path = Path(str(installed))
        if path.is_dir():
            return path
    except ModuleNotFoundError:
        pass
    source_tree = Path(__file__).resolve().parents[2] / name
    if source_tree.is_dir():
        return source_tree
    raise FileNotFoundError(
        f"cannot find the {name} data: reinstall the package, or set INTERVIEWER_"
        f"{'BANK' if name == 'question_bank' else 'RUBRIC'}_DIR to the folder"
    )


# --------------------------------------------------------------------------- YAML with lines


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader that records each mapping's 1-based line under ``__line__``."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
    mapping[LINE_KEY] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path, label: str, problems: list[Problem]) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(label, None, None, f"cannot read the file ({exc.strerror})", "check the file exists and is readable"))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(label, line, None, "the file is not valid UTF-8", "save the file as UTF-8"))
        return None
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - safe loader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(filter(None, [exc.context, exc.problem]))
        problems.append(
            Problem(label, line, None, f"YAML syntax error: {what}", "fix the indentation or quoting on that line (quote text containing ': ' or starting with a special character)")
        )
    except yaml.YAMLError as exc:
        problems.append(Problem(label, None, None, f"YAML error: {exc}", "fix the YAML syntax"))
    return None


def strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_lines(v) for k, v in value.items() if k != LINE_KEY}
    if isinstance(value, list):
        return [strip_lines(v) for v in value]
    return value


def line_at(value: Any, loc: Iterable[Any]) -> int | None:
    """The line of the deepest mapping on the path ``loc`` inside ``value``."""
    line = value.get(LINE_KEY) if isinstance(value, dict) else None
    for part in loc:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(value, dict) and LINE_KEY in value:
            line = value[LINE_KEY]
    return line


def validation_problems(exc: ValidationError, raw: Any, label: str, qid: str | None, model: type) -> list[Problem]:
    found = []
    allowed = ", ".join(model.model_fields) if hasattr(model, "model_fields") else ""
    for error in exc.errors():
        loc = [p for p in error["loc"]]
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        kind = error["type"]
        if kind == "extra_forbidden":
            message, fix = f"unknown field '{dotted}'", f"remove or rename it (fields here: {_fields_at(model, loc[:-1]) or allowed})"
        elif kind == "missing":
            message, fix = f"missing field '{dotted}'", "add it (see docs/data-format.md)"
        elif kind.startswith("greater_than") or kind.startswith("less_than"):
            message, fix = f"'{dotted}' = {error.get('input')!r}: {error['msg']}", "use a positive number in the allowed range (weights > 0, penalties 0–10, difficulty 1–3)"
        elif kind == "string_pattern_mismatch":
            message, fix = f"'{dotted}' = {error.get('input')!r} is not a valid id", "use lower-case ascii letters, digits and '_', ids as <topic>.<slug>"
        elif kind == "enum":
            message, fix = f"'{dotted}' = {error.get('input')!r}: {error['msg']}", "use one of the listed values"
        else:
            message, fix = f"'{dotted}': {error['msg']}", "correct the value (see docs/data-format.md)"
        found.append(Problem(label, line_at(raw, loc), qid, message, fix))
    return found


def _fields_at(model: type, loc: list[Any]) -> str:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = getattr(current, "model_fields", {}).get(part)
        if info is None:
            return ""
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        current = next((a for a in args if hasattr(a, "model_fields")), annotation)
    return ", ".join(getattr(current, "model_fields", {}))


# --------------------------------------------------------------------------- loading


def _read_topic_file(path: Path, label: str, model: type[QuestionFile] | type[RubricFile], list_key: str, problems: list[Problem]):
    """Parse one ``<topic>.yaml`` (bank or rubrics): (raw mapping with lines, validated header) or None."""
    raw = read_yaml(path, label, problems)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(Problem(label, 1, None, f"the file must be a mapping with 'topic' and '{list_key}'", f"start the file with 'topic: <topic>' and '{list_key}:'"))
        return None
    try:
        header = model.model_validate(strip_lines(raw))
    except ValidationError as exc:
        problems.extend(validation_problems(exc, raw, label, None, model))
        return None
    if header.topic != path.stem:
        problems.append(Problem(label, raw.get(LINE_KEY), None, f"topic '{header.topic}' does not match the file name", f"name the file {header.topic}.yaml or set 'topic: {path.stem}'"))
    return raw, header


def _load(bank_dir: Path, rubric_dir: Path) -> tuple[Bank | None, list[Problem]]:
    problems: list[Problem] = []
    tax_label = f"question_bank/{TAXONOMY_FILE}"
    tax_raw = read_yaml(bank_dir / TAXONOMY_FILE, tax_label, problems)
    if tax_raw is None:
        if not problems:
            problems.append(Problem(tax_label, None, None, "the taxonomy file is empty", "list companies and topics with their subtopics"))
        return None, problems
    try:
        taxonomy = Taxonomy.model_validate(strip_lines(tax_raw))
    except ValidationError as exc:
        problems.extend(validation_problems(exc, tax_raw, tax_label, None, Taxonomy))
        return None, problems

    questions: dict[str, Question] = {}
    files: dict[str, str] = {}
    lines: dict[str, int] = {}
    for path in sorted(bank_dir.glob("*.yaml")):
        if path.name == TAXONOMY_FILE or path.name.startswith("_"):
            continue
        label = f"question_bank/{path.name}"
        loaded = _read_topic_file(path, label, QuestionFile, "questions", problems)
        if loaded is None:
            continue
        raw, qfile = loaded
        if qfile.topic not in taxonomy.topics:
            problems.append(Problem(label, raw.get(LINE_KEY), None, f"unknown topic '{qfile.topic}'", f"add it to question_bank/{TAXONOMY_FILE} or use one of: {', '.join(taxonomy.topics)}"))
            continue
        topic = taxonomy.topics[qfile.topic]
        for index, entry in enumerate(raw.get("questions") or []):
            if not isinstance(entry, dict):
                problems.append(Problem(label, None, None, f"questions[{index}] is not a mapping", "write each question as a mapping with id, text, subtopic, ..."))
                continue
            qid = entry.get("id") if isinstance(entry.get("id"), str) else None
            line = entry.get(LINE_KEY)
            data = strip_lines(entry)
            data.setdefault("topic", qfile.topic)
            try:
                question = Question.model_validate(data)
            except ValidationError as exc:
                problems.extend(validation_problems(exc, entry, label, qid, Question))
                continue
            if question.topic != qfile.topic:
                problems.append(Problem(label, line, qid, f"question says topic '{question.topic}' but lives in {path.name}", f"move it to question_bank/{question.topic}.yaml or drop its 'topic' field"))
            if not question.id.startswith(qfile.topic + "."):
                problems.append(Problem(label, line, qid, f"id '{question.id}' does not start with the topic '{qfile.topic}.'", f"rename it to '{qfile.topic}.{question.id.split('.', 1)[-1]}'"))
            if question.subtopic not in topic.subtopics:
                problems.append(Problem(label, line, qid, f"unknown subtopic '{question.subtopic}' for topic '{qfile.topic}'", f"use one of: {', '.join(topic.subtopics)}; or add it under topics.{qfile.topic}.subtopics in {TAXONOMY_FILE}"))
            for company in question.companies:
                if company not in taxonomy.companies:
                    problems.append(Problem(label, line, qid, f"unknown company tag '{company}'", f"use one of: {', '.join(taxonomy.companies)}; or add it under companies in {TAXONOMY_FILE}"))
            if question.id in questions:
                problems.append(Problem(label, line, qid, f"duplicate question id (also in {files[question.id]}:{lines[question.id]})", "give one of them a different id, or merge them into one question with both sources"))
                continue
            questions[question.id] = question
            files[question.id] = path.name
            lines[question.id] = line

    rubrics = _load_rubrics(rubric_dir, questions, problems)
    bank = Bank(taxonomy, questions, rubrics, files, lines)
    return bank, problems


def _load_rubrics(rubric_dir: Path, questions: dict[str, Question], problems: list[Problem]) -> dict[str, Rubric]:
    rubrics: dict[str, Rubric] = {}
    where: dict[str, str] = {}
    if not rubric_dir.is_dir():
        problems.append(Problem(str(rubric_dir), None, None, "the rubrics folder does not exist", "create it, or point INTERVIEWER_RUBRIC_DIR at it"))
        return rubrics
    for path in sorted(rubric_dir.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        label = f"rubrics/{path.name}"
        loaded = _read_topic_file(path, label, RubricFile, "rubrics", problems)
        if loaded is None:
            continue
        raw, _ = loaded
        for index, entry in enumerate(raw.get("rubrics") or []):
            if not isinstance(entry, dict):
                problems.append(Problem(label, None, None, f"rubrics[{index}] is not a mapping", "write each rubric as a mapping with question, keypoints, reference_answer"))
                continue
            qid = entry.get("question") if isinstance(entry.get("question"), str) else None
            line = entry.get(LINE_KEY)
            try:
                rubric = Rubric.model_validate(strip_lines(entry))
            except ValidationError as exc:
                problems.extend(validation_problems(exc, entry, label, qid, Rubric))
                continue
            problems.extend(_rubric_problems(rubric, entry, label, questions))
            if rubric.question in rubrics:
                problems.append(Problem(label, line, qid, f"second rubric for the same question (first in {where[rubric.question]})", "keep one rubric per question: merge them"))
                continue
            if rubric.question in questions:
                rubrics[rubric.question] = rubric
                where[rubric.question] = label
    return rubrics


def _rubric_problems(rubric: Rubric, raw: dict, label: str, questions: dict[str, Question]) -> list[Problem]:
    qid, line = rubric.question, raw.get(LINE_KEY)
    found = []
    question = questions.get(qid)
    if question is None:
        found.append(Problem(label, line, qid, "rubric for an unknown question", "use the id of an existing question (see `interviewer bank list`), or add the question first"))
        return found
    if question.topic != Path(label).stem:
        found.append(Problem(label, line, qid, f"rubric of a '{question.topic}' question lives in {Path(label).name}", f"move it to rubrics/{question.topic}.yaml"))
    count = len(rubric.keypoints)
    if not KEYPOINTS_MIN <= count <= KEYPOINTS_MAX:
        found.append(Problem(label, line, qid, f"rubric has {count} keypoints", f"give it {KEYPOINTS_MIN}–{KEYPOINTS_MAX} keypoints, each one checkable fact or criterion"))
    for index, keypoint in enumerate(rubric.keypoints):
        kp_line = line_at(raw, ["keypoints", index])
        if not keypoint.aliases:
            found.append(Problem(label, kp_line, qid, f"keypoint '{keypoint.id}' has no aliases", "add short phrases (Chinese and English) an answer covering it would contain; the offline judge needs them"))
        if keypoint.followup is not None and not keypoint.followup.strip():
            found.append(Problem(label, kp_line, qid, f"keypoint '{keypoint.id}' has an empty followup", "write the follow-up question or remove the field"))
    seen: set[str] = set()
    for index, misconception in enumerate(rubric.misconceptions):
        if misconception.id in seen:
            found.append(Problem(label, line_at(raw, ["misconceptions", index]), qid, f"duplicate misconception id '{misconception.id}'", "give each misconception its own id"))
        seen.add(misconception.id)
    statements = [text_key(k.statement) for k in rubric.keypoints]
    if len(set(statements)) != len(statements):
        found.append(Problem(label, line, qid, "two keypoints have the same statement", "merge them or make each say a different fact"))
    return found


def text_key(text: str) -> str:
    """Comparison key for question texts: NFKC, lower case, letters and digits only."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum())


# What a question asks about. Two texts that differ only in their subject are
# near-duplicates; "X 的优点" and "X 的缺点" look alike but ask different things.
ASPECTS: dict[str, tuple[str, ...]] = {
    "why": ("为什么", "为何", "原因", "why"),
    "what": ("什么是", "是什么", "介绍", "指什么", "what"),
    "how": ("如何", "怎么", "咋", "怎样", "how"),
    "pros": ("优点", "优势", "好处"),
    "cons": ("缺点", "劣势", "不足", "局限", "问题"),
    "idea": ("思路", "思想", "原理", "本质"),
    "features": ("特点", "特征"),
    "compare": ("区别", "对比", "异同", "vs", "不同"),
    "formula": ("公式", "推导"),
    "code": ("代码", "实现"),
    "usage": ("使用", "应用", "场景"),
}


def aspects(text: str) -> frozenset[str]:
    key = text_key(text)
    return frozenset(name for name, words in ASPECTS.items() if any(w in key for w in words))


def near_duplicates(questions: Iterable[Question], threshold: float = NEAR_DUPLICATE_RATIO) -> list[tuple[Question, Question, float]]:
    """Pairs of questions whose normalised texts are at least ``threshold`` similar
    and that ask about the same aspects (see ``ASPECTS``)."""
    from rapidfuzz import fuzz, process

    items = list(questions)
    keys = [text_key(q.text) for q in items]
    kinds = [aspects(q.text) for q in items]
    pairs = []
    for i, key in enumerate(keys):
        for _, score, j in process.extract(key, keys[i + 1 :], scorer=fuzz.ratio, score_cutoff=threshold, limit=None):
            if kinds[i] == kinds[i + 1 + j]:
                pairs.append((items[i], items[i + 1 + j], float(score)))
    return pairs


class _BankCache(BaseModel):
    """What a validated bank is cached as (JSON, re-validated by pydantic's fast path)."""

    version: str
    taxonomy: Taxonomy
    questions: list[Question]
    rubrics: list[Rubric]
    question_files: dict[str, str]
    question_lines: dict[str, int]


def _fingerprint(bank_dir: Path, rubric_dir: Path) -> str:
    from interviewer import __version__

    digest = hashlib.blake2b(__version__.encode(), digest_size=16)
    for folder in (bank_dir, rubric_dir):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _cache_dir() -> Path | None:
    if os.environ.get("INTERVIEWER_NO_CACHE"):
        return None
    from interviewer.config import cache_dir  # noqa: PLC0415

    return cache_dir()


def load_bank(bank_dir: Path | None = None, rubric_dir: Path | None = None) -> Bank:
    """Load the bank and the rubrics; raise ``BankError`` naming every problem.

    A bank that validated is cached as JSON keyed by a hash of every file's bytes,
    so later starts skip YAML parsing; any edit to any file misses the cache.
    """
    default_bank, default_rubrics = default_dirs() if bank_dir is None or rubric_dir is None else (bank_dir, rubric_dir)
    bank_dir, rubric_dir = bank_dir or default_bank, rubric_dir or default_rubrics
    cache_dir = _cache_dir()
    cache_file = cache_dir / f"bank-{_fingerprint(bank_dir, rubric_dir)}.json" if cache_dir else None
    if cache_file is not None and cache_file.exists():
        try:
            cached = _BankCache.model_validate_json(cache_file.read_bytes())
        except (ValidationError, OSError):
            pass  # stale or damaged cache: rebuild it below
        else:
            return Bank(
                cached.taxonomy,
                {q.id: q for q in cached.questions},
                {r.question: r for r in cached.rubrics},
                cached.question_files,
                cached.question_lines,
            )
    bank, problems = _load(bank_dir, rubric_dir)
    if problems or bank is None:
        raise BankError(sorted(problems, key=lambda p: (p.file, p.line or 0)))
    if cache_file is not None:
        _write_cache(cache_file, bank)
    return bank


def _write_cache(cache_file: Path, bank: Bank) -> None:
    from interviewer import __version__

    payload = _BankCache(
        version=__version__,
        taxonomy=bank.taxonomy,
        questions=list(bank.questions.values()),
        rubrics=list(bank.rubrics.values()),
        question_files=bank.question_files,
        question_lines={k: v for k, v in bank.question_lines.items() if v is not None},
    )
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        for old in cache_file.parent.glob("bank-*.json"):
            old.unlink(missing_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(payload.model_dump_json(), encoding="utf-8")
        os.replace(tmp, cache_file)
    except OSError:
        pass  # a read-only cache dir only costs speed


def check_bank(bank_dir: Path | None = None, rubric_dir: Path | None = None, *, allowed_pairs: set[frozenset[str]] | None = None) -> tuple[Bank | None, list[Problem]]:
    """Every problem of the bank, including near-duplicate questions (for `bank validate`)."""
    default_bank, default_rubrics = default_dirs() if bank_dir is None or rubric_dir is None else (bank_dir, rubric_dir)
    bank_dir, rubric_dir = bank_dir or default_bank, rubric_dir or default_rubrics
    bank, problems = _load(bank_dir, rubric_dir)
    if bank is not None:
        allowed = allowed_pairs if allowed_pairs is not None else _allowed_pairs(bank_dir, problems)
        for a, b, score in near_duplicates(bank.questions.values()):
            if frozenset((a.id, b.id)) in allowed:
                continue
            problems.append(
                Problem(
                    f"question_bank/{bank.question_files[b.id]}",
                    bank.question_lines.get(b.id),
                    b.id,
                    f"near-duplicate of {a.id} ({score:.0f}% similar: '{a.text}' / '{b.text}')",
                    f"merge them into one question listing both sources, or list the pair [{a.id}, {b.id}] in question_bank/{DISTINCT_FILE} if they really differ",
                )
            )
    return bank, sorted(problems, key=lambda p: (p.file, p.line or 0))


DISTINCT_FILE = "_distinct.yaml"


def _allowed_pairs(bank_dir: Path, problems: list[Problem]) -> set[frozenset[str]]:
    """Pairs of similar-looking questions a person has reviewed as different questions."""
    path = bank_dir / DISTINCT_FILE
    if not path.exists():
        return set()
    raw = read_yaml(path, f"question_bank/{DISTINCT_FILE}", problems)
    pairs: set[frozenset[str]] = set()
    for entry in (raw or {}).get("distinct", []) if isinstance(raw, dict) else []:
        if isinstance(entry, list) and len(entry) == 2 and all(isinstance(x, str) for x in entry):
            pairs.add(frozenset(entry))
        else:
            problems.append(Problem(f"question_bank/{DISTINCT_FILE}", None, None, f"entry {entry!r} is not a pair of ids", "write each entry as [id_a, id_b]"))
    return pairs
