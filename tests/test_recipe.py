"""End-to-end runs of the recipe on a tiny generated corpus.

Each run goes through the real code path: corpus on disk in the real formats,
``asvspoof_prepare``, ``train.py`` with the hparams files users run, the
checkpointer, and the evaluation writing score files.
"""

import csv
import json
import math
import os
import re
import subprocess
import sys

import pytest
from conftest import make_tiny_wav2vec2

from dpda.data.minicorpus import generate_mini_corpus

pytestmark = pytest.mark.slow  # end-to-end runs in subprocesses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "ASVspoof")
TINY = {"train": (8, 16), "dev": (4, 8), "eval": (4, 8), "itw": (4, 4)}
FAST = [
    "--number_of_epochs=1",
    "--batch_size=4",
    "--num_workers=0",
    "--max_samples=8000",
    "--eval_max_samples=8000",
]


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("mini"))
    generate_mini_corpus(root, seed=7, sizes=TINY)
    return root


def run_recipe(hparams, *overrides, env=None):
    result = subprocess.run(
        [sys.executable, "train.py", f"hparams/{hparams}", *overrides],
        cwd=RECIPE,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout


def check_outputs(out, stdout, n_eval=12, n_itw=8):
    results = json.load(open(os.path.join(out, "eval_results.json")))
    assert set(results) == {
        "dev",
        "asvspoof2019_la_eval",
        "in_the_wild",
        "skipped_items",
    }
    assert results["skipped_items"] == 0 and math.isfinite(results["dev"]["threshold"])
    for name, n in (("asvspoof2019_la_eval", n_eval), ("in_the_wild", n_itw)):
        assert results[name]["unscored"] == 0
        assert os.path.getsize(results[name]["det_plot"]) > 1000
        breakdown = open(results[name]["breakdown_file"]).read()
        assert f"{results[name]['EER']:.2f}%" in breakdown and "| pooled |" in breakdown
        assert math.isfinite(results[name]["EER"]) and 0 <= results[name]["EER"] <= 100
        assert re.search(rf"EER {name}: \d+\.\d\d%", stdout)
        lines = open(os.path.join(out, "scores", f"{name}.txt")).read().splitlines()
        assert len(lines) == n == results[name]["trials"]
        for line in lines:
            utt, score = line.split(" ")
            assert math.isfinite(float(score)) and utt
    # EER per codec and channel of the mini corpus, from its conditions file.
    from dpda.data.minicorpus import read_conditions

    mini_root = re.search(
        r"^mini_corpus_folder: (.+)$",
        open(os.path.join(out, "hyperparams.yaml")).read(),
        re.M,
    )
    # The paper configurations read the corpus as a real one: no conditions.
    conditions = read_conditions(mini_root.group(1).strip()) if mini_root else {}
    for name in ("asvspoof2019_la_eval", "in_the_wild"):
        if not conditions:
            assert "codec" not in results[name]["breakdown"]
            continue
        rows = {r["codec"]: r for r in results[name]["breakdown"]["codec"]}
        expected = {}
        for condition in conditions[name].values():
            expected[condition["codec"]] = expected.get(condition["codec"], 0) + 1
        assert {k: r["trials"] for k, r in rows.items() if k != "pooled"} == expected
        assert rows["pooled"]["trials"] == sum(expected.values())
        assert (
            "## EER (%) and minDCF per codec"
            in open(results[name]["breakdown_file"]).read()
        )
    log = open(os.path.join(out, "train_log.txt")).read()
    assert "epoch: 1" in log and "valid loss" in log
    # Calibrated on dev: the exported detector carries the map, every set
    # reports the ASVspoof 5 metrics, raw and calibrated.
    dev = results["dev"]
    assert set(dev["calibration"]) == {"scale", "offset", "prior", "fitted_on"}
    assert dev["Cllr"] < dev["Cllr_raw"]
    for name in ("dev", "asvspoof2019_la_eval", "in_the_wild"):
        for key in ("minDCF", "actDCF", "Cllr", "actDCF_raw", "Cllr_raw", "minCllr"):
            assert math.isfinite(results[name][key]), (name, key)
        assert f"Final summary: {name} - test EER: " in log
    assert re.search(
        r"asvspoof2019_la_eval: EER [\d.]+%, minDCF [\d.]+, actDCF", stdout
    )
    from dpda.inference import DeepfakeDetector

    detector = DeepfakeDetector.from_hparams(os.path.join(out, "detector"))
    assert detector.calibration.scale == pytest.approx(dev["calibration"]["scale"])
    manifest = json.load(open(os.path.join(out, "manifests", "eval.json")))
    first = next(iter(manifest.values()))["wav"]
    data_root = open(os.path.join(out, "hyperparams.yaml")).read()
    data_root = re.search(r"^data_folder: (.+)$", data_root, re.M).group(1).strip()
    decision = detector.classify_file(first.replace("{data_root}", data_root))
    assert decision["calibrated"] and decision["label"] in ("bonafide", "spoof")
    assert 0 < decision["p_bonafide"] < 1
    assert decision["llr"] == pytest.approx(
        detector.calibration.llr(decision["score"]), rel=1e-9
    )
    card = open(os.path.join(out, "detector", "README.md")).read()
    assert "| Calibration | LLR = " in card
    # The model card names the corpus really used: the synthetic mini corpus.
    card = open(os.path.join(out, "detector", "README.md")).read()
    assert "| Training data | the synthetic dpda mini corpus (not ASVspoof)" in card
    assert "seed 7, train split of 24 utterances" in card
    return results, log


def test_mini_baseline_end_to_end(tiny_corpus, tmp_path):
    out = str(tmp_path / "baseline")
    stdout = run_recipe(
        "mini_baseline_rawboost.yaml",
        f"--mini_corpus_folder={tiny_corpus}",
        f"--output_folder={out}",
        *FAST,
    )
    check_outputs(out, stdout)
    assert not os.path.exists(os.path.join(out, "alignment_stats.csv"))


def test_mini_dpda_end_to_end_and_resume(tiny_corpus, tmp_path):
    out = str(tmp_path / "dpda")
    args = [
        f"--mini_corpus_folder={tiny_corpus}",
        f"--output_folder={out}",
        "--aligner=gradvac",
    ]
    stdout = run_recipe("mini_dpda_rawboost.yaml", *args, *FAST)
    _, log = check_outputs(out, stdout)
    assert re.search(r"conflict_rate: [0-9.e-]+", log) and "cosine" in log
    rows = list(csv.DictReader(open(os.path.join(out, "alignment_stats.csv"))))
    assert len(rows) == 6  # 24 training utterances / batch 4
    assert {r["conflict"] for r in rows} <= {"0", "1"}
    assert all(-1.0 <= float(r["cosine"]) <= 1.0 for r in rows)
    png = os.path.join(out, "alignment_stats.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    # A second epoch resumes from the checkpoint: epoch 1 is not redone and
    # the GradVac target cosine comes back from the checkpoint.
    aligner_files = [
        os.path.join(dp, f)
        for dp, _, fs in os.walk(os.path.join(out, "save"))
        for f in fs
        if f == "aligner.ckpt"
    ]
    assert aligner_files, "aligner state is checkpointed"
    saved = json.load(open(aligner_files[0]))
    assert saved["name"] == "gradvac" and "rho_target" in saved["state"]
    FAST2 = [
        a if not a.startswith("--number_of_epochs") else "--number_of_epochs=2"
        for a in FAST
    ]
    run_recipe("mini_dpda_rawboost.yaml", *args, *FAST2)
    log = open(os.path.join(out, "train_log.txt")).read()
    assert log.count("epoch: 1,") == 1 and log.count("epoch: 2,") == 1
    rows = list(csv.DictReader(open(os.path.join(out, "alignment_stats.csv"))))
    assert [r["epoch"] for r in rows] == ["1"] * 6 + ["2"] * 6


def test_mini_three_path_dpda_end_to_end(tiny_corpus, tmp_path):
    """Clean + RawBoost + codec (the codec in two loader workers), UPGrad."""
    out = str(tmp_path / "multi")
    fast = [a for a in FAST if not a.startswith("--num_workers")]
    stdout = run_recipe(
        "mini_dpda_multi.yaml",
        f"--mini_corpus_folder={tiny_corpus}",
        f"--output_folder={out}",
        "--aligner=upgrad",
        "--num_workers=2",
        *fast,
    )
    _, log = check_outputs(out, stdout)
    for pair in ("clean_rawboost", "clean_codec", "rawboost_codec"):
        assert re.search(rf"conflict_rate_{pair}: [0-9.e+-]+", log)
    rows = list(csv.DictReader(open(os.path.join(out, "alignment_stats.csv"))))
    assert len(rows) == 6
    for row in rows:
        weights = [float(row[f"coef_{p}"]) for p in ("clean", "rawboost", "codec")]
        assert all(w > 0 for w in weights)
        assert all(
            -1 <= float(row[f"cosine_{p}"]) <= 1
            for p in ("clean_rawboost", "clean_codec", "rawboost_codec")
        )
    png = os.path.join(out, "alignment_stats.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "hparams, overrides",
    [
        ("dpda_rawboost.yaml", []),
        # Another family and a learnt mix of layers, Conformer-TCM back end.
        ("dpda_rawboost_tcm.yaml", ["--ssl=hubert_large", "--ssl_layer=weighted"]),
        # WavLM with the SLS back end (every hidden layer) in the paper file.
        ("dpda_rawboost.yaml", ["--ssl=wavlm_large", "--backend=sls"]),
        # The authors' third system, XLSR-Mamba, in its own paper file.
        ("dpda_rawboost_mamba.yaml", []),
    ],
    ids=["xlsr_aasist", "hubert_tcm_weighted", "wavlm_sls", "xlsr_mamba"],
)
def test_paper_dpda_config_with_a_tiny_ssl_model(
    tiny_corpus, tmp_path, hparams, overrides
):
    """The paper configs through SpeechBrain's HF integration, with a tiny
    random model of the chosen family loaded offline: train, select,
    evaluate, export."""
    from dpda.models.ssl_families import save_random_ssl

    family = ([o[6:] for o in overrides if o.startswith("--ssl=")] or ["xlsr_300m"])[0]
    ssl = save_random_ssl(str(tmp_path / "tiny_ssl"), family, tiny=True)
    out = str(tmp_path / "paper")
    stdout = run_recipe(
        hparams,
        *overrides,
        f"--data_folder={tiny_corpus}/LA",
        f"--itw_folder={tiny_corpus}/release_in_the_wild",
        f"--output_folder={out}",
        f"--ssl_hub={ssl}",
        "--ssl_dim=32",
        "--lr=0.001",
        *FAST,
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    check_outputs(out, stdout)
    exported = open(os.path.join(out, "detector", "hyperparams.yaml")).read()
    assert f"ssl: {family}" in exported


def make_asvspoof5_release(corpus, root):
    """The ASVspoof 5 release layout (flac_T, flac_D, flac_E_eval, ten-column
    track 1 protocols) from the tiny corpus's 2019 LA files."""
    import shutil

    splits = {
        "train": (
            "ASVspoof2019.LA.cm.train.trn.txt",
            "train",
            "flac_T",
            "ASVspoof5.train.tsv",
        ),
        "dev": (
            "ASVspoof2019.LA.cm.dev.trl.txt",
            "dev",
            "flac_D",
            "ASVspoof5.dev.track_1.tsv",
        ),
        "eval": (
            "ASVspoof2019.LA.cm.eval.trl.txt",
            "eval",
            "flac_E_eval",
            "ASVspoof5.eval.track_1.tsv",
        ),
    }
    for split, (protocol, folder, flac, tsv) in splits.items():
        os.makedirs(os.path.join(root, flac))
        lines = []
        listing = os.path.join(corpus, "LA", "ASVspoof2019_LA_cm_protocols", protocol)
        for i, line in enumerate(open(listing)):
            speaker, utt, _, attack, label = line.split()
            new_id = f"{split[0].upper()}_{i:010d}"
            src = os.path.join(
                corpus, "LA", f"ASVspoof2019_LA_{folder}", "flac", f"{utt}.flac"
            )
            shutil.copy(src, os.path.join(root, flac, f"{new_id}.flac"))
            codec = (
                "- - -" if split != "eval" else ("- 0 -", "C05 2 E_0000099999")[i % 2]
            )
            kind = (
                "- bonafide bonafide"
                if label == "bonafide"
                else f"AC1 A{int(attack[1:]) + 10:02d} spoof"
            )
            lines.append(
                f"{split[0].upper()}_{speaker[-4:]} {new_id} F {codec} {kind} -"
            )
        open(os.path.join(root, tsv), "w").write("\n".join(lines) + "\n")


def test_asvspoof5_config_trains_on_the_release_layout(tiny_corpus, tmp_path):
    """dpda_rawboost_asvspoof5.yaml: prepared from the released layout,
    trained, selected and calibrated on dev, evaluated per attack and codec."""
    data = str(tmp_path / "ASVspoof5")
    make_asvspoof5_release(tiny_corpus, data)
    ssl = str(tmp_path / "tiny_wav2vec2")
    make_tiny_wav2vec2(ssl)
    out = str(tmp_path / "a5")
    stdout = run_recipe(
        "dpda_rawboost_asvspoof5.yaml",
        f"--data_folder={data}",
        f"--output_folder={out}",
        f"--ssl_hub={ssl}",
        "--ssl_dim=32",
        "--lr=0.001",
        *FAST,
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    results = json.load(open(os.path.join(out, "eval_results.json")))
    assert set(results) == {"dev", "asvspoof5_eval", "skipped_items"}
    assert results["dev"]["trials"] == 12 and results["asvspoof5_eval"]["trials"] == 12
    assert results["dev"]["calibration"]["fitted_on"].startswith("dev: 4 bona fide")
    breakdown = open(results["asvspoof5_eval"]["breakdown_file"]).read()
    for section in ("attack", "codec", "codec_q"):
        assert f"EER (%) and minDCF per {section}\n" in breakdown
    assert "| C05 |" in breakdown and "| A17 |" in breakdown
    assert "asvspoof5_eval: EER" in stdout
