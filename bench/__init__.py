"""The benchmark: eventsync against the fake vendor APIs, run as ``python -m bench``.

Every scenario serves ``eventsync_dev.fake_api`` on 127.0.0.1 from the parent, runs each
contender in a fresh, measured child process, prints ratios measured in that one run and writes
its JSON to ``bench/results/``.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
