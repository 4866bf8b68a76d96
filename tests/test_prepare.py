"""Preparation of ASVspoof 2019 LA and In-the-Wild from their real formats."""

import gzip
import json
import os
import shutil

import pytest

from dpda.data.asvspoof import (
    LA_SPLITS,
    PROTOCOL_FOLDER,
    parse_la_protocol,
    prepare_asvspoof2019_la,
)
from dpda.data.inthewild import parse_itw_meta, prepare_in_the_wild
from dpda.data.listing import ProtocolError
from dpda.data.realworld import parse_real_world_manifest, prepare_real_world

REAL = os.path.join(os.path.dirname(__file__), "data")


def unpack(name, dest):
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with (
        gzip.open(os.path.join(REAL, name + ".gz"), "rb") as src,
        open(dest, "wb") as dst,
    ):
        shutil.copyfileobj(src, dst)
    return dest


def touch_audio(entries, root):
    """Stand-in audio files: preparation only checks that they exist."""
    for entry in entries.values():
        path = entry["wav"].format(data_root=root)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").close()


@pytest.fixture(scope="module")
def real_la(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("LA"))
    for folder, protocol in LA_SPLITS.values():
        path = unpack(protocol, os.path.join(root, PROTOCOL_FOLDER, protocol))
        touch_audio(parse_la_protocol(path, folder), root)
    return root


@pytest.mark.slow
def test_real_la_protocols_prepare_at_full_scale(real_la, tmp_path):
    outputs = prepare_asvspoof2019_la(real_la, str(tmp_path))
    expected = {
        "train": (25380, 2580, {f"A0{i}" for i in range(1, 7)}),
        "dev": (24844, 2548, {f"A0{i}" for i in range(1, 7)}),
        "eval": (71237, 7355, {f"A{i:02d}" for i in range(7, 20)}),
    }
    for split, (n, n_bona, attacks) in expected.items():
        with open(outputs[split]) as f:
            manifest = json.load(f)
        assert len(manifest) == n
        assert sum(e["label"] == "bonafide" for e in manifest.values()) == n_bona
        assert {e["attack"] for e in manifest.values()} - {"-"} == attacks
        first = next(iter(manifest.values()))
        assert first["wav"].startswith(
            "{data_root}/" + LA_SPLITS[split][0] + "/flac/LA_"
        )
    # Unchanged options: nothing is rewritten.
    mtime = os.path.getmtime(outputs["eval"])
    prepare_asvspoof2019_la(real_la, str(tmp_path))
    assert os.path.getmtime(outputs["eval"]) == mtime
    # Changed options: prepared again.
    prepare_asvspoof2019_la(real_la, str(tmp_path), splits=("dev",))
    assert json.load(open(os.path.join(tmp_path, "asvspoof2019_la.options.json")))[
        "splits"
    ] == ["dev"]


def write_protocol(root, split, lines):
    folder, name = LA_SPLITS[split]
    path = os.path.join(root, PROTOCOL_FOLDER, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("".join(lines))
    return path, folder


GOOD = ["LA_0079 LA_T_0000001 - - bonafide\n", "LA_0079 LA_T_0000002 - A01 spoof\n"]


@pytest.mark.parametrize(
    "bad_line,message",
    [
        ("LA_0079 LA_T_0000003 - A01\n", "expected 5 fields"),
        ("LA_0079 LA_T_0000003 - A01 spoofed\n", "unknown label 'spoofed'"),
        (
            "LA_0079 LA_T_0000001 - A02 spoof\n",
            "duplicate utterance id 'LA_T_0000001' \\(first on line 1\\)",
        ),
        ("LA_0079 LA_T_0000003 - A01 bonafide\n", "attack .A01. does not match label"),
    ],
)
def test_malformed_protocol_line_names_file_and_line(tmp_path, bad_line, message):
    path, folder = write_protocol(str(tmp_path), "train", GOOD + [bad_line])
    with pytest.raises(ProtocolError, match=f"{path}:3: {message}"):
        parse_la_protocol(path, folder)


def test_blank_lines_and_trailing_spaces_are_accepted(tmp_path):
    path, folder = write_protocol(
        str(tmp_path), "train", ["\n", GOOD[0].replace("\n", "  \r\n"), "\n", GOOD[1]]
    )
    entries = parse_la_protocol(path, folder)
    assert list(entries) == ["LA_T_0000001", "LA_T_0000002"]
    assert entries["LA_T_0000001"]["label"] == "bonafide"


def test_missing_audio_is_reported_with_count(tmp_path):
    root = str(tmp_path / "LA")
    for split in LA_SPLITS:
        lines = [line.replace("LA_T_", f"LA_{split[0].upper()}_") for line in GOOD]
        path, folder = write_protocol(root, split, lines)
        touch_audio(parse_la_protocol(path, folder), root)
    os.remove(os.path.join(root, "ASVspoof2019_LA_dev", "flac", "LA_D_0000002.flac"))
    with pytest.raises(
        FileNotFoundError,
        match=r"1 audio file\(s\) listed in .*dev.trl.txt are missing, e.g. .*LA_D_0000002.flac",
    ):
        prepare_asvspoof2019_la(root, str(tmp_path / "manifests"))


def test_missing_protocol_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="protocol not found"):
        prepare_asvspoof2019_la(str(tmp_path), str(tmp_path / "m"))


def test_real_in_the_wild_meta(tmp_path):
    root = str(tmp_path / "release_in_the_wild")
    meta = unpack("in_the_wild_meta.csv", os.path.join(root, "meta.csv"))
    entries = parse_itw_meta(meta)
    assert len(entries) == 31779
    assert sum(e["label"] == "bonafide" for e in entries.values()) == 19963
    assert sum(e["label"] == "spoof" for e in entries.values()) == 11816
    assert set(entries) == {str(i) for i in range(31779)}
    touch_audio(entries, root)
    out = prepare_in_the_wild(root, str(tmp_path / "m"))
    manifest = json.load(open(out))
    assert manifest["0"] == {
        "wav": "{data_root}/0.wav",
        "label": "spoof",
        "speaker": "Alec Guinness",
        "attack": "unknown",
    }


@pytest.mark.parametrize(
    "content,message",
    [
        (
            "file,speaker,label\n0.wav,A B,bonafide\n",
            "meta.csv:2: unknown label 'bonafide'",
        ),
        ("file,speaker\n0.wav,A B\n", "meta.csv:1: expected header"),
        (
            "file,speaker,label\n0.wav,A B,spoof\n0.wav,A B,spoof\n",
            "meta.csv:3: duplicate file",
        ),
        ("file,speaker,label\n0.wav,spoof\n", "meta.csv:2: expected 3 columns"),
    ],
)
def test_malformed_meta_csv(tmp_path, content, message):
    path = tmp_path / "meta.csv"
    path.write_text(content)
    with pytest.raises(ProtocolError, match=message):
        parse_itw_meta(str(path))


def test_in_the_wild_blank_lines_trailing_spaces_and_missing_audio(tmp_path):
    root = tmp_path / "release_in_the_wild"
    root.mkdir()
    (root / "meta.csv").write_text(
        "file,speaker,label\n0.wav,Alec Guinness,spoof  \n\n1.wav,Ava Max,bona-fide\n"
        "2.wav,Ava Max,spoof\n3.wav,Ava Max,spoof\n"
    )
    entries = parse_itw_meta(str(root / "meta.csv"))
    assert [(k, e["label"]) for k, e in entries.items()] == [
        ("0", "spoof"),
        ("1", "bonafide"),
        ("2", "spoof"),
        ("3", "spoof"),
    ]
    (root / "0.wav").write_bytes(b"")
    (root / "1.wav").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"2 .*missing.*2\.wav") as err:
        prepare_in_the_wild(str(root), str(tmp_path / "m"))
    assert "3.wav" in str(err.value)


REAL_WORLD = os.path.join(REAL, "real_world")
REAL_WORLD_HEADER_LINE = "file,label,group,system,codec,split,origin,text\n"


def test_real_world_set_prepares_its_two_parts(tmp_path):
    """The committed set: whole sources and families on one side each."""
    paths = prepare_real_world(REAL_WORLD, str(tmp_path))
    assert paths["dev"] == paths["train"]
    train = json.load(open(paths["train"]))
    heldout = json.load(open(paths["eval"]))
    assert (len(train), len(heldout)) == (92, 71)
    assert not set(train) & set(heldout)
    for entries in (train, heldout):
        for utt_id, entry in entries.items():
            assert entry["wav"] == f"{{data_root}}/{utt_id}.flac"
            bona = entry["label"] == "bonafide"
            # A bona fide clip has a source and no attack; a spoof the reverse.
            assert (entry["attack"] == "-") == bona and (entry["source"] == "-") != bona
    families = {e["attack"] for e in heldout.values()} - {"-"}
    sources = {e["source"] for e in heldout.values()} - {"-"}
    assert families == {"flite-cg", "hts", "world"}
    assert sources == {"librispeech", "vctk", "jfk"}
    assert not families & {e["attack"] for e in train.values()}
    assert not sources & {e["source"] for e in train.values()}
    assert {e["codec"] for e in heldout.values()} == {
        "none",
        "mp3_16k",
        "mp3_32k",
        "opus_20k",
    }


@pytest.mark.parametrize(
    "rows, message",
    [
        (
            "a.flac,fake,hts,x,none,heldout,o,\n",
            r"manifest.csv:2: unknown label 'fake'",
        ),
        ("a.flac,spoof,hts,x,none,test,o,\n", r"manifest.csv:2: unknown split 'test'"),
        ("a.flac,spoof,,x,none,heldout,o,\n", r"manifest.csv:2: no group"),
        ("a.flac,spoof,hts,x,none,heldout\n", r"manifest.csv:2: expected 8 columns"),
        (
            "a.flac,spoof,hts,x,none,heldout,o,\nb.flac,bonafide,lj,x,none,"
            "calibration,o,\na.flac,spoof,hts,x,none,heldout,o,\n",
            r"manifest.csv:4: .*line 2",
        ),
        ("a.flac,spoof,hts,x,none,heldout,o,\n", r"no clip in the 'calibration'"),
    ],
)
def test_real_world_manifest_errors_name_the_line(tmp_path, rows, message):
    path = tmp_path / "manifest.csv"
    path.write_text(REAL_WORLD_HEADER_LINE + rows)
    with pytest.raises(ProtocolError, match=message):
        parse_real_world_manifest(str(path))


def test_real_world_wrong_folder_and_missing_audio(tmp_path):
    with pytest.raises(FileNotFoundError, match="real_world folder"):
        prepare_real_world(str(tmp_path), str(tmp_path / "m"))
    (tmp_path / "manifest.csv").write_text(
        REAL_WORLD_HEADER_LINE
        + "a.flac,spoof,hts,x,none,heldout,o,\nb.flac,bonafide,lj,x,none,calibration,o,\n"
    )
    (tmp_path / "b.flac").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"missing.*a\.flac"):
        prepare_real_world(str(tmp_path), str(tmp_path / "m"))
