"""Stats over a large history: generates N stored answers (default 100,000) and times the reads.

    python benchmarks/bench_stats.py [--answers 100000] [--db PATH]

Answers are bulk-inserted (with 5 keypoint verdicts each, fsrs-like drill cards
and per-day sums built by the same SQL the schema migration uses), then topic
mastery is computed by the engine itself. Prints the time of `Engine.stats()`,
`weak_topics()`, `sessions(limit=50)`, `drill_plan()` and a session summary.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from interviewer.bank.loader import load_bank
from interviewer.engine import Engine
from interviewer.engine.drills import review


def populate(engine: Engine, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    bank = engine.bank
    qids = sorted(bank.rubrics)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    per_session = 6
    sessions, turns, verdicts = [], [], []
    cards: dict[str, tuple] = {}
    for s in range(n // per_session + 1):
        sid = f"s{s:07d}"
        when = start + timedelta(minutes=15 * s)
        sessions.append((sid, "round", "general", "finished", s, "offline", per_session, "[]", 1800, when.isoformat(" "), (when + timedelta(minutes=20)).isoformat(" ")))
        for k in range(per_session):
            i = s * per_session + k
            if i >= n:
                break
            qid = rng.choice(qids)
            score = round(rng.uniform(0, 10), 1)
            at = when + timedelta(minutes=3 * k)
            tid = f"t{i:08d}"
            turns.append((tid, sid, k + 1, k + 1, qid, bank.question(qid).topic, 0, 180, at.isoformat(" "), "回答", 60.0, 0, 0, 0, 0.0, "graded", score, score, "", '["offline_estimate"]', "回答", "offline"))
            for kp in bank.rubric(qid).keypoints[:5]:
                verdicts.append((tid, kp.id, rng.choice(["covered", "partial", "missing"]), "", "", kp.weight))
            cards[qid] = (qid, bank.question(qid).topic, score, at)
    with engine.db.engine.begin() as conn:
        raw = conn.connection.driver_connection
        raw.executemany("INSERT INTO session (id, kind, profile, status, seed, judge, question_count, plan_json, total_time_s, started_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", sessions)
        raw.executemany(
            "INSERT INTO turn (id, session_id, seq, number, question_id, topic, is_followup, time_limit_s, answered_at, answer, time_taken_s, timed_out, skipped, hints_used, hint_penalty, state, score, raw_score, feedback, flags_json, answer_graded, judge_backend) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            turns,
        )
        raw.executemany("INSERT INTO verdict (turn_id, keypoint_id, status, evidence, reason, weight) VALUES (?,?,?,?,?,?)", verdicts)
        for qid, topic, score, at in cards.values():
            card_json, due, _log = review(None, score, at)
            raw.execute("INSERT INTO drill_card (question_id, topic, card_json, due, last_score, reviews) VALUES (?,?,?,?,?,1)", (qid, topic, card_json, due.isoformat(" "), score))
        conn.execute(text(
            "INSERT INTO daily_stat (day, score_sum, answers) SELECT substr(answered_at, 1, 10), SUM(score), COUNT(*) FROM turn "
            "WHERE state = 'graded' AND is_followup = 0 GROUP BY substr(answered_at, 1, 10)"
        ))
    with engine.db.session() as session:
        for topic in bank.taxonomy.topics:
            engine._update_mastery(session, topic)  # noqa: SLF001 - the engine's own mastery code


def timed(call, repeat: int = 20) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), max(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    path = args.db or Path(folder.name) / "bench.db"
    bank = load_bank()
    engine = Engine(path, bank=bank)
    t0 = time.perf_counter()
    populate(engine, args.answers)
    print(f"generated {args.answers} answers in {time.perf_counter() - t0:.1f} s  ({path.stat().st_size / 1e6:.0f} MB)")
    engine.close()
    engine = Engine(path, bank=bank)  # a cold engine, as when the app starts
    stats = engine.stats()
    assert stats.answers == args.answers, stats.answers
    results = {
        "stats": timed(engine.stats),
        "weak_topics": timed(engine.weak_topics),
        "sessions(limit=50)": timed(lambda: engine.sessions(limit=50)),
        "drill_plan(limit=10)": timed(lambda: engine.drill_plan(limit=10)),
        "summary(one session)": timed(lambda: engine.summary("s0000100")),
    }
    for name, (median, worst) in results.items():
        print(f"{name:24s} median {median:7.2f} ms   max {worst:7.2f} ms")
    print(json.dumps({"answers": args.answers, "stats_ms_median": round(results["stats"][0], 2), "stats_ms_max": round(results["stats"][1], 2)}))
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
