"""LiteRT, the NAS papers' runtime, as a backend driven in its own environment (.venv-litert): it says why when the
stack is absent; when present, a converted model computes what PyTorch computes, fp32 closely and int8 in rank."""

import numpy as np
import pytest
import torch
from helpers import ZeroInitialisedResidual
from torch import nn

from mobilerepro.experiments._latency import ALL_BACKENDS, LITERT_BACKENDS, timing_profiles
from mobilerepro.measure import latency, litert, roofline
from mobilerepro.measure.latency import TimingPlan, measure_latency
from mobilerepro.results import file_sha256


@pytest.fixture
def no_litert_stack(monkeypatch, tmp_path):
    monkeypatch.setenv("MOBILEREPRO_LITERT_PYTHON", str(tmp_path / "absent" / "python"))
    litert.stack_versions.cache_clear()
    yield
    litert.stack_versions.cache_clear()


@pytest.fixture(scope="module")
def litert_stack():
    litert.stack_versions.cache_clear()
    versions = litert.stack_versions()
    if isinstance(versions, str):
        pytest.skip(versions)
    return versions


@pytest.fixture
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("MOBILEREPRO_LITERT_CACHE", str(tmp_path / "litert"))
    return tmp_path / "litert"


class Small(nn.Module):
    """A stem, a depthwise-separable block and a head: the ops every zoo model converts through."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU6(),
            nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.BatchNorm2d(16), nn.Hardswish(),
            nn.Conv2d(16, 32, 1), nn.BatchNorm2d(32), nn.ReLU(),
        )
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


def small_model() -> nn.Module:
    torch.manual_seed(0)
    model = Small()
    with torch.no_grad():  # non-trivial statistics, so that folding batch norm is exercised
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("backend", LITERT_BACKENDS)
def test_litert_is_unavailable_with_the_setup_command_when_its_environment_is_absent(no_litert_stack, backend):
    availability = latency.get_backend(backend).availability()
    assert not availability.available
    assert "make litert-setup" in availability.reason


def test_an_absent_litert_stack_is_an_unavailable_row_and_no_roofline_kernel(no_litert_stack):
    rows = measure_latency({"small": (small_model(), (3, 32, 32))}, ["torch", "litert"],
                           TimingPlan(warmup=1, rounds=2, runs_per_round=1, threads=1), progress=False)
    by_backend = {row.backend: row for row in rows}
    assert by_backend["torch"].status == "ok"
    assert by_backend["litert"].status == "unavailable"
    assert roofline.kernel_runner("litert", roofline.calibration_kernels(minimal=True)[0], 1) is None


def test_the_litert_command_says_why_it_cannot_run(no_litert_stack, capsys):
    assert litert.main() == 1
    assert "make litert-setup" in capsys.readouterr().err


def test_a_runner_that_times_itself_supplies_its_own_samples():
    class SelfTimed:
        calls = 0

        def __call__(self):
            pass

        def timed(self, n):
            SelfTimed.calls += 1
            return [1.0 + i for i in range(n)]

    plan = TimingPlan(warmup=1, rounds=3, runs_per_round=2, threads=1)
    [measured] = latency.time_callables({"self-timed": SelfTimed()}, "fake", plan, progress=False)
    assert SelfTimed.calls == 3
    assert measured.samples_ms == [1.0, 2.0] * 3


def test_litert_columns_join_the_quick_and_full_profiles_only_when_asked():
    with_litert = timing_profiles({}, {}, litert=True)
    without = timing_profiles({}, {})
    assert with_litert["smoke"]["backends"] == ALL_BACKENDS == without["quick"]["backends"]
    for profile in ("quick", "full"):
        assert with_litert[profile]["backends"] == ALL_BACKENDS + LITERT_BACKENDS


def test_fp32_conversion_computes_what_pytorch_computes_and_is_cached(litert_stack, private_cache):
    model, example = small_model(), torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    runner = latency.get_backend("litert").prepare("small", model, example, threads=1)
    with torch.no_grad():
        expected = model(example).numpy()
    runner()
    np.testing.assert_allclose(runner.output(), expected, atol=1e-4, rtol=1e-4)
    assert runner.converted and len(list(private_cache.glob("*.tflite"))) == 1
    again = latency.get_backend("litert").prepare("small", model, example, threads=1)
    assert not again.converted  # the second preparation reads the cached conversion
    samples = again.timed(3)
    assert len(samples) == 3 and all(s > 0 for s in samples)


def test_a_zero_initialised_branch_is_converted_not_folded_away(litert_stack, private_cache):
    model = latency.without_dead_branches(ZeroInitialisedResidual().eval())
    runner = latency.get_backend("litert").prepare("residual", model, torch.randn(1, 8, 16, 16), threads=1)
    assert runner.ops.get("CONV_2D") == 1


def test_int8_conversion_keeps_the_ranking_of_the_logits(litert_stack, private_cache):
    model, example = small_model(), torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    runner = latency.get_backend("litert_int8").prepare("small", model, example, threads=1)
    runner()
    with torch.no_grad():
        expected = model(example).numpy().ravel()
    assert np.corrcoef(runner.output().ravel(), expected)[0, 1] > 0.95


def test_a_roofline_kernel_runs_on_litert_as_the_convolution_alone(litert_stack, private_cache):
    kernel = next(k for k in roofline.calibration_kernels(minimal=True) if k.kind == "conv")
    runner = roofline.kernel_runner("litert", kernel, 1)
    assert runner is not None
    assert runner.ops == {"CONV_2D": 1}  # no layout transposes around it: they would be timed as the kernel's
    assert len(runner.timed(2)) == 2


def test_a_programs_digest_ignores_the_process_id_and_the_example_values_but_not_the_weights(tmp_path):
    """torch.export.save writes an id, random per process, into every archive, and the example input a chapter drew:
    the cache key must see neither, or a conversion is never found again by a later run or another chapter."""
    model = small_model()
    saved, elsewhere, retrained = tmp_path / "a" / "program.pt2", tmp_path / "b" / "program.pt2", tmp_path / "c.pt2"
    for path in (saved, elsewhere):
        path.parent.mkdir()
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 32, 32),)), saved)
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 32, 32),)), elsewhere)
    _replace_serialization_id(elsewhere)
    with torch.no_grad():
        model.head.bias.add_(1.0)
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 32, 32),)), retrained)
    assert file_sha256(saved) != file_sha256(elsewhere)  # the bytes alone differ
    assert litert.program_digest(saved) == litert.program_digest(elsewhere)
    assert litert.program_digest(saved) != litert.program_digest(retrained)


def _replace_serialization_id(archive):
    """Rewrite the archive as another process would have saved it: another random id."""
    import zipfile

    with zipfile.ZipFile(archive) as original:
        members = {name: original.read(name) for name in original.namelist()}
    ids = [name for name in members if name.endswith("serialization_id")]
    assert ids
    with zipfile.ZipFile(archive, "w") as rewritten:
        for name, data in members.items():
            rewritten.writestr(name, b"another-process-id" if name in ids else data)
