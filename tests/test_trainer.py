"""The trainer: EMA, label smoothing, checkpoints (atomic, weights_only), exact resume after SIGKILL, SIGTERM, and a
two-process torchrun (gloo) run."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from train_helpers import tiny_train_config, write_image_folder

from mobilerepro.train import trainer

COMMON = ["--model", "mobileone_s0", "--recipe", "mobileone_s2s4", "--batch-size", "4", "--crop-scale", "0.5", "1",
          "--set", "resolution_stages=[[0, 16], [2, 24]]", "--set", "epochs=3", "--set", "eval_size=24",
          "--device", "cpu", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("images") / "set", per_class=8)


def cli(*arguments, **popen):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "mobilerepro", *arguments], env=env, **popen)


def weights(path):
    return trainer.load_checkpoint(path)


def assert_same_weights(first, second):
    for part in ("model", "ema"):
        assert first[part].keys() == second[part].keys()
        for key in first[part]:
            assert torch.equal(first[part][key], second[part][key]), f"{part}.{key}"


def ema_after_one_step(run):
    """(EMA before, model after, EMA after) around one training step."""
    before = {k: v.clone() for k, v in run.ema.module.state_dict().items()}
    run._step(torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 0]))
    run.progress.global_step += 1
    return before, run.model.state_dict(), run.ema.module.state_dict()


def assert_ema_update(before, model, after, decay):
    for key, value in before.items():
        if value.is_floating_point():
            assert torch.allclose(after[key], decay * value + (1 - decay) * model[key], atol=1e-6), key


def test_ema_starts_from_the_first_update_then_follows_the_recipes_decay(image_root, tmp_path):
    run = trainer.Trainer(tiny_train_config(image_root, tmp_path))
    assert run.ema.decay == 0.9995
    assert_ema_update(*ema_after_one_step(run), decay=0.0)  # timm's convention: update 1 copies the weights
    assert_ema_update(*ema_after_one_step(run), decay=0.9995)


@pytest.mark.parametrize("update", [2, 40, 10**6])
def test_ema_warm_up_shortens_the_horizon_early_and_reaches_the_recipes_decay(image_root, tmp_path, update):
    run = trainer.Trainer(tiny_train_config(image_root, tmp_path, recipe_overrides={
        "resolution_stages": [[0, 16]], "eval_size": 16, "ema_warmup": True}))
    run.progress.global_step = update - 1
    decay = min(0.9995, 1 - update ** (-2 / 3))
    assert_ema_update(*ema_after_one_step(run), decay=decay)
    assert (decay < 0.9995) == (update < 2000 ** 1.5)


def test_label_smoothing_is_the_recipes(image_root, tmp_path):
    run = trainer.Trainer(tiny_train_config(image_root, tmp_path))
    logits, labels = torch.randn(5, 3), torch.tensor([0, 2, 1, 1, 0])
    log_p = logits.log_softmax(1)
    expected = 0.9 * torch.nn.functional.nll_loss(log_p, labels) + 0.1 * (-log_p.mean(1)).mean()
    assert torch.allclose(run.criterion(logits, labels), expected)


def test_a_run_writes_its_files_and_loads_weights_only(image_root, tmp_path):
    directory = trainer.train(tiny_train_config(image_root, tmp_path / "run", epochs=2))
    run = trainer.TrainingRun.load(directory)
    assert run.complete and len(run.history) == 2
    assert {"val_top1", "ema_top1", "train_images_per_s", "resolution"} <= set(run.history.columns)
    final = weights(directory / trainer.FINAL_WEIGHTS)
    assert final["classes"] == ["circle", "cross", "square"]
    assert weights(directory / trainer.CHECKPOINT)["progress"]["epoch"] == 2
    assert not list(directory.glob(".*.tmp"))


def test_unreadable_images_are_skipped_counted_and_reported(tmp_path, capsys):
    root = write_image_folder(tmp_path / "set", per_class=8)
    (root / "circle" / "003.png").write_bytes(b"truncated")
    (root / "square" / "005.png").write_bytes(b"")
    # 18 training images in batches of 6: every image is used, so every unreadable one is met once per epoch
    directory = trainer.train(tiny_train_config(root, tmp_path / "run", epochs=2, batch_size=6, progress=True))
    history = trainer.TrainingRun.load(directory).history
    assert ((history.train_skipped + history.val_skipped) == 2).all()
    report = capsys.readouterr().err
    if history.train_skipped.iloc[0]:
        assert f"epoch 1: skipped {history.train_skipped.iloc[0]} unreadable training images" in report
    if history.val_skipped.iloc[0]:
        assert f"evaluation skipped {history.val_skipped.iloc[0]} unreadable images" in report


def test_loading_refuses_a_pickled_object(tmp_path):
    path = tmp_path / "bad.pt"
    torch.save({"model": {}, "payload": subprocess.CompletedProcess(["x"], 0)}, path)
    with pytest.raises(Exception, match="[Ww]eights only"):
        trainer.load_checkpoint(path)


def test_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    trainer.atomic_save({"a": torch.ones(2)}, path)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        trainer.atomic_save({"a": torch.zeros(2)}, path)
    assert torch.equal(trainer.load_checkpoint(path)["a"], torch.ones(2))


def wait_for_step(checkpoint, step, process, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, "the run ended before it could be interrupted"
        if checkpoint.exists():
            try:
                if trainer.load_checkpoint(checkpoint)["progress"]["global_step"] >= step:
                    return
            except (EOFError, RuntimeError):
                pass
        time.sleep(0.1)
    raise AssertionError("no checkpoint reached the step in time")


@pytest.mark.slow
def test_a_run_killed_with_sigkill_and_resumed_ends_with_the_same_weights(image_root, tmp_path):
    data = ["--train-data", str(image_root)]
    reference = tmp_path / "reference"
    assert cli("train", *data, *COMMON, "--output-dir", str(reference)).wait() == 0
    killed = tmp_path / "killed"
    process = cli("train", *data, *COMMON, "--output-dir", str(killed), "--checkpoint-every-steps", "1")
    wait_for_step(killed / trainer.CHECKPOINT, 7, process)  # late in the second epoch: 4 steps per epoch
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert weights(killed / trainer.CHECKPOINT)["progress"]["global_step"] < 12
    assert not (killed / trainer.FINAL_WEIGHTS).exists()
    assert cli("train", *data, *COMMON, "--output-dir", str(killed), "--resume").wait() == 0
    assert_same_weights(weights(reference / trainer.FINAL_WEIGHTS), weights(killed / trainer.FINAL_WEIGHTS))


@pytest.mark.slow
def test_sigterm_checkpoints_mid_epoch_and_exits_143(image_root, tmp_path):
    output = tmp_path / "terminated"
    process = cli("train", "--train-data", str(image_root), *COMMON, "--output-dir", str(output),
                  "--checkpoint-every-steps", "2", stderr=subprocess.PIPE, text=True)
    wait_for_step(output / trainer.CHECKPOINT, 2, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143
    assert "checkpoint saved" in stderr and "resume" in stderr
    assert weights(output / trainer.CHECKPOINT)["progress"]["global_step"] >= 3


@pytest.mark.slow
def test_torchrun_all_reduces_the_gradients(image_root, tmp_path):
    """Two ranks see different images, yet end with the same parameters: only averaged gradients do that."""
    import json
    from pathlib import Path

    config = tiny_train_config(image_root, tmp_path / "ranks").as_dict()
    script = Path(__file__).with_name("ddp_ranks.py")
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script),
         json.dumps(config)], env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    ranks = [torch.load(tmp_path / "ranks" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0]["batches"] != ranks[1]["batches"]
    initial = trainer.Trainer(trainer.TrainConfig(**{**config, "output_dir": str(tmp_path / "init")})).model
    changed = 0
    for name, initial_value in initial.named_parameters():
        first, second = ranks[0]["parameters"][name], ranks[1]["parameters"][name]
        assert torch.equal(first, second), name
        changed += not torch.equal(first, initial_value.detach())
    assert changed > 0  # the ranks trained, and stayed in step


@pytest.mark.slow
def test_torchrun_two_cpu_processes(image_root, tmp_path):
    output = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "mobilerepro", "train", "--train-data", str(image_root), *COMMON, "--set", "epochs=1",
         "--output-dir", str(output)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    run = trainer.TrainingRun.load(output)
    assert run.complete and run.summary["processes"] == 2
    assert run.summary["schedule"]["global_batch"] == 8
    assert run.summary["schedule"]["steps_per_epoch"] == 2  # 19 images split over 2 processes, batches of 4


def test_the_mnv4_adamw_preset_trains_our_mnv4(image_root, tmp_path):
    config = tiny_train_config(image_root, tmp_path / "mnv4", model="mnv4_conv_s", recipe="mnv4_conv_m",
                         recipe_overrides={"resolution_stages": [[0, 32]], "eval_size": 32})
    run = trainer.Trainer(config)
    assert isinstance(run.optimizer, torch.optim.AdamW)
    assert run.model.dropout.p == run.recipe.dropout  # Tab. 10's classifier dropout
    assert run.schedule.peak_lr == pytest.approx(run.recipe.lr * 4 / run.recipe.batch_size)
    assert run.fit().joinpath(trainer.FINAL_WEIGHTS).exists()


def test_mixup_and_cutmix_come_from_timm_with_soft_targets(image_root, tmp_path):
    from timm.data import Mixup
    from timm.loss import SoftTargetCrossEntropy

    config = tiny_train_config(image_root, tmp_path / "mix", model="mnv4_conv_s", recipe="mnv4_conv_l",
                         recipe_overrides={"resolution_stages": [[0, 32]], "eval_size": 32, "mixup_probability": 1.0})
    run = trainer.Trainer(config)
    assert isinstance(run.mixup, Mixup) and isinstance(run.criterion, SoftTargetCrossEntropy)
    images, labels = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    mixed, targets = run.mixup(images, labels)
    assert targets.shape == (4, run.num_classes) and torch.allclose(targets.sum(1), torch.ones(4))
    assert (targets.max(1).values < 1).all()  # every target is soft
    assert run.fit().joinpath(trainer.FINAL_WEIGHTS).exists()


def test_mixup_needs_an_even_batch(image_root, tmp_path):
    config = tiny_train_config(image_root, tmp_path / "odd", model="mnv4_conv_s", recipe="mnv4_conv_l", batch_size=3,
                         recipe_overrides={"resolution_stages": [[0, 32]], "eval_size": 32})
    with pytest.raises(trainer.MobileReproError, match="must be even, got 3"):
        trainer.Trainer(config)


def test_l2_regularization_adds_the_penalty_of_the_decaying_weights_to_the_loss(image_root, tmp_path):
    config = tiny_train_config(image_root, tmp_path / "l2", model="mnv4_conv_s", recipe="mnv4_conv_s",
                         recipe_overrides={"resolution_stages": [[0, 32]], "eval_size": 32})
    run = trainer.Trainer(config)
    decaying = [p for group in run.optimizer.param_groups if group["decays"] for p in group["params"]]
    assert run.l2_parameters == decaying and all(p.ndim > 1 for p in decaying)
    run.criterion = lambda outputs, labels: outputs.sum() * 0  # leave only the penalty
    with torch.no_grad():
        penalty = run.recipe.l2_regularization * sum(p.pow(2).sum() for p in decaying)
    loss = run._step(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0]))
    assert float(loss) == pytest.approx(float(penalty), rel=1e-5)


def test_a_model_without_the_recipes_options_is_a_clear_error(image_root, tmp_path):
    config = tiny_train_config(image_root, tmp_path / "x", recipe="mnv4_conv_m", model="shufflenet_v2_1_0")
    with pytest.raises(trainer.MobileReproError, match="does not take these options"):
        trainer.Trainer(config)


def test_channels_last_follows_the_probe_of_the_crashing_convolution(image_root, tmp_path, monkeypatch):
    asked = []

    def probe(size, threads):
        asked.append((size, threads))
        return False

    monkeypatch.setattr(trainer, "channels_last_survives", probe)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert not trainer.Trainer(tiny_train_config(image_root, tmp_path / "off")).channels_last
    assert asked == [(16, 1)]  # the run's largest size on its thread count
    monkeypatch.setattr(trainer, "channels_last_survives", lambda size, threads: True)
    assert trainer.Trainer(tiny_train_config(image_root, tmp_path / "on")).channels_last
    assert not trainer.Trainer(tiny_train_config(image_root, tmp_path / "asked-off", channels_last=False)).channels_last
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")  # the crash came and went there
    assert not trainer.Trainer(tiny_train_config(image_root, tmp_path / "avx2")).channels_last


def test_the_channels_last_probe_runs_once_per_machine_and_size(results_root, monkeypatch):
    import subprocess

    calls = []

    def crashing_child(command, **options):
        calls.append(command)
        return subprocess.CompletedProcess(command, -6)  # SIGABRT: glibc found the corrupted heap

    monkeypatch.setattr(subprocess, "run", crashing_child)
    size = 17 + len(list(results_root.rglob("channels_last_probe.json")))  # a size no other test asked about
    assert trainer.channels_last_survives(size, 1) is False
    assert trainer.channels_last_survives(size, 1) is False
    assert len(calls) == 1 and calls[0][-2:] == ["1", str(size)]  # the second answer is read from the file
