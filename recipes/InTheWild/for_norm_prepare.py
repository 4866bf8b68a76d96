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

import argparse
import logging

from dpda.data.fakeorreal import FOR_SPLITS, prepare_for_norm

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_folder", help="the for-norm folder")
    parser.add_argument("save_folder", help="where the manifest is written")
    parser.add_argument(
        "--split", default="testing", choices=FOR_SPLITS, help="default: testing"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    prepare_for_norm(args.data_folder, args.save_folder, split=args.split)
