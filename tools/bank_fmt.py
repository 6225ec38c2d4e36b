"""Re-emit question_bank/<topic>.yaml files in the canonical layout (development tool).

    python tools/bank_fmt.py question_bank/*.yaml

Keeps the order of questions and fields; lists of numbers/tags stay in flow style.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

FIELDS = ("id", "text", "subtopic", "difficulty", "kind", "companies", "sources")
SOURCE_FIELDS = ("seed", "section", "lines", "quote")


def scalar(value) -> str:
    if isinstance(value, str) and value == "":
        return "''"
    text = yaml.safe_dump(value, allow_unicode=True, width=10**6, default_flow_style=True).strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


def flow(values) -> str:
    return "[" + ", ".join(scalar(v) for v in values) + "]"


def dump_questions(data: dict) -> str:
    out = [f"topic: {data['topic']}", "questions:"]
    for q in data["questions"]:
        first = True
        for key in FIELDS + tuple(k for k in q if k not in FIELDS):
            if key not in q:
                continue
            value = q[key]
            lead = "  - " if first else "    "
            first = False
            if key == "companies":
                if value:
                    out.append(f"{lead}companies: {flow(value)}")
            elif key == "sources":
                out.append(f"{lead}sources:")
                for source in value:
                    inner = True
                    for skey in SOURCE_FIELDS + tuple(k for k in source if k not in SOURCE_FIELDS):
                        if skey not in source:
                            continue
                        slead = "      - " if inner else "        "
                        inner = False
                        sval = source[skey]
                        out.append(f"{slead}{skey}: {flow(sval) if isinstance(sval, list) else scalar(sval)}")
            else:
                out.append(f"{lead}{key}: {scalar(value)}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    for name in sys.argv[1:]:
        path = Path(name)
        if path.name.startswith("_") or path.name == "taxonomy.yaml":
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        text = dump_questions(data)
        assert yaml.safe_load(text) == data, f"round trip changed {path}"
        path.write_text(text, encoding="utf-8")
