"""One rule's assessment (plugin.alerts.detect.assess), this tree's detect.py against another
revision's, on the synthetic shops of benchmarks/alerts_detection.py (one year, seed 6).

    .venv/bin/python benchmarks/alerts_assess.py --against REV [--rule carts_drop_cusum] [--runs 30]

Both versions assess the same rule on the same counters at the same instant (a Wednesday in June,
14:00), taking turns run by run; the figure is the ratio of their medians. They must agree on the
breach and its reason (the script stops otherwise). The product evaluates every rule of every shop
every five minutes without the benchmark's memo, as here.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.alerts_detection import START, ZONE, Shop  # noqa: E402
from plugin.alerts import detect  # noqa: E402
from plugin.alerts.rules import DEFAULT_RULES  # noqa: E402


def detect_of(rev: str):  # noqa: ANN201
    """plugin/alerts/detect.py as it is at `rev`, imported as a module of its own."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:plugin/alerts/detect.py"], check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "detect_then.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("detect_then", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["detect_then"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the revision whose detect.py is the reference")
    parser.add_argument("--rule", default="carts_drop_cusum")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(f"reproduce: .venv/bin/python benchmarks/alerts_assess.py --against {args.against} --rule {args.rule} "
          f"--runs {args.runs}")
    then = detect_of(args.against)
    spec = dict(DEFAULT_RULES)[args.rule]
    old_spec = then.RuleSpec(**{name: getattr(spec, name) for name in spec.__dataclass_fields__})
    now = datetime(2025, 6, 11, 14, 0, tzinfo=ZONE)
    for name, per_day in (("small shop, 20 orders a day", 20.0), ("busy shop, 700 orders a day", 700.0)):
        cells = Shop(per_day, 6).full
        ours, theirs = detect.assess(spec, cells, now, ZONE, START), then.assess(old_spec, cells, now, ZONE, START)
        if (ours.breach, ours.reason) != (theirs.breach, theirs.reason):
            sys.exit(f"{name}: the two disagree: {ours} against {theirs}")
        mine, ref = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            detect.assess(spec, cells, now, ZONE, START)
            mine.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            then.assess(old_spec, cells, now, ZONE, START)
            ref.append(time.perf_counter() - t0)
        a, b = statistics.median(mine) * 1000, statistics.median(ref) * 1000
        print(f"{name}: {args.rule} ({ours.reason}) {a:.2f} ms, at {args.against} {b:.2f} ms (reference); "
              f"ratio {a / b:.2f}")


if __name__ == "__main__":
    main()
