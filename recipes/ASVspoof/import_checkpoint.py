#!/usr/bin/env python3
"""Import a checkpoint released by the paper's authors as a dpda detector.

The authors' ``.pth`` files are state dicts of their fairseq-based model: the
XLS-R front end under ``ssl_model.model.*`` (fairseq wav2vec2 names) followed
by the back end (``LL``, ``first_bn``, ``encoder``, the graph attention
layers... for AASIST; ``conformer.*`` for Conformer-TCM). This script builds
our model from an hparams file, maps every key onto it
(:mod:`dpda.models.checkpoint_mapping`; strict: every tensor must find its
place), and exports a detector folder that ``recipes/InTheWild/evaluate.py``
and :class:`dpda.inference.DeepfakeDetector` load::

    cd recipes/ASVspoof
    python import_checkpoint.py LA_model.pth exported/ssl_aasist \\
        hparams/dpda_rawboost.yaml [--threshold=0.0]
    python import_checkpoint.py tcm_model.pth exported/tcm hparams/dpda_rawboost_tcm.yaml

The checkpoint is read with ``torch.load(weights_only=True)``. The authors
feed raw waveforms to fairseq: to reproduce their scores, the wav2vec2 folder
given as ``--ssl_hub`` should have ``do_normalize: false`` in its
``preprocessor_config.json``.

Authors
 * dpda contributors 2026
"""

import argparse
import os
import sys
import tempfile

import speechbrain as sb
import yaml
from hyperpyyaml import load_hyperpyyaml

from dpda.inference import export_detector
from dpda.models.checkpoint_mapping import load_authors_checkpoint


def main(argv=None):
    """Map the checkpoint onto the hparams' model and export a detector."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="the authors' .pth state dict")
    parser.add_argument("out_dir", help="the detector folder to write")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.0,
        help="decision threshold stored with the detector (EERs do not use it)",
    )
    args, rest = parser.parse_known_args(argv)
    hparams_file, _, overrides = sb.parse_arguments(rest)
    overrides = yaml.safe_load(overrides) if overrides else {}
    overrides.setdefault("data_folder", "unused")
    with tempfile.TemporaryDirectory() as scratch:
        overrides.setdefault("output_folder", scratch)
        with open(hparams_file, encoding="utf-8") as fin:
            hparams = load_hyperpyyaml(fin, overrides)
        model = hparams["model"]
        report = load_authors_checkpoint(args.checkpoint, model)
        print(report.describe())
        exported = export_detector(
            args.out_dir,
            hparams_file,
            model,
            threshold=args.threshold,
            overrides={k: v for k, v in overrides.items() if k != "output_folder"},
            card={
                "title": os.path.splitext(os.path.basename(args.checkpoint))[0],
                "description": "A checkpoint released by the DPDA authors, "
                "imported with dpda's key mapping.",
                "threshold_source": "given on the command line",
            },
        )
    print(f"Detector exported to {exported}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
