"""A synthetic mini anti-spoofing corpus in the on-disk formats of the real ones.

:func:`generate_mini_corpus` writes, deterministically from a seed, a small
corpus laid out exactly like ASVspoof 2019 LA (FLAC files and CM protocols)
and In-the-Wild (WAV files and ``meta.csv``), so that the real preparation
code reads it unchanged and the recipes run end to end on a CPU in minutes.

* Bona fide audio comes from a source-filter speech synthesiser: a Rosenberg
  glottal pulse with jitter and shimmer driven by a pitch contour with
  declination and accents, syllables made of fricative / plosive / nasal
  onsets and voiced nuclei, a cascade of formant resonators moving between
  vowel targets, aspiration noise and a mild microphone / room colouration.
* Spoofed audio is resynthesised from the same kind of speech parameters by
  "attacks", each leaving its own family of artefacts (Griffin-Lim phase,
  over-regular source, channel vocoder, harmonic-plus-noise model,
  concatenation joins, upsampling gap, LPC buzz, mel smoothing, spectral
  warping, PSOLA grains ...), plus a weak roll-off near Nyquist that all of
  them share, as vocoders trained on band-limited features do. Train and dev
  share attacks A01-A06; eval uses unseen attacks A07-A13 and In-the-Wild
  unseen attack chains of its own.
* Eval and In-the-Wild add channel effects to both classes (telephone band,
  mu-law, additive noise, reverberation), so that a detector trained on the
  clean training set generalises imperfectly and data augmentation matters.
* Half of each class of eval and of In-the-Wild also goes through a real
  lossy codec at a low bitrate (MP3 at 16, 24 or 32 kbit/s, Opus at 8, 12 or
  16 kbit/s, encoded and decoded with FFmpeg through
  :mod:`dpda.augment.codec`); train and dev stay codec-free, so the codecs
  are an unseen condition. ``MINI_CORPUS.conditions.tsv`` lists the channel
  effects and the codec of every file, for per-condition tables.

Loudness, duration, leading silence, noise floor and file format have the
same distributions for both classes, so none of them is a shortcut.

Modules, in the order they build on each other:

* ``dsp``: framing, STFT and its inverse, FFT filtering, smoothing;
* ``speech``: speakers, utterance plans, the bona fide renderer;
* ``attacks``: plan transforms, vocoder steps, :data:`ATTACKS`,
  :func:`apply_attack`;
* ``channels``: channel effects, codec conditions and their per-split
  profiles;
* ``utterance``: one corpus file, from its random streams to int16 samples;
* ``layout``: the LA and In-the-Wild folders, protocols, ``meta.csv``,
  counts, the conditions listing and the stamp;
* this module: :func:`generate_mini_corpus`, :func:`describe_training_data`
  and the command line (``python -m dpda.data.minicorpus``).

Authors
 * dpda contributors 2026
"""

import argparse
import json
import os

from dpda.data.minicorpus.attacks import (
    ATTACKS,
    SPLIT_ATTACKS,
    Attack,
    apply_attack,
)
from dpda.data.minicorpus.channels import (
    CHANNEL_EFFECTS,
    CHANNEL_PROFILES,
    CODEC_CONDITIONS,
    UNCODED,
    apply_channel_effects,
    apply_codec,
    assign_codecs,
)
from dpda.data.minicorpus.layout import (
    _LA_LAYOUT as _LA_LAYOUT,  # re-exported: the tests read the split table
)
from dpda.data.minicorpus.layout import (
    CONDITIONS_HEADER,
    CONDITIONS_NAME,
    DEFAULT_SIZES,
    GENERATOR_VERSION,
    ITW_FOLDER,
    LA_FOLDER,
    PARTIAL_NAME,
    PROTOCOL_FOLDER,
    SPLITS,
    STAMP_NAME,
    _clear,
    _generated_paths,
    _options,
    _resolve_sizes,
    _write_conditions,
    _write_itw,
    _write_json,
    _write_la,
)
from dpda.data.minicorpus.speech import (
    Speaker,
    SpeechPlan,
    plan_utterance,
    render_speech,
    sample_speaker,
)
from dpda.data.minicorpus.utterance import (
    DURATION_RANGE,
    FLOOR_DB_RANGE,
    PEAK_RANGE,
)

__all__ = [
    "ATTACKS",
    "Attack",
    "CHANNEL_EFFECTS",
    "CHANNEL_PROFILES",
    "CODEC_CONDITIONS",
    "CONDITION_SETS",
    "CONDITIONS_HEADER",
    "CONDITIONS_NAME",
    "DEFAULT_SIZES",
    "DURATION_RANGE",
    "FLOOR_DB_RANGE",
    "GENERATOR_VERSION",
    "ITW_FOLDER",
    "LA_FOLDER",
    "PARTIAL_NAME",
    "PEAK_RANGE",
    "PROTOCOL_FOLDER",
    "SPLITS",
    "SPLIT_ATTACKS",
    "STAMP_NAME",
    "Speaker",
    "SpeechPlan",
    "apply_attack",
    "apply_channel_effects",
    "apply_codec",
    "assign_codecs",
    "describe_training_data",
    "generate_mini_corpus",
    "main",
    "plan_utterance",
    "read_conditions",
    "render_speech",
    "sample_speaker",
]


def generate_mini_corpus(
    root, seed=1234, sizes=None, sample_rate=16000, overwrite=False, num_workers=None
):
    """Write the synthetic mini corpus under ``root`` (idempotent).

    Layout::

        root/LA/ASVspoof2019_LA_{train,dev,eval}/flac/LA_{T,D,E}_NNNNNNN.flac
        root/LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt
        root/release_in_the_wild/{0..N-1}.wav, meta.csv
        root/MINI_CORPUS.conditions.tsv   (channel and codec of every file)
        root/MINI_CORPUS.json   (written last)

    Arguments
    ---------
    root : str
        Output folder (created if needed).
    seed : int
        Everything, to the byte, is a function of the seed and the options.
    sizes : dict, optional
        ``{"train" | "dev" | "eval" | "itw": (n_bonafide, n_spoof)}``;
        missing keys keep :data:`DEFAULT_SIZES`.
    sample_rate : int
        Sampling rate of the files (Hz), at least 16000.
    overwrite : bool
        Regenerate when ``root`` holds a corpus made with other options (its
        generated folders are deleted first).
    num_workers : int, optional
        Threads that synthesise files (default: up to 4, one per CPU); the
        output does not depend on it.

    Returns
    -------
    dict
        The content of ``MINI_CORPUS.json``: options and counts per split,
        label, attack, channel effect and codec condition (``"mp3_16k"`` ...,
        ``"none"``).

    Raises
    ------
    FileExistsError
        When ``root`` holds a mini corpus with other options and
        ``overwrite`` is False, or corpus folders this generator did not
        write (never deleted, whatever ``overwrite`` says).

    Example
    -------
    >>> import shutil
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> tiny = {"train": (2, 3), "dev": (1, 2), "eval": (1, 2), "itw": (1, 1)}
    >>> summary = generate_mini_corpus(root, seed=0, sizes=tiny)
    >>> summary["counts"]["train"]["spoof"]
    3
    >>> summary["counts"]["train"]["codecs"], summary["counts"]["eval"]["codecs"]
    ({'none': 5}, {'mp3_16k': 2, 'none': 1})
    >>> sorted(os.listdir(os.path.join(root, "LA")))[0]
    'ASVspoof2019_LA_cm_protocols'
    >>> generate_mini_corpus(root, seed=0, sizes=tiny) == summary  # no-op
    True
    >>> shutil.rmtree(root)
    """
    if sample_rate < 16000:
        raise ValueError(f"sample_rate must be >= 16000, got {sample_rate}")
    options = _options(seed, _resolve_sizes(sizes), sample_rate)
    stamp_path = os.path.join(root, STAMP_NAME)
    partial_path = os.path.join(root, PARTIAL_NAME)
    if os.path.isfile(stamp_path):
        with open(stamp_path) as f:
            stamp = json.load(f)
        if {key: stamp.get(key) for key in options} == options:
            return stamp
        if not overwrite:
            theirs = {key: stamp.get(key) for key in ("version", "seed", "sizes")}
            raise FileExistsError(
                f"{root} holds a mini corpus made with other options ({theirs}); "
                "pass overwrite=True (--overwrite) to regenerate it"
            )
    elif not os.path.isfile(partial_path):
        # Never delete folders that no run of ours wrote, even with overwrite:
        # ``root`` might hold a real corpus.
        foreign = [
            p for p in _generated_paths(root) if os.path.isdir(p) and os.listdir(p)
        ]
        if foreign:
            raise FileExistsError(
                f"{foreign[0]} exists and was not written by this generator; "
                "choose another folder for the mini corpus"
            )
    _clear(root)
    os.makedirs(root, exist_ok=True)
    _write_json(partial_path, options)
    counts, conditions = {}, []
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1)
    args = (
        options["seed"],
        options["sizes"],
        sample_rate,
        counts,
        conditions,
        num_workers,
    )
    _write_la(root, *args)
    _write_itw(root, *args)
    _write_conditions(os.path.join(root, CONDITIONS_NAME), conditions)
    summary = dict(options, counts=counts)
    _write_json(stamp_path, summary)
    os.remove(partial_path)
    with open(stamp_path) as f:  # return what a later call will return
        return json.load(f)


# The evaluation set of each split in the training recipe's reports.
CONDITION_SETS = {"dev": "dev", "eval": "asvspoof2019_la_eval", "itw": "in_the_wild"}


def read_conditions(root):
    """The channel and codec of every file of a mini corpus, per evaluation set.

    Arguments
    ---------
    root : str
        The corpus folder (with ``MINI_CORPUS.conditions.tsv``).

    Returns
    -------
    dict
        ``{set name: {utt id: {"channel": ..., "codec": ...}}}`` with the
        set names of :data:`CONDITION_SETS`; ``codec`` is ``mp3``, ``opus``
        or ``none``, ``codec_kbps`` e.g. ``mp3 16k``. Empty when the corpus
        has no conditions file (corpora of generator version 1).

    Example
    -------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> with open(os.path.join(root, CONDITIONS_NAME), "w") as f:
    ...     _ = f.write("split\\tid\\tlabel\\tattack\\tchannel\\tcodec\\tcodec_kbps\\n")
    ...     _ = f.write("itw\\t1\\tspoof\\tx\\treverb\\topus\\t8\\n")
    >>> read_conditions(root)["in_the_wild"]["1"]
    {'channel': 'reverb', 'codec': 'opus', 'codec_kbps': 'opus 8k'}
    """
    path = os.path.join(root, CONDITIONS_NAME)
    if not os.path.exists(path):
        return {}
    out = {}
    with open(path, encoding="utf-8", newline="") as f:
        for line_no, line in enumerate(f, start=1):
            fields = line.rstrip("\n").split("\t")
            if line_no == 1:
                if tuple(fields) != CONDITIONS_HEADER:
                    raise ValueError(f"{path}, line 1: unexpected header {fields}")
                continue
            if len(fields) != len(CONDITIONS_HEADER):
                raise ValueError(
                    f"{path}, line {line_no}: {len(fields)} fields, "
                    f"expected {len(CONDITIONS_HEADER)}"
                )
            split, utt_id, _, _, channel, codec, kbps = fields
            out.setdefault(CONDITION_SETS.get(split, split), {})[utt_id] = {
                "channel": channel,
                "codec": codec,
                "codec_kbps": codec if codec == UNCODED else f"{codec} {kbps}k",
            }
    return out


def describe_training_data(data_folder):
    """Name the corpus a recipe's ``data_folder`` really holds (model cards).

    A folder of the synthetic mini corpus (its ``MINI_CORPUS.json`` stamp
    in the folder or the one above, as ``<root>/LA``) is named as such, with
    its seed and training-set size; anything else is taken for ASVspoof
    2019 LA.

    Arguments
    ---------
    data_folder : str
        The ``LA`` folder the recipe trained on.

    Returns
    -------
    str
        One line for the model card's "Training data" row.

    Example
    -------
    >>> import shutil
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> tiny = {"train": (2, 3), "dev": (1, 2), "eval": (1, 2), "itw": (1, 1)}
    >>> _ = generate_mini_corpus(root, seed=0, sizes=tiny)
    >>> describe_training_data(os.path.join(root, "LA"))[:46]
    'the synthetic dpda mini corpus (not ASVspoof):'
    >>> describe_training_data(tempfile.mkdtemp())
    'ASVspoof 2019 LA train (selection on dev loss)'
    >>> shutil.rmtree(root)
    """
    folder = os.path.abspath(data_folder)
    for candidate in (folder, os.path.dirname(folder)):
        stamp_path = os.path.join(candidate, STAMP_NAME)
        if os.path.isfile(stamp_path):
            with open(stamp_path, encoding="utf-8") as f:
                stamp = json.load(f)
            train = stamp.get("counts", {}).get("train", {})
            n_train = sum(v for k, v in train.items() if k in ("bonafide", "spoof"))
            return (
                "the synthetic dpda mini corpus (not ASVspoof): generated "
                f"speech in the ASVspoof 2019 LA layout, seed {stamp.get('seed')}, "
                f"train split of {n_train} utterances (selection on dev loss)"
            )
    return "ASVspoof 2019 LA train (selection on dev loss)"


def main(argv=None):
    """Command line: ``python -m dpda.data.minicorpus ROOT [--seed N]``.

    Arguments
    ---------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.

    Example
    -------
    >>> import shutil
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> main([root, "--seed", "3", "--tiny"])  # doctest: +ELLIPSIS
    {...
    0
    >>> shutil.rmtree(root)
    """
    parser = argparse.ArgumentParser(
        prog="python -m dpda.data.minicorpus",
        description="Generate the synthetic mini anti-spoofing corpus.",
    )
    parser.add_argument("root", help="output folder")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="regenerate a corpus made with other options",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a few files per split, for smoke tests",
    )
    args = parser.parse_args(argv)
    sizes = {name: (2, 4) for name in DEFAULT_SIZES} if args.tiny else None
    summary = generate_mini_corpus(
        args.root, seed=args.seed, sizes=sizes, overwrite=args.overwrite
    )
    print(json.dumps(summary["counts"], indent=1, sort_keys=True))
    return 0
