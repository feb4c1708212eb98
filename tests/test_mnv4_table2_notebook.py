"""The MQA ablation: the three models' structure and counts, and a smoke-profile papermill run."""

import json

import pytest

from mobilerepro import MobileReproError
from mobilerepro.experiments import mnv4_table2
from mobilerepro.measure.complexity import measure_complexity
from mobilerepro.models import mobilenetv4 as m4
from mobilerepro.report import HELD, INCONCLUSIVE, NOT_HELD


def test_attention_variants_add_three_blocks_and_mqa_is_smaller():
    counts = {}
    for name, spec in mnv4_table2.VARIANTS.items():
        model = m4.MobileNetV4(spec).eval()
        attention = [m for m in model.modules() if isinstance(m, m4.MobileMQA)]
        assert len(attention) == (0 if name == "base" else 3)
        counts[name] = measure_complexity(model, (3, 128, 128))
    assert counts["base"].params < counts["mqa"].params < counts["mhsa"].params
    assert counts["base"].macs < counts["mqa"].macs < counts["mhsa"].macs


def test_increment_ratio():
    assert mnv4_table2.increment_ratio(2.35, 2.76, 2.60) == pytest.approx(0.25 / 0.41)


@pytest.mark.slow
def test_smoke_run(mnv4_table2_smoke_run):
    summary = json.loads((mnv4_table2_smoke_run / mnv4_table2.FILES["summary"]).read_text())
    assert [c["variant"] for c in summary["counts"]] == list(mnv4_table2.VARIANTS)
    assert {"torch", "onnxruntime"} <= set(summary["increments"])
    assert {v["verdict"] for v in summary["verdicts"]} <= {HELD, NOT_HELD, INCONCLUSIVE}
    assert "MQA" in mnv4_table2.load(mnv4_table2_smoke_run).terminal_report()


def test_bad_input_size():
    with pytest.raises(MobileReproError, match="multiple of 32"):
        mnv4_table2.configure("smoke", input_size=100)
