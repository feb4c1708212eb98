"""Bring your phone's numbers: the Core ML bundle (packages, digests, manifest, resumable export) and the import of
a device's results, which is all-or-nothing and refuses anything that does not match the bundle with one line."""

import copy
import json

import pytest

from mobilerepro import MobileReproError, cli
from mobilerepro.export import bundle


@pytest.fixture(autouse=True)
def own_results(tmp_path, monkeypatch):
    """Each test imports devices into its own results folder."""
    monkeypatch.setenv("MOBILEREPRO_RESULTS", str(tmp_path / "results"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    manifest = bundle.export_bundle(["mobileone_s0"], out, ("fp16", "fp32"), progress=False)
    return out, json.loads(manifest.read_text())


def valid_results(manifest: dict) -> dict:
    results = bundle.example_results(manifest["packages"], manifest["bundle_digest"])
    for number, record in enumerate(results["results"], start=1):
        record["latency"] = 1000.0 * number
        record["unit"] = "us"
    return results


def test_the_bundle_lists_every_package_with_its_digest_and_input(exported):
    import coremltools as ct

    out, manifest = exported
    assert manifest["schema"] == bundle.BUNDLE_SCHEMA and manifest["failed"] == []
    assert [p["id"] for p in manifest["packages"]] == ["mobileone_s0-fp16", "mobileone_s0-fp32"]
    for package in manifest["packages"]:
        assert package["digest"] == bundle.package_digest(out / package["package"])
        spec = ct.models.MLModel(str(out / package["package"]), skip_model_load=True).get_spec()
        assert [list(i.type.multiArrayType.shape) for i in spec.description.input] == [package["input"]["shape"]]
    assert manifest["bundle_digest"] == bundle.bundle_digest(manifest["packages"])
    fp16, fp32 = manifest["packages"]
    assert (fp16["input"]["dtype"], fp32["input"]["dtype"]) == ("float16", "float32")
    assert 0.45 < fp16["bytes"] / fp32["bytes"] < 0.55  # the weights are stored at the compute precision


def test_exporting_again_keeps_the_packages_already_written(exported):
    out, manifest = exported
    censuses = {p.name: p.stat().st_mtime_ns for p in out.glob(".*.ops.json")}  # written once per conversion
    again = json.loads(bundle.export_bundle(["mobileone_s0"], out, ("fp16", "fp32"), progress=False).read_text())
    assert {p.name: p.stat().st_mtime_ns for p in out.glob(".*.ops.json")} == censuses and len(censuses) == 2
    assert again["bundle_digest"] == manifest["bundle_digest"]  # the same packages, byte for byte


def test_a_valid_results_file_becomes_a_device_in_milliseconds(exported, tmp_path):
    out, manifest = exported
    path = tmp_path / "phone.json"
    path.write_text(json.dumps(valid_results(manifest)))
    stored = bundle.import_latency(path, out)
    device = bundle.imported_devices()["iPhone 12"]
    assert stored.name == "iphone_12.json"
    assert [r["latency_ms"] for r in device["records"]] == [1.0, 2.0]
    assert {r["model"] for r in device["records"]} == {"mobileone_s0"}


def test_an_imported_phone_is_a_machine_of_the_shared_latency_format(exported, tmp_path):
    from mobilerepro.measure import records

    out, manifest = exported
    path = tmp_path / "phone.json"
    path.write_text(json.dumps(valid_results(manifest)))
    bundle.import_latency(path, out)
    phone = records.imported_machines()["iphone-12"]
    assert records.problems_of(phone) == []
    assert sorted((r["runtime"]["precision"], records.compared_ms(r)) for r in phone["records"]) == [
        ("fp16", 1.0), ("fp32", 2.0)]


def mutate(path: str, value):
    def apply(results):
        node = results
        *parents, last = path.split(".")
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value
        return results
    return apply


DELETE = object()


@pytest.mark.parametrize(("change", "message"), [
    (mutate("schema", "something/1"), "not a results file"),
    (mutate("device", " "), "'device' must be a non-empty string"),
    (mutate("bundle_digest", "sha256:0"), "timed on another bundle"),
    (mutate("results", []), "non-empty list"),
    (mutate("results.0.id", "mobileone_s9-fp16"), r"results\[0\]: id 'mobileone_s9-fp16' is not in the bundle"),
    (mutate("results.1.digest", "sha256:0"), r"results\[1\]: digest of mobileone_s0-fp32 does not match"),
    (mutate("results.0.compute_units", "NE"), "compute_units 'NE'"),
    (mutate("results.0.protocol", "mean_of_10"), "protocol 'mean_of_10'"),
    (mutate("results.0.unit", "frames"), "unit 'frames'"),
    (mutate("results.0.latency", -1.0), "latency must be a positive number"),
    (mutate("results.0.latency", "fast"), "latency must be a positive number"),
    (mutate("results.1.id", "mobileone_s0-fp16"), "digest of mobileone_s0-fp16 does not match"),
])
def test_a_bad_results_file_is_one_line_and_nothing_is_imported(exported, tmp_path, change, message):
    out, manifest = exported
    path = tmp_path / "phone.json"
    path.write_text(json.dumps(change(copy.deepcopy(valid_results(manifest)))))
    with pytest.raises(MobileReproError, match=message) as error:
        bundle.import_latency(path, out)
    assert "\n" not in str(error.value)
    assert bundle.imported_devices() == {}


def test_a_duplicate_timing_and_a_non_json_file_are_refused(exported, tmp_path):
    out, manifest = exported
    results = valid_results(manifest)
    results["results"].append(dict(results["results"][0]))
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(results))
    with pytest.raises(MobileReproError, match="appears twice"):
        bundle.import_latency(path, out)
    path.write_text("{not json")
    with pytest.raises(MobileReproError, match="is not JSON"):
        bundle.import_latency(path, out)


def test_the_command_line_reports_a_bad_file_in_one_line(exported, tmp_path, capsys):
    out, manifest = exported
    path = tmp_path / "phone.json"
    path.write_text(json.dumps(mutate("bundle_digest", "sha256:0")(valid_results(manifest))))
    assert cli.main(["import-latency", str(path), "--bundle", str(out)]) != 0
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "another bundle" in error and "\n" not in error
    path.write_text(json.dumps(valid_results(manifest)))
    assert cli.main(["import-latency", str(path), "--bundle", str(out)]) == 0
    assert "imported 2 timings of iPhone 12" in capsys.readouterr().out


@pytest.mark.slow
def test_the_chapter_counts_the_inference_form_it_exported(smoke_run):
    from mobilerepro import experiments
    from mobilerepro.measure.complexity import measure_complexity
    from mobilerepro.models import build_model
    from mobilerepro.reparam import reparameterize_model

    result = experiments.get("deploy/coreml").load(smoke_run("deploy/coreml"))
    macs = result.phones_table().set_index("model").loc["mobileone_s0", "MACs (M, ours)"]
    fused = measure_complexity(reparameterize_model(build_model("mobileone_s0")), (3, 224, 224))
    assert macs == pytest.approx(fused.macs / 1e6)  # not the train-time form with its four branches
    assert result.census_table().model.tolist() == ["mobileone_s0"]
    assert result.timing_table().status.tolist() in (["skipped"], ["ok"])


def test_a_model_that_builds_buffers_in_its_first_forward_converts():
    """timm's ConViT creates its relative-position indices in its first forward: traced cold, the graph of the
    trace and of its check differ and conversion fails."""
    from mobilerepro.export.coreml import convert, op_census
    from mobilerepro.models import zoo

    mlmodel = convert(zoo.build_model("convit_tiny", seed=0), (3, 224, 224))
    assert [list(i.type.multiArrayType.shape) for i in mlmodel.get_spec().description.input] == [[1, 3, 224, 224]]
    assert op_census(mlmodel)["linear"] > 0
