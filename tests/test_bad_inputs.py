"""Each bad input gives one clear line (library: MobileReproError; command line: `error: ...`, exit 2)."""

import pytest

from mobilerepro import MobileReproError, cli, experiments, notebook
from mobilerepro.results import ensure_writable

TABLE1 = experiments.get("table1")


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_unknown_model():
    with pytest.raises(MobileReproError, match="close matches: mobileone_s0"):
        TABLE1.configure("smoke", models=["mobilone_s0", "mobilenet_v2", "mobilenet_v1"])


def test_unknown_backend():
    with pytest.raises(MobileReproError, match="unknown backend 'tflite'"):
        TABLE1.configure("smoke", backends=["tflite"])


def test_unknown_profile():
    with pytest.raises(MobileReproError, match="did you mean 'quick'"):
        TABLE1.configure("quik")


def test_unknown_statistic():
    with pytest.raises(MobileReproError, match="latency_statistic"):
        TABLE1.configure("smoke", latency_statistic="mean")


def test_unknown_notebook_parameter():
    with pytest.raises(MobileReproError, match="no parameter 'thread'.*threads"):
        notebook.validate_parameters(TABLE1, {"thread": 2})


def test_unknown_configuration_field_names_the_close_one():
    with pytest.raises(MobileReproError, match="no parameter 'thread'; did you mean 'threads'"):
        TABLE1.configure("smoke", thread=2)


@pytest.mark.parametrize(("name", "message"), [("tabel1", "did you mean table1"), ("mnv4/table99", "unknown")])
def test_unknown_experiment(name, message):
    with pytest.raises(MobileReproError, match=message):
        experiments.get(name)


def test_experiments_are_found_by_id_and_by_target_however_spelled():
    assert experiments.get("mnv4-table16") is experiments.get("mnv4_table16") is experiments.get("mnv4/table16")


def test_unwritable_output_dir(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(MobileReproError, match="cannot write to output dir"):
        ensure_writable(blocker / "results")


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["replicate", "table1", "--profile", "smoke", "-p", "models", "[mobilone_s0, mobilenet_v2, fbnet_c]"],
         "unknown model 'mobilone_s0'"),
        (["replicate", "table1", "--profile", "smoke", "-p", "backends", "[tensorrt]"], "unknown backend"),
        (["replicate", "table1", "--profile", "fast"], "unknown profile 'fast'"),
        (["replicate", "table1", "--profile", "smoke", "-p", "thread", "2"], "no parameter 'thread'"),
        (["replicate", "table9000"], "unknown experiment 'table9000'"),
    ],
)
def test_command_line_prints_one_line_and_exits_2(capsys, argv, expected):
    code, err = run_cli(capsys, *argv)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0]


def test_command_line_unwritable_output_dir(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, err = run_cli(capsys, "replicate", "table1", "--profile", "smoke", "--output-dir", str(blocker / "out"))
    assert code == 2 and len(err) == 1 and "cannot write to output dir" in err[0]
