"""Prepare ASVspoof 2019 LA for the recipes: protocols -> JSON manifests.

Expected layout (the official release)::

    <data_folder>/ASVspoof2019_LA_train/flac/LA_T_*.flac
    <data_folder>/ASVspoof2019_LA_dev/flac/LA_D_*.flac
    <data_folder>/ASVspoof2019_LA_eval/flac/LA_E_*.flac
    <data_folder>/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt

Writes ``<save_folder>/{train,dev,eval}.json`` with paths relative to
``{data_root}``. Run by ``train.py``, or on its own::

    python asvspoof_prepare.py /path/to/LA results/manifests

Authors
 * dpda contributors 2026
"""

import argparse
import logging
import os

from dpda.data.asvspoof import LA_SPLITS, PROTOCOL_FOLDER, parse_la_protocol
from dpda.data.manifest import (
    already_prepared,
    check_audio_exists,
    mark_prepared,
    write_json_atomic,
)

logger = logging.getLogger(__name__)
STAMP = "asvspoof2019_la.options.json"


def prepare_asvspoof2019_la(
    data_folder, save_folder, splits=("train", "dev", "eval"), skip_prep=False
):
    """Write the JSON manifests of ASVspoof 2019 LA.

    Arguments
    ---------
    data_folder : str
        The ``LA`` folder of the corpus.
    save_folder : str
        Where the manifests go.
    splits : sequence of str
        Any of ``train``, ``dev``, ``eval``.
    skip_prep : bool
        Do nothing (the manifests are managed by the user).

    Returns
    -------
    dict
        ``{split: manifest_path}``.

    Raises
    ------
    dpda.data.asvspoof.ProtocolError
        On a malformed protocol line (file and line named).
    FileNotFoundError
        When a protocol or listed audio file is missing.
    """
    outputs = {split: os.path.join(save_folder, f"{split}.json") for split in splits}
    if skip_prep:
        return outputs
    unknown = set(splits) - set(LA_SPLITS)
    if unknown:
        raise ValueError(f"Unknown split(s) {sorted(unknown)}; use {list(LA_SPLITS)}")
    options = {"data_folder": os.path.abspath(data_folder), "splits": list(splits)}
    if already_prepared(save_folder, list(outputs.values()), options, STAMP):
        logger.info("ASVspoof 2019 LA manifests already prepared in %s", save_folder)
        return outputs
    for split in splits:
        audio_folder, protocol_name = LA_SPLITS[split]
        protocol = os.path.join(data_folder, PROTOCOL_FOLDER, protocol_name)
        if not os.path.isfile(protocol):
            raise FileNotFoundError(
                f"ASVspoof 2019 LA protocol not found: {protocol} "
                "(is data_folder the corpus's LA folder?)"
            )
        entries = parse_la_protocol(protocol, audio_folder)
        check_audio_exists(entries, data_folder, protocol)
        write_json_atomic(entries, outputs[split])
        n_bona = sum(e["label"] == "bonafide" for e in entries.values())
        logger.info(
            "%s: %d trials (%d bona fide, %d spoof) -> %s",
            split,
            len(entries),
            n_bona,
            len(entries) - n_bona,
            outputs[split],
        )
    mark_prepared(save_folder, options, STAMP)
    return outputs


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_folder", help="the LA folder of ASVspoof 2019")
    parser.add_argument("save_folder", help="where the manifests are written")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    prepare_asvspoof2019_la(args.data_folder, args.save_folder)
