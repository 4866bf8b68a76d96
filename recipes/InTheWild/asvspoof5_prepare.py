#!/usr/bin/env python3
"""Prepare ASVspoof 5 (track 1): protocols -> one JSON manifest per split.

Expected layout (the official release, archives unpacked in one folder)::

    <data_folder>/flac_T/*.flac, flac_D/*.flac, flac_E_eval/*.flac
    <protocols_folder>/ASVspoof5.{train,dev.track_1,eval.track_1}.tsv
                                            (default <data_folder>)

Writes ``<save_folder>/asvspoof5_<split>.json`` with paths relative to
``{data_root}`` (the data folder), keeping the speaker, gender, codec and
attack columns::

    python asvspoof5_prepare.py /path/to/ASVspoof5 results/manifests --splits eval

Authors
 * dpda contributors 2026
"""

from dpda.data.asvspoof5 import SPLITS, prepare_asvspoof5
from dpda.prepare_cli import prepare_cli

if __name__ == "__main__":
    prepare_cli(
        prepare_asvspoof5,
        __doc__.split("\n")[0],
        "the folder holding flac_T, flac_D and flac_E_eval",
        splits=dict(
            nargs="+", default=list(SPLITS), choices=list(SPLITS), help="splits"
        ),
        protocols_folder=dict(
            default=None, help="protocols folder (default <data_folder>)"
        ),
        no_check_audio=dict(
            dest="check_audio",
            action="store_false",
            help="do not check that every listed audio file exists",
        ),
    )
