#!/usr/bin/env python3
"""Prepare the real-world set (tests/data/real_world) for the recipes.

Writes ``<save_folder>/real_world_train.json`` (the calibration part: the
training and dev set) and ``real_world_eval.json`` (the held-out part), with
paths relative to ``{data_root}``
(:func:`dpda.data.realworld.prepare_real_world`, which ``train.py`` runs
itself with ``corpus: real_world``)::

    python real_world_prepare.py ../../tests/data/real_world results/manifests

Authors
 * dpda contributors 2026
"""

from dpda.data.realworld import prepare_real_world
from dpda.prepare_cli import prepare_cli

if __name__ == "__main__":
    prepare_cli(
        prepare_real_world,
        __doc__.split("\n")[0],
        "the real-world set's folder (tests/data/real_world)",
    )
