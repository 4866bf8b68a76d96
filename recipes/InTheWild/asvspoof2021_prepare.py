#!/usr/bin/env python3
"""Prepare ASVspoof 2021 LA or DF evaluation data: keys -> JSON manifest.

Expected layout (the official release, keys unpacked into ``keys/``)::

    <data_folder>/ASVspoof2021_{LA,DF}_eval/flac/*.flac
    <keys_folder>/{LA,DF}/CM/trial_metadata.txt   (default <data_folder>/keys)

Writes ``<save_folder>/asvspoof2021_<track>_<subset>.json`` with paths
relative to ``{data_root}`` (the data folder), keeping every key column::

    python asvspoof2021_prepare.py /path/to/2021 results/manifests --track LA

Authors
 * dpda contributors 2026
"""

from dpda.data.asvspoof2021 import prepare_asvspoof2021
from dpda.prepare_cli import prepare_cli

if __name__ == "__main__":
    prepare_cli(
        prepare_asvspoof2021,
        __doc__.split("\n")[0],
        "the folder holding ASVspoof2021_<track>_eval",
        track=dict(required=True, choices=["LA", "DF"]),
        keys_folder=dict(default=None, help="keys folder (default <data_folder>/keys)"),
        subset=dict(
            default="eval", help="eval (official figures), progress, hidden or all"
        ),
        no_check_audio=dict(
            dest="check_audio",
            action="store_false",
            help="do not check that every listed audio file exists",
        ),
    )
