"""Startup of the TUI: from process start to the first frame, and to the home screen filled in.

Each run starts a fresh Python process inside a pseudo-terminal (as a terminal
would run `interviewer`), with empty data and config folders. The child runs the
real app class with a small hook that records wall-clock times when the first
frame has been painted (after the first refresh of the home screen) and when the
engine has loaded the bank and profiles; then it exits. The parent measures from
just before it spawns the process.

    .venv/bin/python benchmarks/bench_tui_startup.py [--runs 5]

Prints one line per run and the median. Target: first frame <= 0.8 s.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
out = sys.argv[1]
from tui.app import InterviewerApp

class Probe(InterviewerApp):
    marks = {}

    def on_mount(self):
        super().on_mount()
        self.call_after_refresh(self._first_frame)
        self.set_interval(0.01, self._check_ready)

    def _first_frame(self):
        self.marks.setdefault("first_frame", time.time())
        self.marks["modules_at_first_frame"] = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "sqlalchemy", "textual_plotext", "openai"))

    def _check_ready(self):
        if self.ready and "first_frame" in self.marks:
            self.marks.setdefault("ready", time.time())
            self.call_after_refresh(self.exit)

app = Probe()
app.run()
with open(out, "w") as f:
    json.dump(app.marks, f)
"""


def one_run() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "INTERVIEWER_DATA_DIR": f"{tmp}/data", "INTERVIEWER_CONFIG_DIR": f"{tmp}/config", "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
        out = f"{tmp}/marks.json"
        main, child_end = pty.openpty()
        start = time.time()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, out], cwd=ROOT, env=env, stdin=child_end, stdout=child_end, stderr=child_end, close_fds=True)
        os.close(child_end)
        deadline = start + 60
        while proc.poll() is None and time.time() < deadline:  # drain the terminal so the app never blocks on output
            ready, _, _ = select.select([main], [], [], 0.05)
            if ready:
                try:
                    os.read(main, 65536)
                except OSError:
                    break
        proc.wait(timeout=max(1, deadline - time.time()))
        os.close(main)
        marks = json.loads(Path(out).read_text())
    return {"first_frame_s": marks["first_frame"] - start, "ready_s": marks["ready"] - start, "heavy_modules": marks["modules_at_first_frame"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = []
    for i in range(args.runs):
        run = one_run()
        runs.append(run)
        print(f"run {i + 1}: first frame {run['first_frame_s']:.3f} s, home filled in {run['ready_s']:.3f} s, heavy modules at first frame: {run['heavy_modules'] or 'none'}")
    first = statistics.median(r["first_frame_s"] for r in runs)
    ready = statistics.median(r["ready_s"] for r in runs)
    print(f"median over {len(runs)} runs: first frame {first:.3f} s (target <= 0.8 s), home filled in (bank and profiles loaded) {ready:.3f} s")


if __name__ == "__main__":
    main()
