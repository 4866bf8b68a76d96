#!/usr/bin/env python3
"""Evaluate a trained detector on In-the-Wild, FoR for-norm or ASVspoof 2021.

The detector is a folder exported by ``recipes/ASVspoof/train.py``
(``<output_folder>/detector``) or a pretrained source, loaded through
:class:`dpda.inference.DeepfakeDetector`. The evaluation set is prepared from
its real layout, scored in length-sorted batches, and reported: the official
``UTT_ID SCORE`` file, EER and its threshold, min t-DCF (LA sets, with ASV
scores), the ASVspoof 5 metrics (minDCF; actDCF and Cllr on the detector's
calibrated scores, and on its raw scores labelled as such), the EER and
minDCF per condition (speaker; attack, codec, transmission;
compression, vocoder...), a DET plot and score histograms::

    cd recipes/InTheWild
    python evaluate.py hparams/evaluate.yaml --detector=<folder or hub id> \\
        --data_folder=/path/to/release_in_the_wild
    python evaluate.py hparams/evaluate.yaml --detector=<folder or hub id> \\
        --eval_set=for_norm --data_folder=/path/to/for-norm

Authors
 * dpda contributors 2026
"""

import json
import logging
import os
import sys

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml

from dpda.data.asvspoof5 import prepare_asvspoof5
from dpda.data.asvspoof2021 import prepare_asvspoof2021
from dpda.data.fakeorreal import prepare_for_norm
from dpda.data.inthewild import prepare_in_the_wild
from dpda.data.pipelines import SkipBadItemsCollate, count_logged_skips, load_manifest
from dpda.evaluation import audio_lengths, report_evaluation, write_results
from dpda.inference import (
    DEFAULT_DETECTOR,
    DeepfakeDetector,
    check_detector_folder,
    check_trusted_source,
)
from dpda.recipe_cli import parse_recipe_arguments, user_errors
from dpda.scores import write_scores

logger = logging.getLogger(__name__)

EVAL_SETS = (
    "in_the_wild",
    "for_norm",
    "asvspoof2021_la",
    "asvspoof2021_df",
    "asvspoof5",
)


def prepare(hparams):
    """Write the evaluation set's manifest; return its path."""
    name, manifests = (
        hparams["eval_set"],
        os.path.join(hparams["output_folder"], "manifests"),
    )
    if name == "in_the_wild":
        return prepare_in_the_wild(
            hparams["data_folder"], manifests, skip_prep=hparams["skip_prep"]
        )
    if name == "for_norm":  # the authors' FoR set: for-norm/testing
        return prepare_for_norm(
            hparams["data_folder"],
            manifests,
            split="testing",
            name="for_norm",
            skip_prep=hparams["skip_prep"],
        )
    if name in ("asvspoof2021_la", "asvspoof2021_df"):
        return prepare_asvspoof2021(
            hparams["data_folder"],
            manifests,
            track=name[-2:].upper(),
            keys_folder=hparams["keys_folder"],
            subset=hparams["subset"],
            skip_prep=hparams["skip_prep"],
        )
    if name == "asvspoof5":  # track 1 eval, with its keys
        return prepare_asvspoof5(
            hparams["data_folder"],
            manifests,
            splits=("eval",),
            protocols_folder=hparams["keys_folder"],
            skip_prep=hparams["skip_prep"],
        )["eval"]
    raise ValueError(f"eval_set must be one of {EVAL_SETS}, got {name!r}")


if __name__ == "__main__":
    # The arguments before any work; --help lists the hparams file's keys.
    hparams_file, run_opts, overrides, values = parse_recipe_arguments(
        sys.argv[1:],
        "evaluate.py",
        __doc__,
        choices={"eval_set": EVAL_SETS},
        only_flags=("device",),
    )
    sb.create_experiment_directory(
        experiment_directory=values["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    # The detector's folder as the user named it, its source, and the corpus
    # (ValueError: a refused hub source, a malformed protocol line) before the
    # detector is loaded: a wrong path is one line.
    with user_errors("evaluate.py", FileNotFoundError, ValueError):
        check_detector_folder(values["detector"])
        if values["detector"] is not None:
            check_trusted_source(
                values["detector"], values["revision"], values["trust_remote_code"]
            )
        manifest = prepare(values)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    device = run_opts.get("device") or (
        "cuda:0" if torch.cuda.is_available() else "cpu"
    )
    detector = DeepfakeDetector.from_hparams(
        source=hparams["detector"],
        savedir=hparams["savedir"],
        trust_remote_code=hparams["trust_remote_code"],
        revision=hparams["revision"],
        run_opts={"device": device},
    )
    crop = hparams["eval_max_samples"]
    if crop is None:
        crop = detector.hparams.window_samples
    crop = crop or None  # 0: whole files

    with open(manifest, encoding="utf-8") as f:
        entries = json.load(f)
    dataset = load_manifest(
        manifest,
        hparams["data_folder"],
        crop,
        on_error=hparams["on_bad_audio"],
        sample_rate=detector.hparams.sample_rate,
    )
    skip_log = os.path.join(hparams["output_folder"], "skipped_items.tsv")
    collate = (
        SkipBadItemsCollate(skip_log) if hparams["on_bad_audio"] == "skip" else None
    )
    ids, scores = detector.score_dataset(
        dataset,
        batch_size=hparams["batch_size"],
        num_workers=hparams["num_workers"],
        lengths=audio_lengths(entries, hparams["data_folder"], crop),
        collate_fn=collate,
        progress=hparams["progress"],
    )
    name = hparams["eval_set"]
    score_file = os.path.join(hparams["output_folder"], "scores", f"{name}.txt")
    order = {utt: i for i, utt in enumerate(entries)}  # score file in key order
    ranked = sorted(zip(ids, scores), key=lambda pair: order[pair[0]])
    write_scores(score_file, [i for i, _ in ranked], [s for _, s in ranked])
    # The report of the training recipe, from the score file just written.
    results = report_evaluation(
        {
            name: {
                "score_file": score_file,
                "manifest": manifest,
                "skipped_items": count_logged_skips(skip_log),
                "detector": str(hparams["detector"] or DEFAULT_DETECTOR),
                "eval_max_samples": crop,
            }
        },
        hparams["output_folder"],
        calibration=detector.calibration,
        asv_score_files={name: hparams["asv_score_file"]},
    )
    write_results(os.path.join(hparams["output_folder"], "eval_results.json"), results)
