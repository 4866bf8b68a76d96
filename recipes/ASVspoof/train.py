#!/usr/bin/env python3
"""Recipe for training speech deepfake detectors on ASVspoof 2019 LA or ASVspoof 5.

The hparams file chooses the corpus (``corpus``: ``asvspoof2019_la`` by
default, or ``asvspoof5``), the Brain (single-path RawBoost baseline or DPDA
with a gradient aligner), the model (a small raw-waveform CNN for CPU work,
the raw-waveform AASIST / AASIST-L, or an SSL front end such as XLS-R with a
back end), its initial weights (``init_from``: a published checkpoint, local
or ``hf://``), the augmentation and the evaluation sets. Training selects on
the dev loss; at the end the best checkpoint (or the k-best average) scores
dev, where a calibration to log-likelihood ratios is fitted, and every
evaluation set, writing ``scores/<set>.txt`` (``UTT_ID SCORE``, higher = more
bona fide), the EER, minDCF, actDCF and Cllr, and exports the detector.

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

import json
import logging
import os
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.distributed import run_on_main

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
from dpda.evaluation import (
    METRIC_KEYS,
    calibrate_on,
    format_metrics,
    report_scores,
    split_by_label,
    write_results,
)
from dpda.export import export_detector
from dpda.plots import plot_alignment_stats, plot_reliability
from dpda.published import fetch_checkpoint
from dpda.recipe_cli import parse_recipe_arguments, user_errors
from dpda.scores import read_score_file

logger = logging.getLogger(__name__)


# corpus -> (manifest file per split, name of its evaluation set)
CORPORA = {
    "asvspoof2019_la": (
        {"train": "train.json", "dev": "dev.json", "eval": "eval.json"},
        "asvspoof2019_la_eval",
    ),
    "asvspoof5": (
        {s: f"asvspoof5_{s}.json" for s in ("train", "dev", "eval")},
        "asvspoof5_eval",
    ),
}


def prepare_data(hparams):
    """Generate the mini corpus if asked and absent, then write the manifests."""
    mini_root = hparams.get("mini_corpus_folder")
    if mini_root and not os.path.isdir(hparams["data_folder"]):
        logger.info("Generating the synthetic mini corpus in %s", mini_root)
        generate_mini_corpus(mini_root, seed=hparams["mini_corpus_seed"])
    corpus = hparams.get("corpus", "asvspoof2019_la")
    if corpus == "asvspoof5":
        prepare_asvspoof5(
            data_folder=hparams["data_folder"],
            save_folder=hparams["manifest_folder"],
            protocols_folder=hparams.get("protocols_folder"),
            skip_prep=hparams["skip_prep"],
        )
    elif corpus == "asvspoof2019_la":
        prepare_asvspoof2019_la(
            data_folder=hparams["data_folder"],
            save_folder=hparams["manifest_folder"],
            skip_prep=hparams["skip_prep"],
        )
    else:
        raise ValueError(f"corpus must be one of {tuple(CORPORA)}, got {corpus!r}")
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

    def load(name, root, crop, window="first"):
        """A manifest of ``manifests`` as a dataset, with its path."""
        path = os.path.join(manifests, name)
        return load_manifest(path, root, crop, crop=window, **audio), path

    # first: the first max_samples of each file (the DPDA paper); random: a
    # random window per epoch (AASIST's training crop).
    manifest_names, eval_name = CORPORA[hparams.get("corpus", "asvspoof2019_la")]
    train_set, _ = load(
        manifest_names["train"],
        data_folder,
        hparams["max_samples"],
        hparams.get("train_crop", "first"),
    )
    dev_set, _ = load(manifest_names["dev"], data_folder, hparams["eval_max_samples"])
    eval_sets = {
        eval_name: load(
            manifest_names["eval"], data_folder, hparams["eval_max_samples"]
        )
    }
    # Augmented paths computed by the data loader's workers (e.g. codecs):
    # each training item carries its view as sig_<name>.
    for name, augment in (hparams.get("augment_paths") or {}).items():
        if getattr(augment, "loader_side", False):
            add_augmented_view(train_set, name, augment)
    if hparams.get("itw_folder"):
        eval_sets["in_the_wild"] = load(
            "in_the_wild.json", hparams["itw_folder"], hparams["eval_max_samples"]
        )
    return train_set, dev_set, eval_sets


def init_model(hparams):
    """Load ``init_from`` into the model through the Pretrainer, on a fresh run.

    A local file, or ``hf://<owner>/<repo>/<file>`` fetched into the hub
    cache (``init_revision``). A run that has checkpoints resumes from them
    instead.
    """
    if not hparams.get("init_from"):
        return
    if hparams["checkpointer"].find_checkpoint() is not None:
        logger.info("Resuming: init_from=%s not applied", hparams["init_from"])
        return
    run_on_main(
        fetch_checkpoint,
        args=[hparams["init_from"]],
        kwargs={"revision": hparams["init_revision"]},
    )
    path = fetch_checkpoint(hparams["init_from"], revision=hparams["init_revision"])
    pretrainer = hparams["pretrainer"]
    pretrainer.add_paths({"model": os.path.abspath(path)})
    run_on_main(pretrainer.collect_files)
    pretrainer.load_collected()
    logger.info("Initialised the model from %s", hparams["init_from"])


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
        sys.argv[1:], "train.py", __doc__, choices={"corpus": tuple(CORPORA)}
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
        run_on_main(prepare_data, kwargs={"hparams": values})
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    train_set, dev_set, eval_sets = dataio_prep(hparams)

    brain = hparams["brain_class"](
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    init_model(hparams)
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
    # The calibration of the exported detector: an affine map from its scores
    # to LLRs, fitted on dev (prior-weighted logistic regression at the
    # effective prior of the ASVspoof 5 cost model, dpda.calibration).
    calibration = None
    if sb.utils.distributed.if_main_process():
        dev_manifest = os.path.join(
            hparams["manifest_folder"],
            CORPORA[hparams.get("corpus", "asvspoof2019_la")][0]["dev"],
        )
        with open(dev_manifest, encoding="utf-8") as f:
            dev_entries = json.load(f)
        dev_scores = read_score_file(results["dev"]["score_file"])
        calibration = calibrate_on(dev_scores, dev_entries, "dev")
        dev_report = report_scores(
            "dev",
            dev_scores,
            dev_entries,
            os.path.join(hparams["output_folder"], "evaluation"),
            calibration=calibration,
            plots=False,
        )
        results["dev"].update({k: dev_report[k] for k in METRIC_KEYS})
        results["dev"]["calibration"] = calibration.to_dict()
        labelled = {"dev": split_by_label(dev_scores, dev_entries)}
    test_opts = loader_options(hparams["test_dataloader_opts"], hparams)
    # The mini corpus's channel and codec of each file: EER per codec too.
    conditions = read_conditions(hparams.get("mini_corpus_folder") or "")
    for name, (dataset, manifest) in eval_sets.items():
        results[name] = brain.evaluate_set(name, dataset, test_opts)
        if sb.utils.distributed.if_main_process():
            with open(manifest, encoding="utf-8") as f:
                entries = json.load(f)
            for utt_id, condition in conditions.get(name, {}).items():
                if utt_id in entries:
                    entries[utt_id].update(condition)
            scores = read_score_file(results[name]["score_file"])
            labelled[name] = split_by_label(scores, entries)
            report = report_scores(
                name,
                scores,
                entries,
                os.path.join(hparams["output_folder"], "evaluation"),
                calibration=calibration,
            )
            results[name].update(
                {
                    k: report[k]
                    for k in (
                        "unscored",
                        "breakdown",
                        "breakdown_file",
                        "det_plot",
                        *METRIC_KEYS,
                    )
                }
            )
    if sb.utils.distributed.if_main_process():
        # Is the dev calibration calibrated elsewhere? One figure for all sets.
        results["dev"]["reliability_plot"] = plot_reliability(
            {
                name: (calibration.llr(bona), calibration.llr(spoof))
                for name, (bona, spoof) in labelled.items()
            },
            os.path.join(hparams["output_folder"], "evaluation", "reliability.png"),
            title="LLRs calibrated on dev",
        )
    skip_log = os.path.join(hparams["output_folder"], "skipped_items.tsv")
    results["skipped_items"] = count_logged_skips(skip_log)
    if sb.utils.distributed.if_main_process():
        write_results(
            os.path.join(hparams["output_folder"], "eval_results.json"), results
        )
        for name, res in results.items():
            if name in eval_sets or name == "dev":
                # The final summary, in the training log and on the terminal.
                hparams["train_logger"].log_stats(
                    stats_meta={"Final summary": name},
                    test_stats={
                        k: res[k]
                        for k in ("EER", "minDCF", "actDCF", "Cllr", "Cllr_raw")
                    },
                )
            if name in eval_sets:
                print(
                    f"EER {name}: {res['EER']:.2f}% ({res['trials']} trials) "
                    f"-> {res['score_file']}"
                )
                print(format_metrics(name, res))
        if results["skipped_items"]:
            print(f"Skipped {results['skipped_items']} unreadable items: {skip_log}")

        # A ready-to-publish detector folder: the evaluated weights (best or
        # k-best average) and the dev EER threshold.
        detector = export_detector(
            os.path.join(hparams["output_folder"], "detector"),
            hparams_file,
            hparams["model"],
            threshold=results["dev"]["threshold"],
            calibration=calibration,
            overrides=overrides,
            card={
                "title": hparams["experiment_name"],
                "training_data": describe_training_data(hparams["data_folder"]),
                "eers": {k: v["EER"] for k, v in results.items() if k in eval_sets},
            },
        )
        print(f"Detector exported to {detector}")
