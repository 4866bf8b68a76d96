"""SSL front ends and back ends chosen by name in the paper's hparams.

Every family of :mod:`dpda.models.ssl_families` (tiny random models of the
real architecture types: wav2vec 2.0, WavLM, HuBERT, no download) with the
back ends of :mod:`dpda.models.backends`: built from
``hparams/dpda_rawboost.yaml`` with ``ssl`` / ``backend`` overrides, one
DPDA step (PCGrad), export, reload, score; the start-up checks of a source;
the full-size parameter counts against torchaudio's own builders of the same
architectures (an independent implementation, from the fairseq configs).
"""

import math
import os

import numpy as np
import pytest
import torch
from conftest import authors_state_dict, write_wav
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.dataio.dataio import read_audio

from dpda.data.pipelines import crop_or_tile
from dpda.export import export_detector
from dpda.inference import DeepfakeDetector
from dpda.models.ssl_families import (
    SSL_FAMILIES,
    count_family_parameters,
    get_family,
    save_random_ssl,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER = os.path.join(ROOT, "hparams", "dpda_rawboost.yaml")
WINDOW = 8000
HF_CLASSES = {
    "wav2vec2": "Wav2Vec2Model",
    "wavlm": "WavLMModel",
    "hubert": "HubertModel",
}

# Every family once, every back end at least twice; frozen or fine-tuned.
PAIRS = [
    ("xlsr_300m", "sls", False),
    ("xlsr_1b", "nes2net_x", False),
    ("xlsr_2b", "aasist", False),
    ("mms_300m", "tcm", False),
    ("mms_1b", "sls", True),
    ("wavlm_large", "sls", False),
    ("wavlm_base_plus", "nes2net_x", True),
    ("hubert_large", "aasist", False),
]
SLOW_PAIRS = [("xlsr_2b", "aasist", False)]  # over 10 s on 2 cores


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """A tiny source folder per family (the hub's file layout)."""
    root = tmp_path_factory.mktemp("ssl_sources")
    return {
        name: save_random_ssl(str(root / name), name, tiny=True, seed=i)
        for i, name in enumerate(SSL_FAMILIES)
    }


def load_paper(overrides, tmp_path):
    """The paper's hparams with the given overrides, offline."""
    base = {
        "data_folder": str(tmp_path / "data"),
        "output_folder": str(tmp_path / "run"),
        "max_samples": WINDOW,
        "eval_max_samples": WINDOW,
        "lr": 1e-3,
        # The tests hand batches to fit_batch directly, without the recipe's
        # data loader that would carry the workers' RawBoost views.
        "rawboost_position": "after_crop",
    }
    with open(PAPER, encoding="utf-8") as fin:
        return load_hyperpyyaml(fin, {**base, **overrides})


@pytest.mark.parametrize(
    "family, backend, frozen",
    [pytest.param(*p, marks=pytest.mark.slow) if p in SLOW_PAIRS else p for p in PAIRS],
    ids=[f"{f}-{b}" + ("-frozen" if z else "") for f, b, z in PAIRS],
)
def test_each_front_end_and_back_end_trains_exports_and_scores(
    family, backend, frozen, sources, tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    overrides = {"ssl": family, "ssl_hub": sources[family], "ssl_dim": 32}
    overrides["freeze_ssl"] = frozen
    overrides["backend"] = backend
    if backend == "nes2net_x":  # 32-d tiny features: 4 groups of 8, not 8 of 4
        overrides["backend_options"] = {"nes2net_x": {"nes_ratio": [4, 4]}}
    hparams = load_paper(overrides, tmp_path)
    ssl_model = hparams["ssl_model"]
    expected = get_family(family)
    assert type(ssl_model.model).__name__ == HF_CLASSES[expected.model_type]
    assert ssl_model.normalize_wav is expected.normalize_wav
    assert hparams["ssl_layer"] == ("all" if backend == "sls" else "last")
    model = hparams["model"]

    # One DPDA step (joint mode, PCGrad, RawBoost) moves the parameters that
    # take part: the back end's, and the front end's unless it is frozen.
    brain = hparams["brain_class"](
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": "cpu"},
    )
    brain.init_optimizers()
    gen = torch.Generator().manual_seed(1)
    wavs = 0.1 * torch.randn(4, WINDOW, generator=gen)
    batch = PaddedBatch(
        [{"id": f"u{i}", "sig": wavs[i], "label_id": i % 2} for i in range(4)]
    )
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    brain.step = 1
    loss = brain.fit_batch(batch)
    assert math.isfinite(float(loss))
    moved = {k for k, v in model.named_parameters() if not torch.equal(v, before[k])}
    in_front = [k for k in moved if k.startswith("ssl.ssl.model.")]
    if frozen:  # the front end stays as loaded, the back end learns
        assert not in_front
    else:
        assert any(k.startswith("ssl.ssl.model.encoder.layers.") for k in in_front)
    assert any(k.startswith("backend.") for k in moved)

    # Export and reload: the detector scores as the model does on the crops.
    model.eval()
    paths = [
        write_wav(tmp_path / f"{i}.wav", n, seed=i)
        for i, n in enumerate([5000, WINDOW, 12000])
    ]
    with torch.no_grad():
        crops = torch.stack([crop_or_tile(read_audio(p), WINDOW) for p in paths])
        direct = model(crops, torch.ones(len(paths)))[:, 1].numpy()
    folder = export_detector(
        str(tmp_path / "export"),
        PAPER,
        model,
        0.0,
        overrides={**overrides, "max_samples": WINDOW, "eval_max_samples": WINDOW},
    )
    text = open(os.path.join(folder, "hyperparams.yaml"), encoding="utf-8").read()
    assert "!apply" not in text and f"ssl: {family}" in text
    detector = DeepfakeDetector.from_hparams(
        source=folder, savedir=str(tmp_path / "sd")
    )
    # Two float32 forwards, perhaps through other kernels: each within ~1e-6
    # of the largest score (|score| < 5 here) of the exact one: 1e-5 < 2e-5.
    np.testing.assert_allclose(detector.score_files(paths), direct, atol=2e-5)


def test_the_front_end_weighs_every_layer_for_sls(sources, tmp_path, monkeypatch):
    """With SLS the front end hands over the stacked hidden states: the
    transformer's input and every layer's output, as Hugging Face gives them."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hparams = load_paper(
        {
            "ssl": "wavlm_large",
            "ssl_hub": sources["wavlm_large"],
            "ssl_dim": 32,
            "backend": "sls",
        },
        tmp_path,
    )
    front_end, ssl_model = hparams["front_end"], hparams["ssl_model"]
    wavs = 0.1 * torch.randn(2, WINDOW, generator=torch.Generator().manual_seed(2))
    front_end.eval()
    with torch.no_grad():
        stacked = front_end(wavs)
        normalised = torch.nn.functional.layer_norm(wavs, wavs.shape[1:])
        direct = ssl_model.model(normalised, output_hidden_states=True)
    assert stacked.shape == (3, 2, 24, 32)  # 2 tiny layers + their input
    torch.testing.assert_close(stacked, torch.stack(direct.hidden_states))


def test_a_source_of_another_family_fails_at_start_up(sources, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError) as error:
        load_paper(
            {"ssl": "wavlm_large", "ssl_hub": sources["hubert_large"], "ssl_dim": 32},
            tmp_path,
        )
    message = str(error.value)
    assert "'wavlm_large' (microsoft/wavlm-large) must be a 'wavlm' model" in message
    assert "model_type 'hubert'" in message and sources["hubert_large"] in message


def test_a_source_of_another_size_fails_at_start_up(sources, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="expects 1024-d features .* hidden_size 32"):
        load_paper(
            {"ssl": "hubert_large", "ssl_hub": sources["hubert_large"]}, tmp_path
        )


def test_a_source_folder_without_its_files_fails_naming_them(
    sources, tmp_path, monkeypatch
):
    import shutil

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = str(tmp_path / "partial")
    shutil.copytree(sources["mms_300m"], folder)
    os.remove(os.path.join(folder, "preprocessor_config.json"))
    for name in os.listdir(folder):
        if name.endswith(".safetensors"):
            os.remove(os.path.join(folder, name))
    overrides = {"ssl": "mms_300m", "ssl_hub": folder, "ssl_dim": 32}
    with pytest.raises(FileNotFoundError) as error:
        load_paper(overrides, tmp_path)
    assert str(error.value) == (
        f"SSL front end 'mms_300m' (facebook/mms-300m): the folder {folder} lacks "
        "preprocessor_config.json, the weights (*.safetensors or *.bin)"
    )
    missing = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        load_paper({**overrides, "ssl_hub": missing}, tmp_path)


def test_a_hub_id_that_cannot_be_fetched_fails_naming_the_family(tmp_path, monkeypatch):
    import huggingface_hub.constants

    # Offline (read at import, hence the constant too) and an empty cache.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_cache"))
    with pytest.raises(OSError) as error:
        load_paper({"ssl": "wavlm_base_plus"}, tmp_path)
    message = str(error.value)
    assert "could not load the SSL front end 'wavlm_base_plus'" in message
    assert "'microsoft/wavlm-base-plus'" in message
    assert "config.json, preprocessor_config.json and the weights" in message


def test_unknown_names_fail_listing_the_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown SSL front end 'wavlm'; choose one"):
        load_paper({"ssl": "wavlm"}, tmp_path)
    with pytest.raises(ValueError, match="unknown back end 'rawnet'; choose one of"):
        load_paper({"backend": "rawnet", "ssl_dim": 32}, tmp_path)


def test_sls_needs_every_layer_and_the_others_need_frames(
    sources, tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    base = {"ssl_hub": sources["xlsr_300m"], "ssl_dim": 32}
    with pytest.raises(ValueError, match="SLS weighs every hidden layer itself"):
        load_paper({**base, "backend": "sls", "ssl_layer": "last"}, tmp_path)
    with pytest.raises(ValueError, match="AASIST takes frame features"):
        load_paper({**base, "ssl_layer": "all"}, tmp_path)
    # A learnt mix of layers stays available to the frame back ends.
    options = {"nes2net_x": {"nes_ratio": [4, 4]}}
    hparams = load_paper(
        {
            **base,
            "backend": "nes2net_x",
            "ssl_layer": "weighted",
            "backend_options": options,
        },
        tmp_path,
    )
    assert hparams["front_end"].weights.shape == (3,)


# torchaudio's builders of the same architectures (from the fairseq configs).
TORCHAUDIO_BUILDERS = {
    "xlsr_300m": "wav2vec2_xlsr_300m",
    "xlsr_1b": "wav2vec2_xlsr_1b",
    "xlsr_2b": "wav2vec2_xlsr_2b",
    "mms_300m": "wav2vec2_xlsr_300m",  # MMS reuses the XLS-R architectures
    "mms_1b": "wav2vec2_xlsr_1b",
    "wavlm_large": "wavlm_large",
    "wavlm_base_plus": "wavlm_base",  # Base+ differs from Base in data only
    "hubert_large": "hubert_large",
}


@pytest.mark.parametrize("family", SSL_FAMILIES)
def test_full_size_parameter_counts_match_torchaudio(family):
    """The Hugging Face model of each family has exactly the parameters of
    torchaudio's builder, plus its learnt mask vector (``masked_spec_embed``,
    one per feature; torchaudio keeps it in the pretraining model only)."""
    import torchaudio.models

    with torch.device("meta"):
        builder = getattr(torchaudio.models, TORCHAUDIO_BUILDERS[family])()
    reference = sum(p.numel() for p in builder.parameters())
    hidden = get_family(family).hidden_size
    assert count_family_parameters(family) == reference + hidden


def test_the_registry_states_each_models_input_handling():
    raw = {name for name, f in SSL_FAMILIES.items() if not f.normalize_wav}
    assert raw == {"xlsr_300m", "xlsr_1b", "xlsr_2b", "wavlm_base_plus"}
    # Only XLS-R departs from its pretraining (the anti-spoofing authors' raw input).
    departs = {
        n for n, f in SSL_FAMILIES.items() if f.normalize_wav != f.pretraining_normalize
    }
    assert departs == {"xlsr_300m", "xlsr_1b", "xlsr_2b"}
    sizes = {n: (f.hidden_size, f.num_layers) for n, f in SSL_FAMILIES.items()}
    assert sizes["xlsr_2b"] == (1920, 48) and sizes["mms_1b"] == (1280, 48)
    assert sizes["wavlm_base_plus"] == (768, 12) and sizes["hubert_large"] == (1024, 24)


# The authors' back-end key names (their model.py files, see
# tests/reference/ssl_backends_reference.py) that an import must place.
AUTHORS_BACKEND_KEYS = {
    "sls": ["fc0.weight", "first_bn.running_var", "fc1.weight", "fc3.bias"],
    "nes2net_x": [
        "Nested_Res2Net_TDNN.Build_in_Res2Nets.0.conv1.weight",
        "Nested_Res2Net_TDNN.Build_in_Res2Nets.2.weighted_sum.1",
        "Nested_Res2Net_TDNN.Build_in_Res2Nets.1.se.se.1.weight",
        "Nested_Res2Net_TDNN.bns.2.running_mean",
        "Nested_Res2Net_TDNN.bn.weight",
        "Nested_Res2Net_TDNN.fc.bias",
    ],
}


@pytest.mark.parametrize("backend", ["sls", "nes2net_x"])
def test_import_checkpoint_maps_the_authors_released_models(
    backend, sources, tmp_path, monkeypatch
):
    """recipes/ASVspoof/import_checkpoint.py on a synthetic checkpoint with
    the real key names of the SLS / Nes2Net-X authors (fairseq XLS-R under
    ssl_model.model., the back end as their model.py names it): every
    tensor lands in place and the exported detector scores with them."""
    import importlib.util

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    overrides = {"ssl_hub": sources["xlsr_300m"], "ssl_dim": 32, "backend": backend}
    if backend == "nes2net_x":
        overrides["backend_options"] = {"nes2net_x": {"nes_ratio": [4, 4]}}
    model = load_paper(overrides, tmp_path)["model"]
    state, target_of = authors_state_dict(model, "ssl.ssl.model.")
    prefix = "Nested_Res2Net_TDNN." if backend == "nes2net_x" else ""
    gen = torch.Generator().manual_seed(4)
    for key in [
        k for k in state if k in target_of and target_of[k].startswith("backend.")
    ]:
        value = state.pop(key)
        if key.endswith("running_var"):  # a valid variance: finite scores
            value = torch.rand(value.shape, generator=gen) + 0.5
        state[prefix + key] = value
        target_of[prefix + key] = target_of.pop(key)
    for key in AUTHORS_BACKEND_KEYS[backend]:
        assert key in state, key
    checkpoint = str(tmp_path / "authors.pth")
    torch.save(state, checkpoint)

    recipe = os.path.join(ROOT, "recipes", "ASVspoof")
    spec = importlib.util.spec_from_file_location(
        "import_checkpoint", os.path.join(recipe, "import_checkpoint.py")
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = str(tmp_path / "detector")
    monkeypatch.chdir(recipe)
    argv = [checkpoint, out, "hparams/dpda_rawboost.yaml"]
    argv += [
        f"--ssl_hub={sources['xlsr_300m']}",
        "--ssl_dim=32",
        f"--backend={backend}",
    ]
    argv += [f"--max_samples={WINDOW}", f"--eval_max_samples={WINDOW}"]
    if backend == "nes2net_x":
        argv.append("--backend_options={nes2net_x: {nes_ratio: [4, 4]}}")
    assert script.main(argv) == 0

    detector = DeepfakeDetector.from_hparams(source=out, savedir=str(tmp_path / "sd"))
    loaded = detector.mods.model.state_dict()
    for source, target in target_of.items():
        assert torch.equal(loaded[target].cpu(), state[source]), (source, target)
    detector.mods.model.eval()
    wavs = 0.05 * torch.randn(2, WINDOW, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = detector.mods.model(wavs, torch.ones(2))[:, 1]
    assert torch.isfinite(expected).all()
    torch.testing.assert_close(detector.score_batch(wavs), expected)


def test_the_study_sweeps_front_ends_and_back_ends():
    from dpda.ablation import load_study

    path = os.path.join(ROOT, "hparams", "ablations", "paper_frontends.yaml")
    study, runs = load_study(path)
    grid = {
        (r.name, r.seed): [
            a for a in r.command() if a.startswith(("--ssl=", "--backend="))
        ]
        for r in runs
    }
    assert len(runs) == 3 * 3 * 2 * 3
    assert grid[("wavlm_sls_dpda_pcgrad", 1986)] == [
        "--ssl=wavlm_large",
        "--backend=sls",
    ]
    assert grid[("mms_nes2net_baseline", 2025)] == [
        "--ssl=mms_300m",
        "--backend=nes2net_x",
    ]
    assert study["baseline"] == "xlsr_aasist_baseline"
