"""Extract interview-question stems from the seed notes (development tool).

The seed notes are Markdown-ish Chinese interview write-ups. A *stem* is a
numbered or bulleted line (or a numbered heading) that ends in a question
mark. This module is used by ``tools/check_seed_coverage.py`` and by people
curating ``question_bank/``; the installed package never needs it.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARK = re.compile(r"(\*\*|\*|__|`|~~)")
_BULLET = re.compile(
    r"^(?:#{1,6}\s*)?(?:[-*+]\s+)?"
    r"(?:(?:\d+(?:\.\d+)*)\s*[.、)）:：]?\s*|[一二三四五六七八九十]+\s*、\s*|[-*+]\s+)"
)
_IS_LISTED = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\d+(?:\.\d+)*\s*[.、)）:：]?|[-*+]\s|[一二三四五六七八九十]+\s*、)"
)
_HEADING = re.compile(r"^(#{1,6})\s*(.+?)\s*$")


def clean(text: str) -> str:
    """Remove links, emphasis, emoji bullets and list numbering from one line."""
    text = _LINK.sub(r"\1", text)
    text = _MARK.sub("", text)
    text = text.replace("💡", "").strip()
    prev = None
    while prev != text:
        prev = text
        text = _BULLET.sub("", text, count=1).strip()
    return text.strip()


def normalise(text: str) -> str:
    """Comparison key: NFKC, lower case, no spaces or punctuation."""
    text = unicodedata.normalize("NFKC", clean(text)).lower()
    return "".join(ch for ch in text if ch.isalnum())


@dataclass(frozen=True)
class Stem:
    file: str
    line: int
    section: str
    raw: str
    text: str


def stems(seed_dir: Path) -> list[Stem]:
    """All question stems of every ``*.txt`` in ``seed_dir``, in file order."""
    found: list[Stem] = []
    for path in sorted(seed_dir.glob("*.txt")):
        section = ""
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            heading = _HEADING.match(stripped)
            if heading and not re.match(r"\d", heading.group(2)):
                section = clean(heading.group(2))
                continue
            if not _IS_LISTED.match(stripped):
                continue
            if not re.search(r"[？?]\s*(?:\*+|_+)?\s*$", stripped):
                continue
            text = clean(stripped)
            if text:
                found.append(Stem(path.name, number, section, stripped, text))
    return found


if __name__ == "__main__":
    seed_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/seeds")
    for stem in stems(seed_dir):
        print(json.dumps(asdict(stem), ensure_ascii=False))
