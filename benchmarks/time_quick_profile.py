"""Time `replicate table1` end to end (kernel start, model building, exports, timing, statistics, figure).

Usage: python benchmarks/time_quick_profile.py [--profile quick] [--repeats 1] [-p KEY VALUE ...]
Prints the wall time of each repeat and writes results/benchmarks/table1_<profile>_wall_time.json.
A benchmark, not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from mobilerepro.measure.environment import environment_stamp
from mobilerepro.results import ensure_writable, results_root, write_json


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="a chapter parameter, as `replicate -p` takes it (recorded with the time)")
    args = parser.parse_args()

    walls = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="mobilerepro-bench-") as output:
            command = [sys.executable, "-m", "mobilerepro", "replicate", "table1", "--profile", args.profile,
                       "--output-dir", output, "--no-publish", "--quiet",
                       *(item for pair in args.parameter for item in ("-p", *pair))]
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            walls.append(time.perf_counter() - start)
        print(f"repeat {repeat + 1}/{args.repeats}: {walls[-1]:.1f} s", flush=True)

    directory = ensure_writable(results_root() / "benchmarks")
    path = write_json(
        directory / f"table1_{args.profile}_wall_time.json",
        {"benchmark": "replicate table1 end to end", "profile": args.profile,
         "parameters": dict(args.parameter), "wall_s": walls,
         "median_s": statistics.median(walls), "environment": environment_stamp(profile=args.profile, threads=1)},
    )
    print(f"replicate table1 --profile {args.profile}: median wall time {statistics.median(walls):.1f} s "
          f"over {len(walls)} run(s) -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
