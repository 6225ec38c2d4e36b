"""Check that every question stem of the seed notes is in the bank (development tool).

A stem (see seed_stems.py) is covered when a bank question matches it: the same
text after normalisation, or rapidfuzz ratio >= 90 against the question's text or
one of the quotes in its sources. A stem listed in question_bank/_exclusions.yaml
is excluded with a reason. Everything else is reported, and the exit code is 1.

    python tools/check_seed_coverage.py [SEED_DIR] [--bank-dir DIR] [--verbose]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_stems import normalise, stems  # noqa: E402

from interviewer.bank.loader import check_bank, default_dirs  # noqa: E402

THRESHOLD = 90.0
EXCLUSIONS = "_exclusions.yaml"


def load_exclusions(bank_dir: Path) -> dict[tuple[str, int], str]:
    path = bank_dir / EXCLUSIONS
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    excluded = {}
    for entry in data.get("exclusions", []):
        for line in entry["lines"]:
            excluded[(entry["seed"], int(line))] = entry["reason"]
    return excluded


def coverage(seed_dir: Path, bank_dir: Path, rubric_dir: Path) -> tuple[Counter, list]:
    bank, _problems = check_bank(bank_dir, rubric_dir)
    if bank is None:
        raise SystemExit("the bank does not load: run `interviewer bank validate`")
    keys: list[str] = []
    owners: list[str] = []
    provenance: dict[tuple[str, int], str] = {}
    for q in bank.questions.values():
        keys.append(normalise(q.text))
        owners.append(q.id)
        for source in q.sources:
            keys.append(normalise(source.quote))
            owners.append(q.id)
            for line in source.lines:
                provenance[(source.seed, line)] = q.id
    exact = {k: o for k, o in zip(keys, owners)}
    excluded = load_exclusions(bank_dir)
    counts: Counter = Counter()
    unmatched = []
    for stem in stems(seed_dir):
        key = normalise(stem.text)
        if (stem.file, stem.line) in excluded:
            counts["excluded"] += 1
        elif key in exact:
            counts["same after normalisation"] += 1
        elif (best := process.extractOne(key, keys, scorer=fuzz.ratio, score_cutoff=THRESHOLD)) is not None:
            counts[f"fuzzy >= {THRESHOLD:g}"] += 1
        else:
            unmatched.append((stem, provenance.get((stem.file, stem.line))))
            counts["unmatched"] += 1
    return counts, unmatched


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seed_dir", nargs="?", default="../shared/seeds", type=Path)
    parser.add_argument("--bank-dir", type=Path)
    parser.add_argument("--rubric-dir", type=Path)
    args = parser.parse_args()
    default_bank, default_rubrics = default_dirs()
    counts, unmatched = coverage(args.seed_dir, args.bank_dir or default_bank, args.rubric_dir or default_rubrics)
    total = sum(counts.values())
    print(f"stems in the notes: {total}")
    for name in ("same after normalisation", f"fuzzy >= {THRESHOLD:g}", "excluded", "unmatched"):
        print(f"  {name}: {counts.get(name, 0)}")
    for stem, owner in unmatched:
        hint = f" (cited by {owner}, but its text and quotes differ)" if owner else ""
        print(f"UNMATCHED {stem.file}:{stem.line}: {stem.text}{hint}")
    return 1 if unmatched else 0


if __name__ == "__main__":
    raise SystemExit(main())
