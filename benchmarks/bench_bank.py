"""Print how long loading the whole question bank and all rubrics takes.

    python benchmarks/bench_bank.py [--repeat N]

'cold' is a fresh interpreter (imports included, what the app pays at start);
'warm' repeats load_bank() in one process. Target: <= 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COLD = "import time; t=time.perf_counter(); from interviewer.bank.loader import load_bank; b=load_bank(); print((time.perf_counter()-t)*1000, len(b.questions), len(b.rubrics))"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    cold = []
    for _ in range(args.repeat):
        out = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, check=True).stdout.split()
        cold.append(float(out[0]))
        questions, rubrics = out[1], out[2]
    from interviewer.bank.loader import load_bank

    warm = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        load_bank()
        warm.append((time.perf_counter() - start) * 1000)
    print(f"bank: {questions} questions, {rubrics} rubrics")
    print(f"cold load (imports + parse + validate): p50 {statistics.median(cold):.1f} ms, max {max(cold):.1f} ms over {args.repeat} runs")
    print(f"warm load (parse + validate):           p50 {statistics.median(warm):.1f} ms, max {max(warm):.1f} ms over {args.repeat} runs")


if __name__ == "__main__":
    main()
