#!/usr/bin/env python3
"""Import a published checkpoint as a dpda detector.

Two families of released ``.pth`` state dicts are understood:

* the DPDA authors' fairseq-based models: the XLS-R front end under
  ``ssl_model.model.*`` (fairseq wav2vec2 names) followed by the back end
  (``LL``, ``first_bn``, ``encoder``, the graph attention layers... for
  AASIST; ``conformer.*`` for Conformer-TCM and for XLSR-Mamba, the
  authors' ``--model mamba``), mapped key by key; likewise
  the SLS (``fc0``, ``first_bn``, ``fc1``, ``fc3``; ``--backend=sls
  --max_samples=64600 --eval_max_samples=64600``) and Nes2Net-X
  (``Nested_Res2Net_TDNN.*``; ``--backend=nes2net_x``) models;
* raw-waveform AASIST models (clovaai/aasist's AASIST and AASIST-L, the
  ASVspoof 5 baseline), whose names :class:`dpda.models.raw_aasist.RawAASIST`
  has: no mapping.

This script builds our model from an hparams file, maps every key onto it
(:mod:`dpda.models.checkpoint_mapping`; strict: every tensor must find its
place, and a mismatch names the first offending keys), and exports a
detector folder that ``recipes/InTheWild/evaluate.py`` and
:class:`dpda.inference.DeepfakeDetector` load::

    cd recipes/ASVspoof
    python import_checkpoint.py LA_model.pth exported/ssl_aasist \\
        hparams/dpda_rawboost.yaml [--threshold=0.0]
    python import_checkpoint.py tcm_model.pth exported/tcm hparams/dpda_rawboost_tcm.yaml
    python import_checkpoint.py mamba_model.pth exported/mamba \\
        hparams/dpda_rawboost_mamba.yaml
    python import_checkpoint.py AASIST-L.pth exported/aasist_l \\
        hparams/dpda_rawboost_aasist_l.yaml
    python import_checkpoint.py hf://<owner>/<repo>/<file> exported/x \\
        hparams/... --revision=<commit>

A hub reference ``hf://<owner>/<repo>/<file>`` is downloaded with
``huggingface_hub`` into its cache (``HF_HUB_OFFLINE=1`` reads the cache
only). A checkpoint this project knows (by sha256: the three released AASIST
files) gets its model card (title, training data, licence, source) filled in.

The checkpoint is read first, with ``torch.load(weights_only=True)``, so a
wrong path fails before any model is built or downloaded. The authors feed
the raw waveform to fairseq's XLS-R: the import forces that input handling
(``ssl_normalize_wav: False``, whatever the SSL source's
``preprocessor_config.json`` says), and refuses an hparams file whose
wav2vec 2.0 front end would still normalise the waveform.

Authors
 * dpda contributors 2026
"""

import argparse
import os
import re
import sys
import tempfile

import speechbrain as sb
import yaml
from hyperpyyaml import load_hyperpyyaml

from dpda.export import export_detector
from dpda.models.checkpoint_mapping import (
    load_authors_checkpoint,
    normalising_front_ends,
    read_authors_checkpoint,
)
from dpda.published import describe_checkpoint, fetch_checkpoint
from dpda.recipe_cli import check_values, method_choices, preview_hparams

# The authors' input handling: the raw waveform, not normalised.
AUTHORS_INPUT = {"ssl_normalize_wav": False}


def main(argv=None):
    """Map the checkpoint onto the hparams' model and export a detector."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Keys of HPARAMS_FILE can be overridden after it with "
        "--KEY=VALUE (e.g. --backend=sls; python train.py HPARAMS_FILE --help "
        "lists them). Exit status: 0 when the detector was exported, 2 on a "
        "usage error (one line saying what to do).",
    )
    parser.add_argument(
        "checkpoint",
        help="a released .pth state dict: a file or hf://<owner>/<repo>/<file>",
    )
    parser.add_argument("out_dir", help="the detector folder to write")
    parser.add_argument(
        "hparams_file",
        help="the hparams file whose model the checkpoint fits, e.g. "
        "hparams/dpda_rawboost.yaml",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.0,
        help="a threshold on raw scores recorded with the detector (EERs do "
        "not use it). The imported detector is not calibrated: it labels no "
        "recording ('uncalibrated') unless a threshold is passed at "
        "inference (dpda-detect --threshold)",
    )
    parser.add_argument(
        "--revision", default=None, help="hub revision (a commit hash pins the file)"
    )
    args, rest = parser.parse_known_args(argv)
    hparams_file, _, overrides = sb.parse_arguments([args.hparams_file, *rest])
    if not os.path.isfile(hparams_file):
        parser.error(f"hparams file not found: {hparams_file}")
    overrides = yaml.safe_load(overrides) if overrides else {}
    overrides.setdefault("data_folder", "unused")
    try:  # every key and method name, before anything is read or built
        check_values(preview_hparams(hparams_file, overrides), method_choices())
    except ValueError as error:
        parser.error(str(error))
    try:  # before building (and downloading) the model
        path = fetch_checkpoint(args.checkpoint, revision=args.revision)
        state_dict = read_authors_checkpoint(path)
    except (OSError, RuntimeError, ValueError) as error:
        parser.error(str(error))
    card = {
        "title": os.path.splitext(os.path.basename(args.checkpoint))[0],
        "description": "A released checkpoint, imported with dpda's key mapping.",
    }
    card.update(describe_checkpoint(path))
    # The hparams file only defines the model the weights are loaded into:
    # the card must not call it their training recipe.
    card.setdefault(
        "training_recipe",
        "not known to dpda: the checkpoint publisher's own (see its source), "
        "not the hparams file below",
    )
    card["threshold_source"] = "given on the command line"
    with open(hparams_file, encoding="utf-8") as fin:
        hparams_text = fin.read()
    for key, value in AUTHORS_INPUT.items():
        if re.search(rf"^{key}\s*:", hparams_text, flags=re.MULTILINE):
            if overrides.get(key, value) != value:
                print(f"{key}={overrides[key]} ignored: the authors' input is {value}")
            overrides[key] = value
    with tempfile.TemporaryDirectory() as scratch:
        overrides.setdefault("output_folder", scratch)
        hparams = load_hyperpyyaml(hparams_text, overrides)
        model = hparams["model"]
        normalising = normalising_front_ends(model)
        if normalising:
            parser.error(
                f"{hparams_file}: the front end {normalising[0]} normalises the "
                "waveform, the authors' model does not; define "
                "ssl_normalize_wav (passed as normalize_wav to "
                "dpda.models.ssl.HFWav2Vec2) as in hparams/dpda_rawboost.yaml"
            )
        try:
            report = load_authors_checkpoint(state_dict, model)
        except RuntimeError as error:
            parser.error(f"{args.checkpoint} does not fit {hparams_file}: {error}")
        print(report.describe())
        exported = export_detector(
            args.out_dir,
            hparams_file,
            model,
            threshold=args.threshold,
            overrides={k: v for k, v in overrides.items() if k != "output_folder"},
            card=card,
        )
    print(f"Detector exported to {exported}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
