#!/usr/bin/env python3
"""Prepare Fake-or-Real "for-norm" (FoR) for evaluation: folders -> JSON.

Expected layout (the official release; the class is the folder)::

    <data_folder>/testing/fake/*.wav   labelled spoof
    <data_folder>/testing/real/*.wav   labelled bonafide
    (and training/, validation/ alike)

Writes ``<save_folder>/for_norm_<split>.json`` with paths relative to
``{data_root}`` (the ``for-norm`` folder) and trial ids ``fake/<file>`` /
``real/<file>``, as in the DPDA authors' score files. ``evaluate.py
--eval_set=for_norm`` calls :func:`dpda.data.fakeorreal.prepare_for_norm`
itself; this script runs it on its own::

    python for_norm_prepare.py /path/to/for-norm results/manifests [--split testing]

Authors
 * dpda contributors 2026
"""

from dpda.data.fakeorreal import FOR_SPLITS, prepare_for_norm
from dpda.prepare_cli import prepare_cli

if __name__ == "__main__":
    prepare_cli(
        prepare_for_norm,
        __doc__.split("\n")[0],
        "the for-norm folder",
        split=dict(default="testing", choices=FOR_SPLITS, help="default: testing"),
    )
