"""Smoke runs of the training experiments' notebooks (real images, seconds), their run cache, and their inputs."""

import json
import os

import pandas as pd
import pytest
from conftest import real_data
from train_helpers import write_image_folder

from mobilerepro import MobileReproError, notebook
from mobilerepro.experiments import lite0_eval, table5, table6, table8, table9, training_ablation, training_recipe
from mobilerepro.report import HELD, INCONCLUSIVE, NOT_HELD, NOT_TESTABLE


def test_table5_smoke_writes_its_files(table5_smoke_run):
    result = table5.load(table5_smoke_run)
    assert set(result.rows.arm) == {"branches", "plain"}
    assert result.rows.top1.between(0, 100).all()
    assert {v.verdict for v in result.verdicts()} <= {HELD, NOT_HELD, INCONCLUSIVE, NOT_TESTABLE}
    assert result.figure_path.exists() and (table5_smoke_run / "table5.ipynb").exists()
    assert "no architectural change" in "\n".join(result.setup_lines())
    assert "Paper's claim vs ours" in result.terminal_report()


def test_runs_are_shared_between_tables(table5_smoke_run, training_results, monkeypatch):
    monkeypatch.setenv("MOBILEREPRO_RESULTS", str(training_results))
    directory = table8.run(table8.configure("smoke"), training_results / "table8", progress=False)
    rows = table8.load(directory).rows.set_index("arm")
    assert rows.loc["annealed", "reused"]  # Tab. 5's "branches" run: the same configuration
    assert not rows.loc["constant", "reused"]
    assert rows.loc["annealed", "run"] == table5.load(table5_smoke_run).rows.set_index("arm").loc["branches", "run"]


def test_an_ablation_arm_changes_only_what_it_says():
    config = table6.configure("smoke")
    k1 = training_ablation.run_config(config, table6.ABLATION.arms["k1"], seed=0)
    k4 = training_ablation.run_config(config, table6.ABLATION.arms["k4"], seed=0)
    assert k1.model_options == {**k4.model_options, "num_conv_branches": 1}
    assert {**k1.as_dict(), "model_options": None, "output_dir": None} == \
        {**k4.as_dict(), "model_options": None, "output_dir": None}
    constant = training_ablation.run_config(table8.configure("smoke"), table8.ABLATION.arms["constant"], seed=0)
    assert constant.recipe_object().final_weight_decay is None
    assert k4.recipe_object().final_weight_decay == 1e-5
    assert [size for _, size in k4.recipe_object().resolution_stages] == [23, 27, 32]


def test_cumulative_decay_measures_the_weight_decay_intervention(table5_smoke_run):
    rows = table5.load(table5_smoke_run).rows
    run = training_ablation.trainer.TrainingRun.load(rows.run.iloc[0])
    config = training_ablation.trainer.TrainConfig(**run.summary["config"])
    steps = run.summary["schedule"]["epochs"] * run.summary["schedule"]["steps_per_epoch"]
    annealed = training_ablation.cumulative_decay(config, run)
    constant = training_ablation.cumulative_decay(
        training_ablation.trainer.TrainConfig(**{**run.summary["config"], "recipe_overrides": {
            **run.summary["config"]["recipe_overrides"], "final_weight_decay": None}}), run)
    peak = run.summary["schedule"]["peak_lr"]
    assert 0 < annealed < constant < peak * 1e-4 * steps
    assert rows.cumulative_decay.iloc[0] == pytest.approx(annealed)


@pytest.mark.parametrize(("module", "arguments", "message"), [
    (table5, {"arms": ["plain", "branchez"]}, "unknown arm 'branchez'"),
    (table6, {"arms": ["k1", "k2"]}, "must include the paper's setting 'k4'"),
    (table8, {"seeds": []}, "at least one seed"),
])
def test_bad_ablation_parameters_are_one_line_errors(module, arguments, message):
    with pytest.raises(MobileReproError, match=message):
        module.configure("smoke", **arguments)


def test_missing_training_data_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("MOBILEREPRO_DATA", str(tmp_path))
    with pytest.raises(MobileReproError, match="set MOBILEREPRO_DATA"):
        table5.run(table5.configure("smoke"), tmp_path / "out", progress=False)


def test_lite0_smoke_notebook(tmp_path):
    real_data("imagenet-val-1300")
    directory = notebook.execute("lite0_eval", {"profile": "smoke", "limit": 12}, output_dir=tmp_path,
                                 publish=False, log_output=False)
    result = lite0_eval.load(directory)
    assert list(result.rows.protocol) == ["tf_resize", "no_normalisation", "labels_1001"]
    assert (result.rows.images == 12).all()
    verdicts = {v.claim_id: v.verdict for v in result.verdicts()}
    assert verdicts["wrong_mapping_visible"] == "held"
    per_class = pd.read_csv(directory / lite0_eval.FILES["per_class"])
    assert per_class.images.sum() == 12
    assert result.examples_path.exists()


def test_lite0_protocol_errors():
    with pytest.raises(MobileReproError, match="unknown protocol 'tf'"):
        lite0_eval.configure("smoke", protocols=["tf"])
    with pytest.raises(MobileReproError, match="must include the reference"):
        lite0_eval.configure("smoke", protocols=["labels_1001"])


def test_training_recipe_chapter(tmp_path):
    directory = notebook.execute("training_recipe", {"profile": "smoke"}, output_dir=tmp_path, publish=False,
                                 log_output=False)
    result = training_recipe.load(directory)
    paper_run = result.rows[(result.rows.preset == "mobileone_s0s1") & (result.rows.run == "paper")]
    assert set(paper_run.resolution) == {160, 192, 224}
    assert paper_run.weight_decay.iloc[0] == pytest.approx(1e-4)
    assert {"verified"} == set(result.provenance_table().provenance)


def test_table9_full_profile_reads_an_imagenet_root(tmp_path, monkeypatch):
    write_image_folder(tmp_path / "imagenet" / "train", per_class=2)
    write_image_folder(tmp_path / "imagenet" / "val", per_class=1)
    monkeypatch.setenv("MOBILEREPRO_DATA", str(tmp_path / "imagenet"))
    config = table9.configure("full", variant="S3")
    settings = table9.train_config(config, tmp_path / "out")
    assert (settings.model, settings.recipe, settings.epochs) == ("mobileone_s3", "mobileone_s2s4", None)
    assert (settings.train_split, settings.val_split) == ("train", "val")
    from mobilerepro.train.trainer import datasets
    train, val = datasets(settings)
    assert (len(train), len(val)) == (6, 3)
    assert "--nproc-per-node 8" in table9.torchrun_command(config)
    with pytest.raises(MobileReproError, match="unknown MobileOne variant 's9'"):
        table9.configure("full", variant="s9")


def test_training_experiments_are_json_clean(table5_smoke_run):
    summary = json.loads((table5_smoke_run / "table5.json").read_text())
    assert summary["runs_planned"] == 2 and summary["reduced_scale"]["stem_stride"] == 2
    assert os.environ.get("MOBILEREPRO_RESULTS") is None
