"""ASVspoof 5 (track 1) preparation on fixture trees in the real layout."""

import glob
import json
import os
import runpy
import sys

import numpy as np
import pytest
import soundfile as sf

import dpda.data.asvspoof5 as asvspoof5
from dpda.data.asvspoof5 import (
    PHASE2_COLUMNS,
    TRACK1_COLUMNS,
    parse_asvspoof5_protocol,
    prepare_asvspoof5,
)
from dpda.data.listing import ProtocolError

RECIPE = os.path.join(
    os.path.dirname(__file__), "..", "recipes", "InTheWild", "asvspoof5_prepare.py"
)
PROTOCOLS = {
    "train": "ASVspoof5.train.tsv",
    "dev": "ASVspoof5.dev.track_1.tsv",
    "eval": "ASVspoof5.eval.track_1.tsv",
}
AUDIO = {"train": "flac_T", "dev": "flac_D", "eval": "flac_E_eval"}
# Attacks are disjoint across the splits: A01-A08, A09-A16, A17-A32.
FIRST_ATTACK = {"train": 1, "dev": 9, "eval": 17}
N_ATTACKS = {"train": 8, "dev": 8, "eval": 16}


def track1_lines(split, n=12):
    """Ten-column lines as released: uncoded train/dev (CODEC_Q '-'), eval
    mixing uncoded rows (CODEC_Q '0') and coded ones (C01-C11, a seed)."""
    prefix = split[0].upper()
    lines = []
    for i in range(n):
        bona = i % 3 == 0
        speaker = f"{prefix}_{4850 + i % 4:04d}"
        utt = f"{prefix}_{i * 21 + 1:010d}"
        gender = "FM"[i % 2]
        if split != "eval":
            codec = "- - -"
        elif i % 4 == 0:
            codec = "- 0 -"
        else:
            codec = f"C{1 + i % 11:02d} {1 + i % 5} {prefix}_{9000000 + i:010d}"
        attack = (
            "- bonafide bonafide"
            if bona
            else f"AC{1 + i % 3} A{FIRST_ATTACK[split] + i % N_ATTACKS[split]:02d} spoof"
        )
        lines.append(f"{speaker} {utt} {gender} {codec} {attack} -")
    return lines


def phase2_lines(split, n=6):
    """Six-column lines of the challenge-phase ``metadata.txt`` files."""
    prefix = split[0].upper()
    return [
        f"{prefix}_{4850 + i % 2:04d} {prefix}_{i:010d} {'FM'[i % 2]} - "
        + (
            "bonafide bonafide"
            if i % 3 == 0
            else f"A{FIRST_ATTACK[split] + i:02d} spoof"
        )
        for i in range(n)
    ]


def make_tree(root, lines, names=None, protocols_folder=None, missing=()):
    """Protocols as given (verbatim text) and a short flac per listed id."""
    protocols_folder = protocols_folder or root
    os.makedirs(protocols_folder, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = {}
    for split, split_lines in lines.items():
        name = (names or PROTOCOLS)[split]
        paths[split] = os.path.join(protocols_folder, name)
        with open(paths[split], "w", newline="") as f:
            f.write("".join(x if x.endswith("\n") else x + "\n" for x in split_lines))
        folder = os.path.join(root, AUDIO[split])
        os.makedirs(folder, exist_ok=True)
        for line in split_lines:
            fields = line.split()
            if len(fields) > 1 and fields[1] not in missing:
                sf.write(
                    os.path.join(folder, fields[1] + ".flac"),
                    (0.1 * rng.standard_normal(1600)).astype(np.float32),
                    16000,
                )
    return paths


def all_lines():
    return {
        split: track1_lines(split, 22 if split == "eval" else 12) for split in PROTOCOLS
    }


def leftovers(folder):
    """Files a preparation left in ``folder`` (temporary ones included)."""
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_prepare_writes_every_split_with_every_column(tmp_path):
    root, save = str(tmp_path / "ASVspoof5"), str(tmp_path / "m")
    lines = all_lines()
    # Odd but legal: blank lines, trailing spaces and tabs, a CRLF line.
    odd = dict(lines)
    dev = lines["dev"]
    odd["dev"] = dev[:3] + ["", "  "] + [dev[3] + "  \t", dev[4] + "\r"] + dev[5:]
    make_tree(root, odd)
    out = prepare_asvspoof5(root, save)
    assert out == {s: os.path.join(save, f"asvspoof5_{s}.json") for s in PROTOCOLS}
    assert leftovers(save) == sorted(
        ["asvspoof5.options.json", *(os.path.basename(p) for p in out.values())]
    )
    for split, split_lines in lines.items():
        with open(out[split]) as f:
            manifest = json.load(f)
        rows = [dict(zip(TRACK1_COLUMNS, line.split())) for line in split_lines]
        assert list(manifest) == [r["FLAC_FILE_NAME"] for r in rows]
        for r in rows:
            entry = manifest[r["FLAC_FILE_NAME"]]
            assert entry == {
                "wav": f"{{data_root}}/{AUDIO[split]}/{r['FLAC_FILE_NAME']}.flac",
                "label": r["KEY"],
                "speaker": r["SPEAKER_ID"],
                "attack": r["ATTACK_LABEL"],
                "gender": r["SPEAKER_GENDER"],
                "codec": r["CODEC"],
                "codec_q": r["CODEC_Q"],
                "codec_seed": r["CODEC_SEED"],
                "attack_tag": r["ATTACK_TAG"],
            }
            assert os.path.isfile(entry["wav"].format(data_root=root))
        labels = [e["label"] for e in manifest.values()]
        assert labels.count("bonafide") == sum(r["KEY"] == "bonafide" for r in rows)
        assert labels.count("bonafide") + labels.count("spoof") == len(rows)
        assert {e["attack"] for e in manifest.values() if e["label"] == "bonafide"} == {
            "bonafide"
        }
    with open(out["eval"]) as f:
        evaluation = json.load(f)
    codecs = {e["codec"] for e in evaluation.values()}
    assert "-" in codecs and {"C01", "C05", "C11"} <= codecs
    assert {e["codec_q"] for e in evaluation.values() if e["codec"] == "-"} == {"0"}
    assert all(
        e["codec_seed"].startswith("E_") and e["codec_q"] in "12345"
        for e in evaluation.values()
        if e["codec"] != "-"
    )
    with open(out["train"]) as f:
        assert {(e["codec"], e["codec_q"]) for e in json.load(f).values()} == {
            ("-", "-")
        }


def test_manifest_loads_with_the_recipe_pipeline(tmp_path):
    from dpda.data.pipelines import load_manifest
    from dpda.labels import LABEL_TO_INDEX

    root = str(tmp_path / "ASVspoof5")
    make_tree(root, {"eval": track1_lines("eval")})
    out = prepare_asvspoof5(root, str(tmp_path / "m"), splits=["eval"])["eval"]
    with open(out) as f:
        manifest = json.load(f)
    dataset = load_manifest(out, root, 800)
    assert len(dataset) == len(manifest) == 12
    for item in dataset:
        assert item["label_id"] == LABEL_TO_INDEX[manifest[item["id"]]["label"]]
        assert tuple(item["sig"].shape) == (800,)


def test_phase2_metadata_is_read_when_the_final_protocol_is_absent(tmp_path):
    root, save = str(tmp_path / "release"), str(tmp_path / "m")
    # The release's name for train, the AASIST baseline's for dev.
    names = {
        "train": "ASVspoof5.train.metadata.txt",
        "dev": "ASVspoof5.dev.metainfor.txt",
    }
    lines = {split: phase2_lines(split) for split in names}
    make_tree(root, lines, names=names)
    out = prepare_asvspoof5(root, save, splits=["train", "dev"])
    with open(out["dev"]) as f:
        assert list(json.load(f)) == [line.split()[1] for line in lines["dev"]]
    with open(out["train"]) as f:
        manifest = json.load(f)
    rows = [dict(zip(PHASE2_COLUMNS, line.split())) for line in lines["train"]]
    assert list(manifest) == [r["FLAC_FILE_NAME"] for r in rows]
    assert manifest["T_0000000001"] == {
        "wav": "{data_root}/flac_T/T_0000000001.flac",
        "label": "spoof",
        "speaker": "T_4851",
        "attack": "A02",
        "gender": "M",
        "codec": "-",
    }
    # The final release's protocol wins when both are there.
    make_tree(root, {"train": track1_lines("train")})
    prepare_asvspoof5(root, save, splits=["train"])
    with open(out["train"]) as f:
        assert len(json.load(f)) == 12
    # The eval set has no labelled phase-2 protocol.
    with pytest.raises(FileNotFoundError, match="eval protocol not found"):
        prepare_asvspoof5(root, save, splits=["eval"])


GOOD = track1_lines("eval")[:2]


@pytest.mark.parametrize(
    "bad_line,message",
    [
        (
            "E_1607 E_0009538969 M C05 2 E_0009486171 AC1 A26 spoof",
            "expected 10 fields 'SPEAKER_ID FLAC_FILE_NAME SPEAKER_GENDER CODEC "
            "CODEC_Q CODEC_SEED ATTACK_TAG ATTACK_LABEL KEY TMP', got 9",
        ),
        (
            "E_1607 E_0009538969 M C05 2 E_0009486171 AC1 A26 spoofed -",
            "unknown label 'spoofed'",
        ),
        (
            "E_1607 E_0009538969 M C05 2 E_0009486171 AC1 A26 bonafide -",
            "attack 'A26' does not match label 'bonafide'",
        ),
        (
            "E_1607 E_0009538969 M C05 2 E_0009486171 - bonafide spoof -",
            "attack 'bonafide' does not match label 'spoof'",
        ),
        (
            f"E_4851 {GOOD[0].split()[1]} F - 0 - - bonafide bonafide -",
            f"duplicate utterance id '{GOOD[0].split()[1]}' \\(first on line 1\\)",
        ),
        (
            "E_1607 E_0009538969 M mp3 2 E_0009486171 AC1 A26 spoof -",
            "unknown CODEC 'mp3'",
        ),
        (
            "E_1607 E_0009538969 M C05 - E_0009486171 AC1 A26 spoof -",
            "CODEC_Q '-' of codec 'C05' is not a positive integer",
        ),
        (
            "E_1607 E_0009538969 M C05 0 E_0009486171 AC1 A26 spoof -",
            "CODEC_Q '0' of codec 'C05' is not a positive integer",
        ),
        (
            "E_1607 E_0009538969 M - 2 - AC1 A26 spoof -",
            "CODEC_Q '2' on an uncoded row",
        ),
        (
            "E_1607 E_0009538969 M - 0 E_0009486171 AC1 A26 spoof -",
            "CODEC_SEED 'E_0009486171' on an uncoded row",
        ),
    ],
)
def test_malformed_protocol_names_file_and_line(tmp_path, bad_line, message):
    root, save = str(tmp_path / "ASVspoof5"), str(tmp_path / "m")
    paths = make_tree(root, {"dev": track1_lines("dev"), "eval": [*GOOD, "", bad_line]})
    with pytest.raises(ProtocolError, match=f"{paths['eval']}:4: {message}"):
        parse_asvspoof5_protocol(paths["eval"], "flac_E_eval")
    with pytest.raises(ProtocolError, match=f"{paths['eval']}:4: {message}"):
        prepare_asvspoof5(root, save, splits=["dev", "eval"])
    # Nothing written, not even the valid dev manifest.
    assert leftovers(save) == []


def test_phase2_line_count_and_empty_protocol(tmp_path):
    root = str(tmp_path / "release")
    path = make_tree(
        root,
        {"dev": [*phase2_lines("dev")[:2], track1_lines("dev")[1]]},
        names={"dev": "ASVspoof5.dev.metadata.txt"},
    )["dev"]
    with pytest.raises(ProtocolError, match=f"{path}:3: expected 6 fields"):
        prepare_asvspoof5(root, str(tmp_path / "m"), splits=["dev"])
    with open(path, "w") as f:
        f.write("\n\n")
    with pytest.raises(ProtocolError, match=f"{path}: no trials found"):
        prepare_asvspoof5(root, str(tmp_path / "m"), splits=["dev"])


def test_missing_audio_is_counted_and_named(tmp_path):
    root, save = str(tmp_path / "ASVspoof5"), str(tmp_path / "m")
    lines = all_lines()
    gone = [lines["eval"][i].split()[1] for i in (2, 5, 7)]
    paths = make_tree(root, lines, missing=gone)
    with pytest.raises(
        FileNotFoundError,
        match=rf"3 audio file\(s\) listed in {paths['eval']} are missing, e.g. "
        + ", ".join(rf".*flac_E_eval/{utt}\.flac" for utt in gone),
    ):
        prepare_asvspoof5(root, save)
    assert leftovers(save) == []
    # The other splits are complete; check_audio=False skips the check.
    prepare_asvspoof5(root, save, splits=["train", "dev"])
    out = prepare_asvspoof5(root, save, check_audio=False)
    with open(out["eval"]) as f:
        assert set(gone) <= set(json.load(f))


def test_missing_protocol_and_audio_folder(tmp_path):
    root, save = str(tmp_path / "ASVspoof5"), str(tmp_path / "m")
    protocols = str(tmp_path / "ASVspoof5_protocols")
    make_tree(root, all_lines(), protocols_folder=protocols)
    with pytest.raises(
        FileNotFoundError,
        match=r"ASVspoof 5 train protocol not found: .*ASVspoof5/ASVspoof5\.train\.tsv "
        r"or .*ASVspoof5\.train\.metadata\.txt or .*ASVspoof5\.train\.metainfor\.txt "
        r"\(.*set protocols_folder\)",
    ):
        prepare_asvspoof5(root, save)
    out = prepare_asvspoof5(root, save, protocols_folder=protocols)
    assert all(os.path.isfile(p) for p in out.values())
    # Audio unpacked elsewhere: the folder is named, not a thousand files.
    os.rename(os.path.join(root, "flac_E_eval"), os.path.join(root, "flac_E"))
    with pytest.raises(
        FileNotFoundError, match=r"eval audio folder not found: .*flac_E_eval .*flac_E_"
    ):
        prepare_asvspoof5(root, str(tmp_path / "m2"), protocols_folder=protocols)
    assert leftovers(str(tmp_path / "m2")) == []
    with pytest.raises(ValueError, match=r"Unknown split\(s\) \['test'\]"):
        prepare_asvspoof5(root, save, splits=["test"])


def test_idempotent_redone_when_options_change_and_skip_prep(tmp_path):
    root, save = str(tmp_path / "ASVspoof5"), str(tmp_path / "m")
    lines = all_lines()
    make_tree(root, lines)
    out = prepare_asvspoof5(root, save)
    # Same options: the (tampered) manifest is left alone.
    with open(out["dev"], "w") as f:
        f.write("{}")
    assert prepare_asvspoof5(root, save) == out
    with open(out["dev"]) as f:
        assert json.load(f) == {}
    # Other options: prepared again.
    prepare_asvspoof5(root, save, check_audio=False)
    with open(out["dev"]) as f:
        assert len(json.load(f)) == len(lines["dev"])
    with open(os.path.join(save, "asvspoof5.options.json")) as f:
        assert json.load(f)["check_audio"] is False
    # skip_prep only names the manifests.
    skipped = prepare_asvspoof5(
        root, str(tmp_path / "x"), splits=["eval"], skip_prep=True
    )
    assert skipped == {"eval": str(tmp_path / "x" / "asvspoof5_eval.json")}
    assert not os.path.exists(tmp_path / "x")


def test_a_failed_run_leaves_the_previous_preparation_whole(tmp_path, monkeypatch):
    root, save = str(tmp_path / "ASVspoof5"), str(tmp_path / "m")
    make_tree(root, all_lines())
    out = prepare_asvspoof5(root, save)
    before = {p: open(p).read() for p in glob.glob(os.path.join(save, "*"))}
    # A bad protocol under other options: nothing is touched...
    with open(os.path.join(root, PROTOCOLS["eval"]), "a") as f:
        f.write("E_0001 E_0000000099 F - 0 -\n")
    with pytest.raises(ProtocolError):
        prepare_asvspoof5(root, save, check_audio=False)
    assert {p: open(p).read() for p in glob.glob(os.path.join(save, "*"))} == before
    # ...and the earlier preparation still counts as done (were it redone,
    # the bad line would raise).
    assert prepare_asvspoof5(root, save) == out

    # The second manifest fails halfway through its JSON: that file keeps its
    # earlier content, no temporary file is left, the stamp is gone (the
    # train manifest was replaced) and the next run prepares again.
    make_tree(root, all_lines())
    written = []
    real_write = asvspoof5.write_manifest

    def failing(entries, path, what):
        if written:  # not serialisable, after a few entries were written
            entries = {**entries, "E_broken": {"wav": object()}}
        written.append(path)
        real_write(entries, path, what)

    monkeypatch.setattr(asvspoof5, "write_manifest", failing)
    with pytest.raises(TypeError, match="not JSON serializable"):
        prepare_asvspoof5(root, save, check_audio=False)
    assert written == [out["train"], out["dev"]]
    assert leftovers(save) == sorted(os.path.basename(p) for p in out.values())
    assert open(out["dev"]).read() == before[out["dev"]]
    monkeypatch.undo()
    prepare_asvspoof5(root, save, check_audio=False)
    assert "asvspoof5.options.json" in leftovers(save)
    with open(out["eval"]) as f:
        assert len(json.load(f)) == 22


def test_cli(tmp_path, monkeypatch, capsys):
    root = str(tmp_path / "ASVspoof5")
    make_tree(root, {"eval": track1_lines("eval")})
    argv = [RECIPE, root, str(tmp_path / "m"), "--splits", "eval"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(RECIPE, run_name="__main__")
    out = capsys.readouterr().out.strip()
    assert out == repr({"eval": str(tmp_path / "m" / "asvspoof5_eval.json")})
    with open(tmp_path / "m" / "asvspoof5_eval.json") as f:
        assert len(json.load(f)) == 12
