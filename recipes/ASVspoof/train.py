#!/usr/bin/env python3
"""Recipe for training speech deepfake detectors on ASVspoof 2019 LA.

The hparams file chooses the Brain (single-path RawBoost baseline or DPDA with
a gradient aligner), the model (a small raw-waveform CNN for CPU work, or an
SSL front end such as XLS-R with a back end), the augmentation and the
evaluation sets. Training selects on the dev loss; at the end the best
checkpoint scores every evaluation set, writing ``scores/<set>.txt``
(``UTT_ID SCORE``, higher = more bona fide) and the EER.

To run it on the synthetic mini corpus (generated on first use, CPU, minutes)::

    cd recipes/ASVspoof
    python train.py hparams/mini_dpda_rawboost.yaml

and on the real corpus::

    python train.py hparams/dpda_rawboost.yaml --data_folder=/path/to/LA

Authors
 * dpda contributors 2026
"""

import json
import logging
import os
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import run_on_main

from dpda.data.inthewild import prepare_in_the_wild
from dpda.data.minicorpus import generate_mini_corpus
from dpda.data.pipelines import load_manifest
from dpda.plots import plot_alignment_stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from asvspoof_prepare import prepare_asvspoof2019_la  # noqa: E402

logger = logging.getLogger(__name__)


def prepare_data(hparams):
    """Generate the mini corpus if asked and absent, then write the manifests."""
    mini_root = hparams.get("mini_corpus_folder")
    if mini_root and not os.path.isdir(hparams["data_folder"]):
        logger.info("Generating the synthetic mini corpus in %s", mini_root)
        generate_mini_corpus(mini_root, seed=hparams["mini_corpus_seed"])
    prepare_asvspoof2019_la(
        data_folder=hparams["data_folder"],
        save_folder=hparams["manifest_folder"],
        skip_prep=hparams["skip_prep"],
    )
    if hparams.get("itw_folder"):
        prepare_in_the_wild(
            data_folder=hparams["itw_folder"],
            save_folder=hparams["manifest_folder"],
            skip_prep=hparams["skip_prep"],
        )


def dataio_prep(hparams):
    """Build the train, dev and evaluation datasets.

    Returns
    -------
    train_set, dev_set : DynamicItemDataset
    eval_sets : dict
        ``{name: DynamicItemDataset}`` for ASVspoof 2019 LA eval and, when
        ``itw_folder`` is set, In-the-Wild.
    """
    manifests = hparams["manifest_folder"]
    crop = hparams["max_samples"]
    eval_crop = hparams["eval_max_samples"]
    data_folder = hparams["data_folder"]
    train_set = load_manifest(os.path.join(manifests, "train.json"), data_folder, crop)
    dev_set = load_manifest(os.path.join(manifests, "dev.json"), data_folder, eval_crop)
    eval_sets = {
        "asvspoof2019_la_eval": load_manifest(
            os.path.join(manifests, "eval.json"), data_folder, eval_crop
        )
    }
    if hparams.get("itw_folder"):
        eval_sets["in_the_wild"] = load_manifest(
            os.path.join(manifests, "in_the_wild.json"),
            hparams["itw_folder"],
            eval_crop,
        )
    return train_set, dev_set, eval_sets


if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    # Multi-GPU: torchrun --nproc_per_node=N train.py ... (no-op otherwise).
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)

    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    run_on_main(prepare_data, kwargs={"hparams": hparams})
    train_set, dev_set, eval_sets = dataio_prep(hparams)

    brain = hparams["brain_class"](
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    n_params = sum(p.numel() for p in hparams["modules"]["model"].parameters())
    logger.info("Model parameters: %.3f M", n_params / 1e6)

    brain.fit(
        brain.hparams.epoch_counter,
        train_set,
        dev_set,
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["test_dataloader_opts"],
    )

    stats_csv = os.path.join(hparams["output_folder"], "alignment_stats.csv")
    if os.path.exists(stats_csv) and sb.utils.distributed.if_main_process():
        conflicts = plot_alignment_stats(stats_csv, stats_csv.replace(".csv", ".png"))
        logger.info(
            "Gradient conflicts in %.1f%% of %d steps",
            100 * conflicts["conflict_rate"],
            conflicts["steps"],
        )

    results = {}
    for name, dataset in eval_sets.items():
        results[name] = brain.evaluate_set(
            name, dataset, hparams["test_dataloader_opts"]
        )
    summary = os.path.join(hparams["output_folder"], "eval_results.json")
    if sb.utils.distributed.if_main_process():
        with open(summary, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
        for name, res in results.items():
            print(
                f"EER {name}: {res['EER']:.2f}% ({res['trials']} trials) -> {res['score_file']}"
            )
