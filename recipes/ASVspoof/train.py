#!/usr/bin/env python3
"""Recipe for training speech deepfake detectors on ASVspoof 2019 LA or ASVspoof 5.

The hparams file chooses the corpus (``corpus``: ``asvspoof2019_la``,
``asvspoof5``, or ``real_world``: the real-world set of
``tests/data/real_world``, :mod:`dpda.data.realworld`), the Brain (single-path RawBoost baseline or DPDA
with a gradient aligner), the model (a small raw-waveform CNN for CPU work,
the raw-waveform AASIST / AASIST-L, or an SSL front end such as XLS-R with a
back end), its initial weights (``init_from``: a published checkpoint, local
or ``hf://``), the augmentation and the evaluation sets. Training selects on
the dev loss; at the end the best checkpoint (or the k-best average) writes
``scores/<set>.txt`` (``UTT_ID SCORE``, higher = more bona fide) for dev and
every evaluation set, one report (:func:`dpda.evaluation.report_evaluation`)
fits the calibration to log-likelihood ratios on dev and gives the EER,
minDCF, actDCF and Cllr of every set, and the detector is exported.

To run it on the synthetic mini corpus (generated on first use, CPU, minutes)::

    cd recipes/ASVspoof
    python train.py hparams/mini_dpda_rawboost.yaml

and on the real corpus::

    python train.py hparams/dpda_rawboost.yaml --data_folder=/path/to/LA

``python train.py <hparams file> --help`` lists the file's keys with their
values and comments. A wrong path, key or value is one line (exit status 2)
before any work: the arguments are checked first, then the corpus is
prepared, and only then is the model built.

Authors
 * dpda contributors 2026
"""

import logging
import os
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import run_on_main

from dpda.brain import loader_views
from dpda.data.asvspoof import prepare_asvspoof2019_la
from dpda.data.asvspoof5 import prepare_asvspoof5
from dpda.data.inthewild import prepare_in_the_wild
from dpda.data.listing import ProtocolError
from dpda.data.minicorpus import (
    describe_training_data,
    generate_mini_corpus,
    read_conditions,
)
from dpda.data.pipelines import (
    SkipBadItemsCollate,
    add_augmented_view,
    count_logged_skips,
    load_manifest,
)
from dpda.data.realworld import prepare_real_world
from dpda.evaluation import report_evaluation, write_results
from dpda.export import export_detector
from dpda.plots import plot_alignment_stats
from dpda.published import init_from_checkpoint
from dpda.recipe_cli import parse_recipe_arguments, user_errors

logger = logging.getLogger(__name__)


# The values of the hparams key ``corpus``.
CORPUS_CHOICES = ("asvspoof2019_la", "asvspoof5", "real_world")


def prepare_data(hparams):
    """Generate the mini corpus if asked and absent, then write the manifests.

    Returns
    -------
    dict
        The manifest paths the preparation returned: ``train``, ``dev``, the
        corpus's evaluation set (``<corpus>_eval``) and, with ``itw_folder``,
        ``in_the_wild``.
    """
    mini_root = hparams.get("mini_corpus_folder")
    if mini_root and not os.path.isdir(hparams["data_folder"]):
        logger.info("Generating the synthetic mini corpus in %s", mini_root)
        generate_mini_corpus(mini_root, seed=hparams["mini_corpus_seed"])
    corpus = hparams["corpus"]
    data, out = hparams["data_folder"], hparams["manifest_folder"]
    skip = hparams["skip_prep"]
    if corpus == "asvspoof5":
        protocols = hparams.get("protocols_folder")
        splits = prepare_asvspoof5(
            data, out, protocols_folder=protocols, skip_prep=skip
        )
    elif corpus == "real_world":
        splits = prepare_real_world(data, out, skip_prep=skip)
    else:
        splits = prepare_asvspoof2019_la(data, out, skip_prep=skip)
    manifests = {"train": splits["train"], "dev": splits["dev"]}
    manifests[f"{corpus}_eval"] = splits["eval"]
    if hparams.get("itw_folder"):
        itw = prepare_in_the_wild(hparams["itw_folder"], out, skip_prep=skip)
        manifests["in_the_wild"] = itw
    return manifests


def dataio_prep(hparams, manifests):
    """The dataset of each manifest of :func:`prepare_data`, by the same name.

    Training items are the first ``max_samples`` of each file (the DPDA
    paper) or, with ``train_crop: random``, a random window per epoch
    (AASIST's training crop); the others the first ``eval_max_samples``.
    The views computed by the data loader's workers
    (:func:`dpda.brain.loader_views`) are added to the training items.
    """
    audio = {
        "on_error": hparams["on_bad_audio"],
        "sample_rate": hparams["sample_rate"],
        "resample": hparams["resample_audio"],
    }
    views = loader_views(hparams)
    # RawBoost before the crop needs the whole file, decoded once for both paths.
    whole_file = any(before_crop for _, before_crop in views.values())
    train_crop = hparams["train_crop"]
    if whole_file and train_crop != "first":
        raise ValueError(
            "rawboost_position: before_crop keeps the first max_samples of the "
            "augmented file (the DPDA authors' crop); train_crop: random needs "
            "rawboost_position: after_crop"
        )
    datasets = {}
    for name, path in manifests.items():
        root = hparams["itw_folder" if name == "in_the_wild" else "data_folder"]
        crop, window, whole = hparams["eval_max_samples"], "first", False
        if name == "train":
            crop, window, whole = hparams["max_samples"], train_crop, whole_file
        datasets[name] = load_manifest(
            path, root, crop, crop=window, whole_file=whole, **audio
        )
    # Each training item carries each view as sig_<name>: codecs augment the
    # crop; RawBoost before_crop augments the whole file, then is cropped.
    for name, (augment, before_crop) in views.items():
        crop_to = hparams["max_samples"] if before_crop else None
        add_augmented_view(datasets["train"], name, augment, crop_to=crop_to)
    return datasets


def loader_options(options, hparams):
    """DataLoader options; in ``on_bad_audio: skip`` mode, bad items are
    dropped and listed in ``<output_folder>/skipped_items.tsv``."""
    options = dict(options)
    if hparams["on_bad_audio"] == "skip":
        options["collate_fn"] = SkipBadItemsCollate(
            os.path.join(hparams["output_folder"], "skipped_items.tsv")
        )
    return options


if __name__ == "__main__":
    # The arguments before any work: the hparams file, every key and the
    # values that name a method; --help lists the hparams file's keys.
    hparams_file, run_opts, overrides, values = parse_recipe_arguments(
        sys.argv[1:], "train.py", __doc__, choices={"corpus": CORPUS_CHOICES}
    )
    # Multi-GPU: torchrun --nproc_per_node=N train.py ... (no-op otherwise).
    sb.utils.distributed.ddp_init_group(run_opts)
    sb.create_experiment_directory(
        experiment_directory=values["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    # The corpus before the model: loading the hparams builds the model (and
    # downloads an SSL front end), so a wrong data_folder is found first.
    with user_errors("train.py", FileNotFoundError, ProtocolError):
        manifests = run_on_main(prepare_data, kwargs={"hparams": values})
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    datasets = dataio_prep(hparams, manifests)

    brain = hparams["brain_class"](
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    # Initial weights from a published checkpoint (the files that have one).
    if hparams.get("init_from"):
        init_from_checkpoint(
            hparams["init_from"],
            hparams["init_revision"],
            hparams["checkpointer"],
            hparams["pretrainer"],
        )
    n_params = sum(p.numel() for p in hparams["modules"]["model"].parameters())
    logger.info("Model parameters: %.3f M", n_params / 1e6)

    brain.fit(
        brain.hparams.epoch_counter,
        datasets.pop("train"),
        datasets["dev"],
        train_loader_kwargs=loader_options(hparams["train_dataloader_opts"], hparams),
        valid_loader_kwargs=loader_options(hparams["valid_dataloader_opts"], hparams),
    )

    # The final model (best or k-best average) scores dev and every
    # evaluation set into scores/<set>.txt.
    sets = {}
    dev_opts = loader_options(hparams["valid_dataloader_opts"], hparams)
    test_opts = loader_options(hparams["test_dataloader_opts"], hparams)
    for name, dataset in datasets.items():
        opts = dev_opts if name == "dev" else test_opts
        sets[name] = brain.evaluate_set(name, dataset, opts)
        sets[name]["manifest"] = manifests[name]
    if sb.utils.distributed.if_main_process():
        out = hparams["output_folder"]
        stats_csv = os.path.join(out, "alignment_stats.csv")
        if os.path.exists(stats_csv):
            conflicts = plot_alignment_stats(stats_csv, stats_csv[:-4] + ".png")
            logger.info(
                "Gradient conflicts in %.1f%% of %d steps",
                100 * conflicts["conflict_rate"],
                conflicts["steps"],
            )
        # The calibration of the exported detector: an affine map from its
        # scores to LLRs, fitted on dev (prior-weighted logistic regression at
        # the effective prior of the ASVspoof 5 cost model, dpda.calibration).
        # The mini corpus's channel and codec of each file: EER per codec too.
        results = report_evaluation(
            sets,
            os.path.join(out, "evaluation"),
            fit_calibration_on="dev",
            conditions=read_conditions(hparams.get("mini_corpus_folder") or ""),
            train_logger=hparams["train_logger"],
        )
        skip_log = os.path.join(out, "skipped_items.tsv")
        results["skipped_items"] = count_logged_skips(skip_log)
        write_results(os.path.join(out, "eval_results.json"), results)
        if results["skipped_items"]:
            print(f"Skipped {results['skipped_items']} unreadable items: {skip_log}")

        # A ready-to-publish detector folder: the evaluated weights (best or
        # k-best average), the dev EER threshold and the dev calibration.
        detector = export_detector(
            os.path.join(out, "detector"),
            hparams_file,
            hparams["model"],
            threshold=results["dev"]["threshold"],
            calibration=results["dev"]["calibration"],
            overrides=overrides,
            card={
                "title": hparams["experiment_name"],
                "training_data": describe_training_data(hparams["data_folder"]),
                "eers": {k: results[k]["EER"] for k in sets if k != "dev"},
            },
        )
        print(f"Detector exported to {detector}")
