"""Opt-in reduced precision (dpda.precision): bf16 autocast and dynamic int8,
on the default detector's real weights and through ``dpda-detect``."""

import glob
import logging
import os

import pytest
import torch

import dpda.precision
from dpda.cli import main
from dpda.inference import DeepfakeDetector
from dpda.models.raw_cnn import RawCNN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every other file of tests/data/real_speech: 4 espeak-ng clips, 4 real ones.
REAL_SPEECH = sorted(
    glob.glob(os.path.join(ROOT, "tests", "data", "real_speech", "*.flac"))
)[::2]
# Largest change of a bona fide logit allowed for the opt-in modes on the
# default detector, whose logits on these files span about 10: measured on
# an Intel Xeon over the 16 real-speech files, 0.082 for bf16 and 0.38 for
# int8 (benchmarks/detector_speed.py); the bounds leave room for other CPUs
# and still fail a broken quantisation or autocast.
TOLERANCE = {"bf16": 0.5, "int8": 1.0}


@pytest.fixture(scope="module")
def default_detector(tmp_path_factory):
    return DeepfakeDetector.from_hparams(savedir=tmp_path_factory.mktemp("aasist_l"))


@pytest.fixture(scope="module")
def fp32_scores(default_detector):
    return torch.tensor(default_detector.score_files(REAL_SPEECH))


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_opt_in_precision_stays_near_fp32_and_can_be_undone(
    default_detector, fp32_scores, precision
):
    assert len(REAL_SPEECH) == 8
    float_model = default_detector.mods.model
    scores = torch.tensor(
        default_detector.use_precision(precision).score_files(REAL_SPEECH)
    )
    deviation = (scores - fp32_scores).abs().max().item()
    assert 0 < deviation < TOLERANCE[precision], deviation
    # The decision-relevant order of real and synthetic clips barely moves.
    assert torch.corrcoef(torch.stack([scores, fp32_scores]))[0, 1] > 0.99
    if precision == "int8":
        quantized = default_detector.mods.model
        assert quantized is not float_model
        linear = dict(quantized.named_modules())["out_layer"]
        assert linear.weight().dtype == torch.qint8
        assert float_model.out_layer.weight.dtype == torch.float32  # not touched
    back = default_detector.use_precision("fp32")
    assert back.mods.model is float_model and back.precision == "fp32"
    assert torch.equal(torch.tensor(back.score_files(REAL_SPEECH)), fp32_scores)


def test_int8_quantises_every_linear_layer_and_only_those():
    torch.manual_seed(0)
    model = RawCNN(channels=[8, 8], kernel_size=33).eval()
    quantized = dpda.precision.quantize_linear_int8(model)
    kinds = {
        type(m).__module__ for m in quantized.modules() if type(m).__name__ == "Linear"
    }
    assert kinds == {"torch.ao.nn.quantized.dynamic.modules.linear"}
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    n_quant = sum(type(m).__name__ == "Linear" for m in quantized.modules())
    assert n_linear == n_quant >= 1
    convs = [m for m in quantized.modules() if isinstance(m, torch.nn.Conv1d)]
    assert convs and all(c.weight.dtype == torch.float32 for c in convs)


def test_bad_precision_and_emulated_bf16(monkeypatch, caplog):
    with pytest.raises(ValueError, match="precision must be one of"):
        dpda.precision.check_precision("fp16")
    with pytest.raises(ValueError, match="CPU only"):
        dpda.precision.check_precision("int8", "cuda:0")
    monkeypatch.setattr(dpda.precision, "native_bf16", lambda: False)
    with caplog.at_level(logging.WARNING, logger="dpda.precision"):
        dpda.precision.check_precision("bf16")
    assert "no native bfloat16" in caplog.text


def test_dpda_detect_precision_option(capsys):
    files = [REAL_SPEECH[0], REAL_SPEECH[-1]]
    rows = {}
    for precision in ("fp32", "int8"):
        args = [*files, "--precision", precision, "--format", "csv", "--no-progress"]
        assert main(args) == 0
        rows[precision] = [
            line
            for line in capsys.readouterr().out.splitlines()
            if line.startswith(ROOT)
        ]
    assert len(rows["fp32"]) == 2 and rows["fp32"] != rows["int8"]
    with pytest.raises(SystemExit) as error:
        main([files[0], "--precision", "fp16"])
    assert error.value.code == 2
