"""Every benchmark script runs and writes its result file, at a tiny size: a benchmark that cannot start is found here,
not by the next person who needs its number. Nothing about speed is asserted."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# script -> (arguments that make it tiny, the file it writes under results/benchmarks/, what it needs). One thread
# each: the suite's other worker and the smoke runs share the cores, and a benchmark's number at this size means
# nothing anyway.
TINY = {
    "ours_vs_timm.py": (["--family", "mobilenetv4", "--variants", "conv_s", "--rounds", "1", "--runs-per-round", "1",
                         "--threads", "1"], "mobilenetv4_ours_vs_timm.json", ()),
    "dense_backbone_overhead.py": (["--backbones", "mobileone_s0", "--size", "64", "--rounds", "1",
                                   "--runs-per-round", "1", "--threads", "1"],
                                   "dense_backbone_overhead.json", ("dense",)),
    "dense_training_throughput.py": (["--rounds", "1", "--batch-size", "2", "--workers", "0", "--images", "8",
                                      "--threads", "1"],
                                     "dense_training_throughput_detection.json", ("dense", "coco128-cocofmt")),
    "distillation_throughput.py": (["--per-class", "4", "--size", "32", "--batch-size", "8", "--steps", "1",
                                    "--rounds", "1", "--threads", "1"],
                                    "distillation_throughput.json", ("cifar10-test-jpg",)),
    "trainer_vs_bare_loop.py": (["--rounds", "1", "--per-class", "4", "--batch-size", "8", "--threads", "1"],
                                "trainer_vs_bare_loop.json", ("cifar10-test-jpg",)),
    "time_quick_profile.py": (["--profile", "smoke", "-p", "backends", "[torch]"], "table1_smoke_wall_time.json", ()),
    # LiteRT's columns are 'unavailable' rows without its environment, a conversion of one small model with it
    "search_speed.py": (["--networks", "4", "--proxy-networks", "1", "--threads", "1"], "search_speed.json", ()),
    "runtime_ratios.py": (["--models", "mobilenet_v3_small", "--size", "64", "--rounds", "1", "--runs-per-round",
                           "1", "--threads", "1"], "runtime_ratios.json", ()),
}


def test_every_benchmark_is_run_here():
    assert sorted(TINY) == sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))


def test_ours_vs_timm_compares_by_default_only_the_forms_that_have_a_timm_twin():
    import runpy

    families = runpy.run_path(str(ROOT / "benchmarks" / "ours_vs_timm.py"))["FAMILIES"]
    from mobilerepro.models import mobilenetv4

    assert families["mobilenetv4"]["variants"]
    assert set(families["mobilenetv4"]["variants"]) <= set(mobilenetv4.TIMM_NAMES)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(TINY))
def test_the_benchmark_runs_and_writes_its_file(script, tmp_path):
    from mobilerepro.data import data_root

    arguments, written, needs = TINY[script]
    if "dense" in needs:
        pytest.importorskip("mmdet")
    missing = [d for d in needs if d != "dense" and not (data_root() / d).exists()]
    if missing:
        pytest.skip(f"needs {missing[0]} under MOBILEREPRO_DATA")
    environment = {**os.environ, "MOBILEREPRO_RESULTS": str(tmp_path)}
    finished = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *arguments], env=environment,
                              capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert json.loads((tmp_path / "benchmarks" / written).read_text())
