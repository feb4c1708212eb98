"""The shared latency-records format: what a chapter's run becomes, and what an import refuses."""

import copy
import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobilerepro import MobileReproError, crosshardware, experiments
from mobilerepro.cli import main
from mobilerepro.experiments._latency import LatencyResult
from mobilerepro.measure import records

MODELS = ["mobileone_s0", "mobilenet_v2", "mnv4_conv_s"]


@pytest.fixture
def empty_results(tmp_path, monkeypatch):
    monkeypatch.setenv("MOBILEREPRO_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


def constructed_run(chapter: str = "mnv4/table6", scale: float = 1.0) -> LatencyResult:
    """A latency chapter's run as its files hold it: three zoo models on two backends, one of them failed, and a
    row of a model the zoo does not have."""
    rows = []
    for i, model in enumerate([*MODELS, "not_a_zoo_model"]):
        for backend in ("torch", "onnxruntime"):
            low = scale * (10.0 + 5 * i + (backend == "torch"))
            rows.append({"model": model, "backend": backend, "threads": 1, "status": "ok", "n": 20,
                         "min_ms": low, "p10_ms": low * 1.01, "median_ms": low * 1.05, "p90_ms": low * 1.2,
                         "iqr_ms": low * 0.1})
    rows.append({**rows[0], "backend": "openvino", "status": "failed"})
    summary = {"parameters": {"latency_statistic": "min"},
               "timing": {"warmup": 3, "rounds": 10, "runs_per_round": 5, "threads": 1, "seed": 0},
               "environment": {"packages": {"torch": "2.12.1", "onnxruntime": "1.32.0"},
                               "git_commit": "0123456789ab", "timestamp": "2026-12-07T10:00:00+00:00"}}
    return LatencyResult(experiments.get(chapter), None, summary, pd.DataFrame.from_records(rows))


def machine_file(name: str = "second-machine", scale: float = 1.0) -> dict:
    return {"format": records.FORMAT,
            "machine": {"id": name, "exported": "2026-12-07T11:00:00+00:00", "who": "a test",
                        "device": {"cpu": "Constructed CPU", "cores": 4, "os": "Linux", "accelerator": None}},
            "records": records.chapter_records(constructed_run(scale=scale))}


def test_a_run_becomes_one_record_per_timed_zoo_model_and_backend():
    found = records.chapter_records(constructed_run())
    assert sorted((r["model"], r["runtime"]["backend"]) for r in found) == sorted(
        (m, b) for m in MODELS for b in ("torch", "onnxruntime"))
    torch_s0 = next(r for r in found if r["model"] == "mobileone_s0" and r["runtime"]["backend"] == "torch")
    assert torch_s0["result"]["min_ms"] == 11.0 and torch_s0["runtime"]["version"] == "2.12.1"
    assert torch_s0["provenance"] == {"chapter": "mnv4/table6", "commit": "0123456789ab",
                                      "time": "2026-12-07T10:00:00+00:00"}
    assert records.problems_of(machine_file()) == []


def test_the_digest_tells_architectures_apart():
    assert records.model_digest("mobileone_s0") == records.model_digest("mobileone_s0")
    assert records.model_digest("mobileone_s0") != records.model_digest("mobileone_s1")


def test_a_second_machine_is_imported_as_written_and_listed(empty_results, tmp_path):
    payload = machine_file()
    source = tmp_path / "second.json"
    source.write_text(json.dumps(payload))
    assert main(["results", "import", str(source)]) == 0
    assert crosshardware.machines() == {"second-machine": payload}


def _break(payload: dict, how: str) -> dict:
    broken = copy.deepcopy(payload)
    record = broken["records"][0]
    if how == "digest":
        record["model_digest"] = "0" * 16
    elif how == "unknown model":
        record["model"] = "resnet_9000"
    elif how == "negative time":
        record["result"]["min_ms"] = -1.0
    elif how == "not finite":
        record["result"]["p90_ms"] = float("inf")
    elif how == "out of order":
        record["result"]["p10_ms"] = record["result"]["p90_ms"] * 2
    elif how == "duplicate":
        broken["records"].append(copy.deepcopy(record))
    elif how == "missing field":
        del record["runtime"]["threads"]
    elif how == "unknown precision":
        record["runtime"]["precision"] = "bf16"
    elif how == "bad machine id":
        broken["machine"]["id"] = "../elsewhere"
    return broken


@pytest.mark.parametrize("how", ["digest", "unknown model", "negative time", "not finite", "out of order",
                                 "duplicate", "missing field", "unknown precision", "bad machine id"])
def test_a_bad_machine_file_is_refused_line_by_line_and_nothing_is_written(how, empty_results, tmp_path):
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(_break(machine_file(), how)))
    with pytest.raises(MobileReproError, match=r"1 problem\(s\), nothing imported") as refused:
        records.import_machine(source)
    assert len(str(refused.value).splitlines()) == 2
    assert not records.machines_dir().exists()


def test_unreadable_files_and_an_empty_machine_are_one_line_errors(empty_results, tmp_path, capsys):
    (tmp_path / "garbage.json").write_text("{not json")
    assert main(["results", "import", str(tmp_path / "garbage.json")]) == 2
    assert main(["results", "import", str(tmp_path / "absent.json")]) == 2
    assert main(["results", "export", "--output", str(tmp_path / "out.json")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)
    assert not (tmp_path / "out.json").exists()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1e-3, max_value=1e4, allow_nan=False), min_size=4, max_size=4))
def test_times_pass_exactly_when_min_p10_median_p90_are_ordered(times):
    payload = machine_file()
    result = payload["records"][0]["result"]
    result["min_ms"], result["p10_ms"], result["median_ms"], result["p90_ms"] = times
    ordered = times == sorted(times)
    assert (records.problems_of(payload) == []) == ordered


def test_an_imported_machine_becomes_a_column_of_the_cross_hardware_page(empty_results, tmp_path):
    figure = tmp_path / "machines.png"
    assert "No latency chapter has run" in crosshardware.markdown(figure) and not figure.exists()
    for name, scale in (("first-machine", 1.0), ("second-machine", 3.0)):
        source = tmp_path / f"{name}.json"
        source.write_text(json.dumps(machine_file(name, scale)))
        records.import_machine(source)
    columns = crosshardware.latency_columns()
    assert sorted(columns.columns) == sorted(f"{m} · {b} fp32 1t" for m in ("first-machine", "second-machine")
                                             for b in ("torch", "onnxruntime"))
    assert columns.loc["mobilenet_v2", "second-machine · torch fp32 1t"] == pytest.approx(
        3 * columns.loc["mobilenet_v2", "first-machine · torch fp32 1t"])
    # a machine three times slower on every model ranks them the same and favours none of them
    relative = crosshardware.relative_latency(columns)
    assert relative["first-machine · torch fp32 1t"].to_numpy() == pytest.approx(
        relative["second-machine · torch fp32 1t"].to_numpy())
    rho = crosshardware.agreement(columns)
    assert rho.loc["first-machine · torch fp32 1t", "second-machine · torch fp32 1t"] == pytest.approx(1.0)
    page = crosshardware.markdown(figure)
    assert page.count("second-machine · torch fp32 1t") >= 3 and "published · " in page and figure.exists()
