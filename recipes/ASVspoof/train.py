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

from dpda.data.asvspoof import prepare_asvspoof2019_la
from dpda.data.inthewild import prepare_in_the_wild
from dpda.data.minicorpus import describe_training_data, generate_mini_corpus
from dpda.data.pipelines import SkipBadItemsCollate, count_logged_skips, load_manifest
from dpda.evaluation import report_scores, write_results
from dpda.export import export_detector
from dpda.plots import plot_alignment_stats
from dpda.scores import read_score_file

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
        ``{name: (DynamicItemDataset, manifest path)}`` for ASVspoof 2019 LA
        eval and, when ``itw_folder`` is set, In-the-Wild.
    """
    manifests = hparams["manifest_folder"]
    data_folder = hparams["data_folder"]
    audio = {
        "on_error": hparams["on_bad_audio"],
        "sample_rate": hparams["sample_rate"],
        "resample": hparams["resample_audio"],
    }

    def load(name, root, crop):
        """A manifest of ``manifests`` as a dataset, with its path."""
        path = os.path.join(manifests, name)
        return load_manifest(path, root, crop, **audio), path

    train_set, _ = load("train.json", data_folder, hparams["max_samples"])
    dev_set, _ = load("dev.json", data_folder, hparams["eval_max_samples"])
    eval_sets = {
        "asvspoof2019_la_eval": load(
            "eval.json", data_folder, hparams["eval_max_samples"]
        )
    }
    if hparams.get("itw_folder"):
        eval_sets["in_the_wild"] = load(
            "in_the_wild.json", hparams["itw_folder"], hparams["eval_max_samples"]
        )
    return train_set, dev_set, eval_sets


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
        train_loader_kwargs=loader_options(hparams["train_dataloader_opts"], hparams),
        valid_loader_kwargs=loader_options(hparams["valid_dataloader_opts"], hparams),
    )

    stats_csv = os.path.join(hparams["output_folder"], "alignment_stats.csv")
    if os.path.exists(stats_csv) and sb.utils.distributed.if_main_process():
        conflicts = plot_alignment_stats(stats_csv, stats_csv.replace(".csv", ".png"))
        logger.info(
            "Gradient conflicts in %.1f%% of %d steps",
            100 * conflicts["conflict_rate"],
            conflicts["steps"],
        )

    # The final model (best or k-best average) on dev: its EER threshold is
    # the decision threshold of the exported detector.
    valid_opts = loader_options(hparams["valid_dataloader_opts"], hparams)
    results = {"dev": brain.evaluate_set("dev", dev_set, valid_opts)}
    test_opts = loader_options(hparams["test_dataloader_opts"], hparams)
    for name, (dataset, manifest) in eval_sets.items():
        results[name] = brain.evaluate_set(name, dataset, test_opts)
        if sb.utils.distributed.if_main_process():
            with open(manifest, encoding="utf-8") as f:
                entries = json.load(f)
            report = report_scores(
                name,
                read_score_file(results[name]["score_file"]),
                entries,
                os.path.join(hparams["output_folder"], "evaluation"),
            )
            results[name].update(
                {k: report[k] for k in ("unscored", "breakdown_file", "det_plot")}
            )
    skip_log = os.path.join(hparams["output_folder"], "skipped_items.tsv")
    results["skipped_items"] = count_logged_skips(skip_log)
    if sb.utils.distributed.if_main_process():
        write_results(
            os.path.join(hparams["output_folder"], "eval_results.json"), results
        )
        for name, res in results.items():
            if name in eval_sets:
                print(
                    f"EER {name}: {res['EER']:.2f}% ({res['trials']} trials) "
                    f"-> {res['score_file']}"
                )
        if results["skipped_items"]:
            print(f"Skipped {results['skipped_items']} unreadable items: {skip_log}")

        # A ready-to-publish detector folder: the evaluated weights (best or
        # k-best average) and the dev EER threshold.
        detector = export_detector(
            os.path.join(hparams["output_folder"], "detector"),
            hparams_file,
            hparams["model"],
            threshold=results["dev"]["threshold"],
            overrides=overrides,
            card={
                "title": hparams["experiment_name"],
                "training_data": describe_training_data(hparams["data_folder"]),
                "eers": {k: v["EER"] for k, v in results.items() if k in eval_sets},
            },
        )
        print(f"Detector exported to {detector}")
