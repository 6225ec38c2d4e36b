"""The candidate's answer is untrusted data: normalise it and find attempts to instruct the grader.

``prepare_answer`` returns the normalised text (what evidence spans refer to), a
redacted copy for judges (flagged spans replaced by a marker, so an injection is
never read as part of the answer and can never serve as evidence), and the
flagged spans with their kind.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass, field

from interviewer.judges.models import InjectionSpan

MAX_ANSWER_CHARS = 6000
REDACTION = "〔已移除：疑似评分指令〕"

_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x200B, 0x2010))  # zero-width space/joiners, LRM, RLM
    + list(range(0x202A, 0x202F))  # bidi embeddings and overrides
    + list(range(0x2060, 0x2070))  # word joiner, invisible operators, bidi isolates
    + list(range(0xE0000, 0xE0080)),  # tag characters
    None,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Each pattern names what it catches. Patterns run on the normalised, lower-cased text.
_PATTERNS: list[tuple[str, str]] = [
    ("override", r"(忽略|无视|忘记|忘掉|不要管|跳过)(掉)?(以上|之前|前面|上面|上述|所有|全部|参考|其他)?[^。！？\n]{0,12}(指令|指示|规则|要求|要点|标准|细则|rubric|提示)"),
    ("override", r"ignore\s+(all\s+|any\s+)?(the\s+)?(previous|prior|above|earlier|preceding|reference|rubric)\b[^.\n]{0,30}"),
    ("override", r"disregard\s+(all\s+|the\s+)?(previous|prior|above|rubric|instructions)"),
    ("score_request", r"(请|麻烦|务必|直接|应|应该|需|需要|可以|就)[^。！？\n]{0,16}(给|打|判|评|输出|记|算|视为|判定|判为|采用)[^。！？\n]{0,8}(满分|10\s*分|十分|最高分|高分|满分档|10\b|score)"),
    ("score_request", r"(满分|10\s*分|十分|最高分)[^。！？\n]{0,6}(吧|谢谢|拜托|求求|🙏)"),
    ("score_request", r"(assign|give|award|output|grant|return)\s+(me\s+|this\s+(answer|response)\s+)?(the\s+|a\s+)?(maximum|max|full|perfect|highest|top)?\s*(score|marks|grade|points)"),
    ("score_request", r"\b(score|grade|rating)\s+(of\s+)?10\b"),
    ("forged_score", r"[\"']?(score|得分|分数|评分|grade|rating|总分)[\"']?\s*[:=：]\s*[\"']?(10|十|满分)"),
    ("forged_score", r"\[\[\s*10\s*\]\]|(得分|分数|评分|score|grade|rating|总分)(结果|result)?\s*[:：]?\s*10\s*/\s*10\b|<\s*/?\s*(grade|score|answer|rubric|judge|verdict)\s*>"),
    ("forged_score", r"[\"']?(coverage|verdict|status)[\"']?\s*:\s*[\"']?(all|covered|full)"),
    # Grader words are ordinary in answers about reward models and evaluation ("打分模型", "评分标准"):
    # they count only when the answer addresses the grader or claims the rules changed.
    ("fake_authority", r"(阅卷|判卷)(老师|人员|官|系统)"),
    ("fake_authority", r"(评分|打分)(系统|老师|模型|人员|官)[^。！？\n]{0,4}(请|注意|备注|提示|须知|[:：])"),
    ("fake_authority", r"(评分|阅卷)(规则|细则|标准)[^。！？\n]{0,8}(已更新|已修改|已变更|第\s*[\d一二三四五六七八九十.]+\s*条|规定[^。！？\n]{0,6}(满分|10))"),
    ("fake_authority", r"(已|经过?)(复核|审核|核实|验证|认证|批准|确认)[^。！？\n]{0,10}(满分|正确|通过)"),
    ("fake_authority", r"(note|message|instruction)s?\s+(to|for)\s+(the\s+)?(ai|grader|grading|evaluator|judge|model|llm|assistant)"),
    ("fake_authority", r"(pre-?approved|verified by|approved by|hiring committee|calibration sample|校准样本|标准分为)"),
    ("fake_authority", r"(grader|grading|evaluator)\s*(note|notice)"),
    # Chat-template tokens count only when used as a turn boundary (a candidate may well *mention* <|im_start|>).
    ("fake_turn", r"^[ \t]*(<\|?\s*(im_start|im_end|system|assistant|user|endoftext|eot_id|start_header_id)\s*\|?>|\[/?inst\]|<<\s*/?sys\s*>>)"),
    ("fake_turn", r"<\|?(im_start|start_header_id)\|?>\s*(system|assistant|developer)\b"),
    ("fake_turn", r"<\|?(im_end|eot_id|endoftext)\|?>[ \t]*$"),
    ("fake_turn", r"^[ \t]*(#{1,4}[ \t]*)?(system|assistant|developer)[ \t]*[:：]"),
    ("fake_turn", r"[\[【(（]\s*(系统提示|系统消息|系统|system|管理员|admin)\s*[\]】)）]"),
    ("fake_turn", r"(you are now|from now on you|你现在是|从现在起你)"),
    ("fake_turn", r"系统提示\s*[:：]|system prompt\s*[:：]"),
    ("self_claim", r"(以上|上述|本回答|我的回答|此回答)[^。！？\n]{0,8}(已|都|均)?(全部|完整|完全)?(覆盖|涵盖|包含)[^。！？\n]{0,6}(要点|关键点|得分点|全部)"),
    ("self_claim", r"(我|本回答)(已经?)?(覆盖|涵盖|答到)了?(要点|全部要点|所有要点)"),
    ("self_claim", r"(无需|不必|不用)(逐条|逐一|再)?(核对|检查|评分|对照)"),
    ("keyword_list", r"(关键词|关键字|keywords?)\s*[:：]"),
    ("feedback_hijack", r"(在|于)?(反馈|评语|点评|feedback)(中|里|里面)?(写|输出|说|填)"),
    ("rubric_leak", r"(先|请|直接)(输出|打印|显示|告诉我|列出)[^。！？\n]{0,6}(评分标准|评分细则|参考答案|rubric|要点列表|system prompt)"),
    ("pressure", r"(高抬贵手|求求|拜托了|跪求|对我很重要|可怜|行行好)"),
    ("html_comment", r"<!--.*?-->"),
]
_COMPILED = [(kind, re.compile(pattern, re.IGNORECASE | re.DOTALL | re.MULTILINE)) for kind, pattern in _PATTERNS]
_SENTENCE_END = "。！？!?\n；;"
_BRACKETS = {"（": "）", "(": ")", "【": "】", "[": "]", "<": ">", "「": "」", "《": "》", "{": "}"}
_ENGLISH_STOP = re.compile(r"\.(?=\s|$|[^\x00-\x7f])")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
_SPACED = re.compile(r"\b(?:[a-z]\s{1,2}){4,}[a-z]\b", re.IGNORECASE)
_SQUEEZED = re.compile(r"ignore|score|system|noteto|grader|evaluator|fullmarks|maximum|满分")


class Compact:
    """``text`` lower-cased without whitespace, with a map back to positions in ``text``.

    Matching on characters without spaces is how Chinese (and mixed) text is
    compared: "B 矩阵初始化为 0" and "B矩阵初始化为0" are the same words."""

    def __init__(self, text: str):
        chars, positions = [], []
        for index, ch in enumerate(text.lower()):
            if not ch.isspace():
                chars.append(ch)
                positions.append(index)
        self.text = "".join(chars)
        self.positions = positions

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Positions in the original text of compact characters [start, end)."""
        return self.positions[start], self.positions[end - 1] + 1


def compact_key(text: str) -> str:
    """Rubric terms are normalised like answers (NFKC: ² -> 2, ᵀ -> T) before matching."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


@dataclass(frozen=True)
class PreparedAnswer:
    original: str
    normalised: str  # evidence spans are substrings of this
    redacted: str  # what a judge reads
    injections: list[InjectionSpan] = field(default_factory=list)
    truncated: bool = False
    binary: bool = False

    @property
    def content_chars(self) -> int:
        """Letters, digits and CJK characters outside flagged spans."""
        return sum(1 for ch in self.redacted.replace(REDACTION, "") if ch.isalnum())

    def inside_injection(self, start: int, end: int) -> bool:
        return any(start < span.end and span.start < end for span in self.injections)


def normalise(text: str | bytes, max_chars: int = MAX_ANSWER_CHARS) -> tuple[str, bool, bool]:
    """NFKC, no invisible/bidi/control characters, at most ``max_chars``.
    Returns (text, truncated, looked_binary)."""
    binary = False
    if isinstance(text, bytes):
        decoded = text.decode("utf-8", errors="replace")
        binary = decoded.count("\ufffd") > max(8, len(decoded) // 20)
        text = decoded
    if "\x00" in text:
        binary = True
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(_INVISIBLE)
    text = _CONTROL.sub("", text).replace("\ufffd", "")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"\n{4,}", "\n\n\n", text).strip()
    truncated = len(text) > max_chars
    if truncated:
        text = text[:max_chars]
    return text, truncated, binary


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) to the enclosing bracket if it is short, else to the sentence."""
    for open_, close in _BRACKETS.items():
        left = text.rfind(open_, max(0, start - 80), start + 1)
        if left != -1:
            right = text.find(close, end - 1, end + 200)
            if right != -1 and text.find(close, left + 1, start) == -1:
                return left, right + 1
    stops = [m.start() for m in _ENGLISH_STOP.finditer(text)]
    left = max([text.rfind(ch, 0, start) for ch in _SENTENCE_END] + [i for i in stops if i < start], default=-1) + 1
    rights = [i for i in (text.find(ch, end) for ch in _SENTENCE_END) if i != -1] + [i for i in stops if i >= end]
    right = min(rights) + 1 if rights else len(text)
    return left, right


def _decoded_base64_hits(text: str) -> list[tuple[int, int]]:
    hits = []
    for match in _BASE64.finditer(text):
        chunk = match.group(0)
        try:
            decoded = base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if any(pattern.search(decoded.lower()) for _, pattern in _COMPILED) or re.search(r"(score|ignore|满分|忽略|10)", decoded, re.IGNORECASE):
            hits.append(match.span())
    return hits


def find_injections(text: str) -> list[InjectionSpan]:
    """Flagged spans of ``text`` (already normalised), widened to their sentence, merged."""
    raw: list[tuple[int, int, str]] = []
    lowered = text.lower()
    for kind, pattern in _COMPILED:
        for match in pattern.finditer(lowered):
            raw.append((match.start(), match.end(), kind))
    for start, end in _decoded_base64_hits(text):
        raw.append((start, end, "base64"))
    for match in _SPACED.finditer(lowered):
        squeezed = re.sub(r"\s", "", match.group(0))
        if any(pattern.search(squeezed) for _, pattern in _COMPILED) or _SQUEEZED.search(squeezed):
            raw.append((match.start(), match.end(), "obfuscated"))
    spans: list[list] = []
    for start, end, kind in sorted(raw):
        if kind != "html_comment":
            start, end = _sentence(text, start, end)
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
            if kind not in spans[-1][2]:
                spans[-1][2].append(kind)
        else:
            spans.append([start, end, [kind]])
    return [InjectionSpan(start=s, end=e, kind="+".join(k), text=text[s:e]) for s, e, k in spans]


def prepare_answer(answer: str | bytes, max_chars: int = MAX_ANSWER_CHARS) -> PreparedAnswer:
    normalised, truncated, binary = normalise(answer, max_chars)
    injections = find_injections(normalised)
    pieces, cursor = [], 0
    for span in injections:
        pieces.append(normalised[cursor : span.start])
        pieces.append(REDACTION)
        cursor = span.end
    pieces.append(normalised[cursor:])
    original = answer.decode("utf-8", errors="replace") if isinstance(answer, bytes) else answer
    return PreparedAnswer(original, normalised, "".join(pieces), injections, truncated, binary)
