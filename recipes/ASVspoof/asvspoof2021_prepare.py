"""Prepare ASVspoof 2021 LA or DF evaluation data: keys -> JSON manifest.

Expected layout (the official release, keys unpacked into ``keys/``)::

    <data_folder>/ASVspoof2021_{LA,DF}_eval/flac/*.flac
    <keys_folder>/{LA,DF}/CM/trial_metadata.txt   (default <data_folder>/keys)

Writes ``<save_folder>/asvspoof2021_<track>_<subset>.json`` with paths
relative to ``{data_root}`` (the data folder), keeping every key column::

    python asvspoof2021_prepare.py --data_folder /path/to/2021 \\
        --save_folder results/manifests --track LA

Authors
 * dpda contributors 2026
"""

import argparse
import logging

from dpda.data.asvspoof2021 import prepare_asvspoof2021

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data_folder", required=True, help="folder of ASVspoof2021_<track>_eval"
    )
    parser.add_argument(
        "--save_folder", required=True, help="where the manifest is written"
    )
    parser.add_argument("--track", required=True, choices=["LA", "DF"])
    parser.add_argument(
        "--keys_folder", default=None, help="keys folder (default <data_folder>/keys)"
    )
    parser.add_argument(
        "--subset",
        default="eval",
        help="eval (official figures), progress, hidden, or all",
    )
    parser.add_argument(
        "--no_check_audio",
        action="store_true",
        help="do not check that every listed audio file exists",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    print(
        prepare_asvspoof2021(
            args.data_folder,
            args.save_folder,
            args.track,
            keys_folder=args.keys_folder,
            subset=args.subset,
            check_audio=not args.no_check_audio,
        )
    )
