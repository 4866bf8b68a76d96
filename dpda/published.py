"""Published checkpoints: fetching them, and what is known about them.

:func:`fetch_checkpoint` turns a checkpoint reference into a local file: a
local path as it is, or a hub reference ``hf://<owner>/<repo>/<file>``
(e.g. ``hf://tuantd/dpda_ga/LA_model.pth``) downloaded with
``huggingface_hub`` into its cache (``HF_HUB_CACHE``; offline mode with
``HF_HUB_OFFLINE=1`` reads the cache only). :data:`KNOWN_CHECKPOINTS` holds
the model-card facts of the released files this project has checked score
for score against their reference code, keyed by sha256, so that an
imported detector says what it is without the user typing it in.
:func:`init_from_checkpoint` loads one as a training run's initial weights.

Authors
 * dpda contributors 2026
"""

import hashlib
import logging
import os

logger = logging.getLogger(__name__)

HUB_SCHEME = "hf://"

_CLOVAAI = "clovaai/aasist (models/weights, commit a04c9863f63d44471dde8a6abcb3b082b07cd1d1), MIT licence, (c) 2021-present NAVER Corp."
_ASVSPOOF5 = "asvspoof-challenge/asvspoof5 (Baseline-AASIST/models/weights/AASIST/best.pth, commit fe23d3053a0889b305d98c9e4cadf418c213d972), MIT licence"

_LA_ONLY = (
    "Trained on ASVspoof 2019 LA only (studio-quality read English speech, "
    "2018-2019 synthesis and conversion systems): expect weak results on "
    "In-the-Wild-like audio (other recording conditions, codecs, newer "
    "generators). Not calibrated: it gives scores, and no label unless a "
    "threshold is passed."
)
# How the released weights were trained: their publishers' own recipes, not
# dpda's hparams file they are exported with (no RawBoost, no DPDA).
_CLOVAAI_RECIPE = (
    "clovaai/aasist `main.py --config config/{}.conf` (their own recipe: "
    "Adam, lr 1e-4 with a cosine schedule, weight decay 1e-4, batch 24, 100 "
    "epochs, cross-entropy weighted 0.1 spoof / 0.9 bona fide, 64,600-sample "
    "inputs; no data augmentation: no RawBoost, no DPDA)"
)

#: sha256 -> model card entries of checkpoints checked against their reference.
KNOWN_CHECKPOINTS = {
    "51d2d9cf0738172f61e2a384ec50a54a55363240f67c971ed55a92435bc1a1c0": {
        "title": "AASIST (clovaai, ASVspoof 2019 LA)",
        "description": "The raw-waveform AASIST of Jung et al. (ICASSP 2022) as "
        "released by its authors, imported by dpda with no key mapping; scores "
        "equal the reference implementation's to 1e-4. Reported on ASVspoof "
        "2019 LA eval: EER 0.83%, min t-DCF 0.0275. " + _LA_ONLY,
        "training_data": "ASVspoof 2019 LA train (bona fide and spoofed English "
        "speech, VCTK speakers, attacks A01-A06)",
        "license": "mit",
        "provenance": _CLOVAAI,
        "training_recipe": _CLOVAAI_RECIPE.format("AASIST"),
    },
    "814331d088032bb4c3fa61cc014789eadeed464209dd094ab3a2dd6ffbdce27a": {
        "title": "AASIST-L (clovaai, ASVspoof 2019 LA)",
        "description": "The light raw-waveform AASIST (85k parameters) of Jung et "
        "al. (ICASSP 2022) as released by its authors, imported by dpda with no "
        "key mapping; scores equal the reference implementation's to 1e-4. "
        "Reported on ASVspoof 2019 LA eval: EER 0.99%, min t-DCF 0.0309. " + _LA_ONLY,
        "training_data": "ASVspoof 2019 LA train (bona fide and spoofed English "
        "speech, VCTK speakers, attacks A01-A06)",
        "license": "mit",
        "provenance": _CLOVAAI,
        "training_recipe": _CLOVAAI_RECIPE.format("AASIST-L"),
    },
    "8f10fe1d1ce3ac62c19f00b86dfaf79f86f464301d23e08726b16b02edbb601c": {
        "title": "AASIST, ASVspoof 5 baseline",
        "description": "The official ASVspoof 5 challenge baseline (AASIST "
        "architecture), imported by dpda with no key mapping; scores equal the "
        "reference implementation's to 1e-4. Reported ASVspoof 5 validation "
        "EER 15.2%. Not calibrated: it gives scores, and no label unless a "
        "threshold is passed.",
        "training_data": "ASVspoof 5 train (track 1)",
        "license": "mit",
        "provenance": _ASVSPOOF5,
        "training_recipe": "asvspoof-challenge/asvspoof5 `Baseline-AASIST/main.py` "
        "with `config/AASIST_ASVspoof5.conf` (the organisers' recipe, its "
        "configuration shipped beside the weights as "
        "`models/weights/AASIST/config.conf`: Adam, lr 1e-4 with a cosine "
        "schedule, batch 24, 100 epochs, 64,600-sample inputs; no data "
        "augmentation: no RawBoost, no DPDA)",
    },
}


def sha256_of(path):
    """sha256 hex digest of a file, read in 1 MiB blocks.

    Arguments
    ---------
    path : str
        The file.

    Returns
    -------
    str
        The digest.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "empty")
    >>> _ = open(path, "wb").close()
    >>> sha256_of(path)[:16]
    'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fin:
        for block in iter(lambda: fin.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_hub_reference(reference):
    """Split ``hf://<owner>/<repo>/<path>`` into repository id and file path.

    Arguments
    ---------
    reference : str
        A checkpoint reference.

    Returns
    -------
    tuple of str or None
        ``(repo_id, filename)``, or ``None`` when ``reference`` is not a hub
        reference.

    Example
    -------
    >>> parse_hub_reference("hf://tuantd/dpda_ga/LA/model.pth")
    ('tuantd/dpda_ga', 'LA/model.pth')
    >>> parse_hub_reference("checkpoints/model.pth") is None
    True
    >>> parse_hub_reference("hf://tuantd/model.pth")
    Traceback (most recent call last):
    ...
    ValueError: hub reference 'hf://tuantd/model.pth' must be hf://<owner>/<repo>/<file>
    """
    if not str(reference).startswith(HUB_SCHEME):
        return None
    parts = str(reference)[len(HUB_SCHEME) :].split("/")
    if len(parts) < 3 or not all(parts):
        raise ValueError(
            f"hub reference {reference!r} must be {HUB_SCHEME}<owner>/<repo>/<file>"
        )
    return "/".join(parts[:2]), "/".join(parts[2:])


def fetch_checkpoint(reference, revision=None, cache_dir=None):
    """A local path for a checkpoint reference, downloading hub files.

    Arguments
    ---------
    reference : str
        A local file, or ``hf://<owner>/<repo>/<file>``.
    revision : str, optional
        Hub revision (branch, tag or commit hash; a commit hash pins the
        exact file). Ignored for local files.
    cache_dir : str, optional
        The hub cache (default: ``huggingface_hub``'s, ``HF_HUB_CACHE``).

    Returns
    -------
    str
        The local file (for hub files, inside the hub cache).

    Raises
    ------
    FileNotFoundError
        For a local path that is not a file, or a hub file that cannot be
        downloaded nor found in the cache (offline).

    Example
    -------
    >>> fetch_checkpoint("no/such.pth")
    Traceback (most recent call last):
    ...
    FileNotFoundError: checkpoint not found: no/such.pth
    """
    hub = parse_hub_reference(reference)
    if hub is None:
        if not os.path.isfile(reference):
            raise FileNotFoundError(f"checkpoint not found: {reference}")
        return str(reference)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo_id, filename = hub
    try:
        return hf_hub_download(
            repo_id, filename, revision=revision, cache_dir=cache_dir
        )
    except (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    ) as error:
        raise FileNotFoundError(
            f"{reference} (revision {revision or 'main'}) could not be fetched: "
            f"{str(error).splitlines()[0]}"
        ) from None


def describe_checkpoint(path):
    """Model-card entries of a known published checkpoint, else ``{}``.

    Arguments
    ---------
    path : str
        A local checkpoint file.

    Returns
    -------
    dict
        A copy of its :data:`KNOWN_CHECKPOINTS` entry, or an empty dict.
    """
    return dict(KNOWN_CHECKPOINTS.get(sha256_of(path), {}))


def init_from_checkpoint(reference, revision, checkpointer, pretrainer):
    """Load a checkpoint into a model through the Pretrainer, on a fresh run.

    A local file, or ``hf://<owner>/<repo>/<file>`` fetched into the hub
    cache by the main process first. A run that has checkpoints resumes from
    them instead.

    Arguments
    ---------
    reference : str or None
        The hparams' ``init_from``; ``None``: nothing to load.
    revision : str or None
        Hub revision of a hub reference (``init_revision``).
    checkpointer : speechbrain.utils.checkpoints.Checkpointer
        The run's checkpointer: with a checkpoint, nothing is loaded.
    pretrainer : speechbrain.utils.parameter_transfer.Pretrainer
        Its loadable ``model`` receives the weights.

    Returns
    -------
    str or None
        The local checkpoint file loaded, or ``None`` when nothing was.

    Example
    -------
    >>> init_from_checkpoint(None, None, None, None) is None
    True
    """
    from speechbrain.utils.distributed import run_on_main

    if not reference:
        return None
    if checkpointer.find_checkpoint() is not None:
        logger.info("Resuming: init_from=%s not applied", reference)
        return None
    run_on_main(fetch_checkpoint, args=[reference], kwargs={"revision": revision})
    path = os.path.abspath(fetch_checkpoint(reference, revision=revision))
    pretrainer.add_paths({"model": path})
    run_on_main(pretrainer.collect_files)
    pretrainer.load_collected()
    logger.info("Initialised the model from %s", reference)
    return path
