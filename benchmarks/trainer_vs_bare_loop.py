"""What our trainer's bookkeeping costs: training throughput (img/s) of `mobilerepro.train.Trainer` vs a bare PyTorch
loop on the same model, batch, data pipeline, optimizer and EMA, in alternating epochs of one run (goal >= 0.95x).

The bare loop is what anyone would write: DataLoader -> forward -> loss -> backward -> step -> EMA update. The
trainer adds the per-step LR / weight-decay schedule, the stop-request check, step counters, the progress bar and
the end-of-epoch checkpoint and history file. Evaluation is excluded from both.

    python benchmarks/trainer_vs_bare_loop.py [--rounds 4] [--per-class 300] [--threads 2]

Needs the CIFAR-10 JPEGs under $MOBILEREPRO_DATA (the team's small real datasets). Prints a table and writes
results/benchmarks/trainer_vs_bare_loop.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from timm.utils import ModelEmaV3
from tqdm import tqdm

from mobilerepro.measure import environment
from mobilerepro.results import ensure_writable, results_root, write_json
from mobilerepro.train import trainer
from mobilerepro.train.recipe import build_optimizer


def bare_epoch(run: trainer.Trainer, model, optimizer, ema, criterion, epoch: int) -> float:
    """One epoch of the plain loop over the trainer's own batches; returns img/s."""
    run.train_set.epoch = epoch
    loader = run._loader(run.train_set, run.epoch_batches(epoch))
    model.train()
    started, images = time.perf_counter(), 0
    for inputs, labels, _ in loader:
        inputs = inputs.contiguous(memory_format=run.memory_format)
        loss = criterion(model(inputs), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ema.update(model)
        images += len(labels)
    return images / (time.perf_counter() - started)


def trainer_epoch(run: trainer.Trainer) -> float:
    """One epoch of the trainer, its end-of-epoch checkpoint and history file included; returns img/s."""
    images = run.schedule.steps_per_epoch * run.config.batch_size
    started = time.perf_counter()
    with trainer.StopRequest() as stop, tqdm(disable=True) as bar:
        run._train_epoch(bar, stop)
    return images / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="alternating epoch pairs")
    parser.add_argument("--per-class", type=int, default=300, help="CIFAR-10 images per class (before the split)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        config = trainer.TrainConfig(
            output_dir=scratch, train_data="cifar10-test-jpg/test", model="mobileone_s0", recipe="mobileone_s0s1",
            recipe_overrides={"resolution_stages": [[0, 32]], "eval_size": 32, "epochs": 1000}, epochs=1000,
            eval_every=10**6, per_class_limit=args.per_class, batch_size=args.batch_size, crop_scale=(0.25, 1.0),
            threads=args.threads, device="cpu", progress=False,
        )
        ours = trainer.Trainer(config)
        ours.train_set.transform = ours.train_transform(32).build()
        bare = trainer.Trainer(config)  # the same model, data and optimizer, driven by the plain loop
        bare_ema = ModelEmaV3(bare.model, decay=bare.recipe.ema_decay)
        bare_optimizer = build_optimizer(bare.model, bare.schedule)
        bare.train_set.transform = bare.train_transform(32).build()
        rates = {"trainer": [], "bare loop": []}
        for round_index in tqdm(range(args.rounds + 1), desc="alternating epochs", unit="round"):
            trainer_rate = trainer_epoch(ours)
            bare_rate = bare_epoch(bare, bare.model, bare_optimizer, bare_ema, bare.criterion, round_index)
            if round_index:  # the first pair warms both up
                rates["trainer"].append(trainer_rate)
                rates["bare loop"].append(bare_rate)
    ratios = [t / b for t, b in zip(rates["trainer"], rates["bare loop"], strict=True)]
    summary = {
        "rates_img_per_s": rates,
        "median_img_per_s": {name: statistics.median(values) for name, values in rates.items()},
        "trainer_over_bare": {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
                              "per_round": ratios},
        "setup": {"model": "mobileone_s0", "input_px": 32, "batch_size": args.batch_size,
                  "train_images": len(ours.train_samples), "steps_per_epoch": ours.schedule.steps_per_epoch,
                  "threads": args.threads, "channels_last": ours.channels_last},
        "environment": environment.environment_stamp(profile="benchmark", threads=args.threads),
    }
    directory = ensure_writable(results_root() / "benchmarks")
    write_json(directory / "trainer_vs_bare_loop.json", summary)
    print(f"{'':12s} {'median img/s':>14s} {'per round':>40s}")
    for name, values in rates.items():
        print(f"{name:12s} {statistics.median(values):14.1f} {', '.join(f'{v:.1f}' for v in values):>40s}")
    print(f"\ntrainer / bare loop: median {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f}) "
          f"over {len(ratios)} alternating epoch pairs; goal >= 0.95")
    print(f"written: {directory / 'trainer_vs_bare_loop.json'}")


if __name__ == "__main__":
    main()
