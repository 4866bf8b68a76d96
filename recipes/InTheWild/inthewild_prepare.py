#!/usr/bin/env python3
"""Prepare In-the-Wild (Mueller et al. 2022) for evaluation: meta.csv -> JSON.

Expected layout (the official release)::

    <data_folder>/meta.csv          columns file,speaker,label
    <data_folder>/0.wav ... 31778.wav

Writes ``<save_folder>/in_the_wild.json`` with paths relative to
``{data_root}`` (:func:`dpda.data.inthewild.prepare_in_the_wild`, which the
recipes run themselves)::

    python inthewild_prepare.py /path/to/release_in_the_wild results/manifests

Authors
 * dpda contributors 2026
"""

from dpda.data.inthewild import prepare_in_the_wild
from dpda.prepare_cli import prepare_cli

if __name__ == "__main__":
    prepare_cli(
        prepare_in_the_wild, __doc__.split("\n")[0], "the release_in_the_wild folder"
    )
