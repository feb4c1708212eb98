"""What mmengine's runner costs a reduced-scale detection/segmentation run, and how much memory such a run takes.

1. Throughput: training img/s of the mmdet (or mmseg) pipeline — mmengine's Runner with the chapter's config, hooks,
   schedulers and per-epoch checkpoint — against a bare PyTorch loop over the same detector, data pipeline, batch
   and optimizer (DataLoader -> data preprocessor -> loss -> backward -> step), in alternating epochs of one run
   (the bare epoch runs just before each runner epoch, on its own copy of the network).
2. Peak memory of the whole process tree (the run and the data-loading workers of both loops, `--workers` each,
   default 2) during the run, sampled every 0.5 s: the sum of proportional set sizes (a page shared by n processes
   counts 1/n in each; summing resident sets would count a forked worker's inherited pages again per worker) and,
   for comparison, of resident sets.

    python benchmarks/dense_training_throughput.py [--task detection|segmentation] [--rounds 3] [--workers 2]

Needs COCO128 (detection) or CamVid (segmentation) under $MOBILEREPRO_DATA and the dense stack. Prints a table and
writes results/benchmarks/dense_training_throughput_<task>.json. A benchmark: nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil
import torch

from mobilerepro.data import resolve
from mobilerepro.dense import networks, training
from mobilerepro.measure.environment import environment_stamp
from mobilerepro.results import ensure_writable, results_root, write_json


class TreeMemory:
    """Peak memory of this process and its children (sums of PSS and of RSS), sampled in a background thread."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.peak = interval, {"pss": 0, "rss": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        me = psutil.Process()
        while not self._stop.is_set():
            totals = {"pss": 0, "rss": 0}
            for process in [me, *me.children(recursive=True)]:
                try:
                    info = process.memory_full_info()
                except psutil.NoSuchProcess:
                    continue
                totals["pss"] += info.pss
                totals["rss"] += info.rss
            self.peak = {key: max(self.peak[key], totals[key]) for key in totals}
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def config_for(task: str, folder: Path, epochs: int, batch_size: int, workers: int, images: int | None = None):
    budget = training.Budget(epochs, batch_size, images=images)
    if task == "detection":
        config = training.detection_config("mobileone_s0", resolve(training.DETECTION_DATA), folder, budget, 0)
    else:
        config = training.segmentation_config("mobileone_s0", "camvid", resolve(training.SEGMENTATION_DATA["camvid"]),
                                              folder, budget, 0, 128)
    loader = config.train_dataloader
    loader.num_workers, loader.persistent_workers = workers, workers > 0
    config.val_cfg = config.val_dataloader = config.val_evaluator = None  # training only
    config.test_cfg = config.test_dataloader = config.test_evaluator = None
    config.train_cfg.val_interval = 10**6
    return config


def bare_epoch(model, loader, optimizer) -> tuple[int, float]:
    """One epoch of the plain loop; returns (images, seconds)."""
    model.train()
    images, started = 0, time.perf_counter()
    for batch in loader:
        data = model.data_preprocessor(batch, True)
        loss, _ = model.parse_losses(model(**data, mode="loss"))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        images += len(data["inputs"])
    return images, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("detection", "segmentation"), default="detection")
    parser.add_argument("--rounds", type=int, default=3, help="alternating epoch pairs after one warm-up pair")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes of both loops")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=None, help="only the first N images: a check that it runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from mmengine.hooks import Hook
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner import Runner

    rates = {"runner": [], "bare loop": []}
    with tempfile.TemporaryDirectory() as scratch:
        config = config_for(args.task, Path(scratch) / "runner", args.rounds + 1, args.batch_size, args.workers,
                            args.images)
        bare_config = config_for(args.task, Path(scratch) / "bare", 1, args.batch_size, args.workers, args.images)
        runner = Runner.from_cfg(config)
        networks.fix_ssd_predict(runner.model)
        torch.manual_seed(0)
        bare_model = networks.build(bare_config)
        bare_loader = Runner.build_dataloader(bare_config.train_dataloader)
        bare_optimizer = build_optim_wrapper(bare_model, bare_config.optim_wrapper).optimizer

        class Alternate(Hook):
            """Runs a bare epoch before each runner epoch and times the runner's epoch, its hooks included."""

            def before_train_epoch(self, runner):
                images, seconds = bare_epoch(bare_model, bare_loader, bare_optimizer)
                rates["bare loop"].append(images / seconds)
                self.started, self.images = time.perf_counter(), 0

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                self.images += len(data_batch["inputs"])

            def after_train_epoch(self, runner):
                rates["runner"].append(self.images / (time.perf_counter() - self.started))
                print(f"epoch {runner.epoch + 1}: runner {rates['runner'][-1]:.2f} img/s, bare loop "
                      f"{rates['bare loop'][-1]:.2f} img/s", flush=True)

        runner.register_hook(Alternate(), priority="LOWEST")
        with TreeMemory() as memory, torch.serialization.safe_globals(training.checkpoint_globals()):
            runner.train()
    measured = {name: values[1:] for name, values in rates.items()}  # the first pair warms both up
    ratios = [r / b for r, b in zip(measured["runner"], measured["bare loop"], strict=True)]
    summary = {
        "task": args.task, "rates_img_per_s": measured,
        "median_img_per_s": {name: statistics.median(values) for name, values in measured.items()},
        "runner_over_bare": {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
                             "per_round": ratios},
        "peak_memory_tree_gib": {key: value / 2**30 for key, value in memory.peak.items()},
        "setup": {"backbone": "mobileone_s0", "batch_size": args.batch_size, "workers": args.workers,
                  "images": args.images, "threads": args.threads,
                  "network": "SSDLite-320 on COCO128" if args.task == "detection" else "DeepLabV3 OS8 on CamVid"},
        "environment": environment_stamp(profile="benchmark", threads=args.threads),
    }
    directory = ensure_writable(results_root() / "benchmarks")
    path = directory / f"dense_training_throughput_{args.task}.json"
    write_json(path, summary)
    print(f"\n{'':10s} {'median img/s':>14s}  per epoch")
    for name, values in measured.items():
        print(f"{name:10s} {statistics.median(values):14.2f}  {', '.join(f'{v:.2f}' for v in values)}")
    print(f"\nrunner / bare loop: median {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f}) "
          f"over {len(ratios)} alternating epoch pairs")
    print(f"peak memory of the process tree ({args.workers} loader workers per loop): proportional set "
          f"{memory.peak['pss'] / 2**30:.2f} GiB (resident sets summed: {memory.peak['rss'] / 2**30:.2f} GiB)")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
