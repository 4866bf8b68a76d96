#!/usr/bin/env python3
"""Prepare ASVspoof 2019 LA for the recipes: protocols -> JSON manifests.

Writes ``<save_folder>/{train,dev,eval}.json`` with paths relative to
``{data_root}`` (:func:`dpda.data.asvspoof.prepare_asvspoof2019_la`, which
``train.py`` runs itself)::

    python asvspoof_prepare.py /path/to/LA results/manifests [--splits dev eval]

Authors
 * dpda contributors 2026
"""

from dpda.data.asvspoof import LA_SPLITS, prepare_asvspoof2019_la
from dpda.prepare_cli import prepare_cli

if __name__ == "__main__":
    prepare_cli(
        prepare_asvspoof2019_la,
        __doc__.split("\n")[0],
        "the LA folder of ASVspoof 2019",
        splits=dict(nargs="+", choices=list(LA_SPLITS), default=list(LA_SPLITS)),
    )
