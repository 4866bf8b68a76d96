"""Prepare In-the-Wild (Mueller et al. 2022) for evaluation: meta.csv -> JSON.

Expected layout (the official release)::

    <data_folder>/meta.csv          columns file,speaker,label
    <data_folder>/0.wav ... 31778.wav

Writes ``<save_folder>/in_the_wild.json`` with paths relative to
``{data_root}``. The recipes call :func:`dpda.data.inthewild.prepare_in_the_wild`
themselves; this script runs it on its own::

    python inthewild_prepare.py /path/to/release_in_the_wild results/manifests

Authors
 * dpda contributors 2026
"""

import argparse
import logging

from dpda.data.inthewild import prepare_in_the_wild

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_folder", help="the release_in_the_wild folder")
    parser.add_argument("save_folder", help="where the manifest is written")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    prepare_in_the_wild(args.data_folder, args.save_folder)
