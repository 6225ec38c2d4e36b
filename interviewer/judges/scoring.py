"""The score, computed in code from keypoint verdicts; never stated by a model."""

from __future__ import annotations

from collections.abc import Iterable

from interviewer.bank.models import Rubric
from interviewer.judges.models import KeypointVerdict, MisconceptionHit, Status


def score(rubric: Rubric, verdicts: Iterable[KeypointVerdict], misconceptions: Iterable[MisconceptionHit] = ()) -> float:
    """10 × Σ weight·credit / Σ weight − Σ penalties, clipped to [0, 10], rounded to 0.1.

    Credit is 1 for covered, 0.5 for partial, 0 for missing; a keypoint without a
    verdict counts as missing; each misconception is penalised once.
    """
    by_id = {v.keypoint_id: v.status for v in verdicts}
    total = rubric.total_weight
    earned = sum(k.weight * by_id.get(k.id, Status.missing).credit for k in rubric.keypoints)
    penalties = {m.misconception_id: m.penalty for m in misconceptions}
    raw = 10.0 * earned / total - sum(penalties.values())
    return round(min(10.0, max(0.0, raw)), 1)
