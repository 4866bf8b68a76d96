"""The one command line of the ``<corpus>_prepare.py`` scripts.

``python <corpus>_prepare.py DATA_FOLDER SAVE_FOLDER [--option VALUE ...]``
runs a corpus's ``prepare_<corpus>`` function of :mod:`dpda.data` and prints
the manifests it wrote (:func:`prepare_cli`). The training and evaluation
recipes have theirs in :mod:`dpda.recipe_cli`.

Authors
 * dpda contributors 2026
"""

import argparse
import logging


def prepare_cli(prepare, description, data_help, argv=None, **options):
    """The command line of every ``<corpus>_prepare.py`` script.

    ``python <corpus>_prepare.py DATA_FOLDER SAVE_FOLDER [--option VALUE ...]``
    calls ``prepare(data_folder, save_folder, **options)`` and prints what
    it returns (the manifest paths).

    Arguments
    ---------
    prepare : callable
        The library function, ``prepare(data_folder, save_folder, ...)``.
    description : str
        The script's description (its docstring's first line).
    data_help : str
        What ``DATA_FOLDER`` is.
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).
    **options
        ``name=dict(...)``: keyword arguments of
        ``argparse.ArgumentParser.add_argument`` for ``--name``.

    Returns
    -------
    object
        What ``prepare`` returned.

    Example
    -------
    >>> def prepare(data_folder, save_folder, split="test"):
    ...     return f"{data_folder} {split} -> {save_folder}"
    >>> prepare_cli(prepare, "Prepare X", "the corpus",
    ...             ["/c", "out", "--split", "dev"], split=dict(default="test"))
    /c dev -> out
    '/c dev -> out'
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("data_folder", help=data_help)
    parser.add_argument("save_folder", help="where the manifests are written")
    for name, spec in options.items():
        parser.add_argument(f"--{name}", **spec)
    args = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO)
    result = prepare(args.pop("data_folder"), args.pop("save_folder"), **args)
    print(result)
    return result
