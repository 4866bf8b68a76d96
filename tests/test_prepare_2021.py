"""ASVspoof 2021 LA/DF preparation on fixture trees in the real layout."""

import json
import os
import runpy
import sys

import numpy as np
import pytest
import soundfile as sf

from dpda.data.asvspoof2021 import (
    DF_COLUMNS,
    LA_COLUMNS,
    parse_trial_metadata,
    prepare_asvspoof2021,
)
from dpda.data.listing import ProtocolError

RECIPE = os.path.join(
    os.path.dirname(__file__), "..", "recipes", "InTheWild", "asvspoof2021_prepare.py"
)


def la_lines():
    codecs = ["none", "alaw", "g722", "opus"]
    txs = ["-", "ita_tx", "loc_tx"]
    subsets = ["eval", "eval", "progress", "hidden"]
    lines = []
    for i in range(24):
        bona = i % 4 == 0
        attack = ("bonafide" if i % 8 else "-") if bona else f"A{7 + i % 13:02d}"
        lines.append(
            f"LA_{i % 5:04d} LA_E_{1000000 + i} {codecs[i % 4]} {txs[i % 3]} {attack} "
            f"{'bonafide' if bona else 'spoof'} {'trim' if i % 7 == 0 else 'notrim'} "
            f"{subsets[i % 4 if not bona else i // 4 % 4]}"
        )
    return lines


def df_lines():
    lines = []
    for i in range(20):
        bona = i % 5 == 0
        compression = ["nocodec", "low_mp3", "high_m4a", "mp3m4a"][i % 4]
        subset = ["eval", "progress", "eval", "hidden"][i % 4]
        if bona:
            rest = f"vcc2020 bonafide bonafide notrim {subset} bonafide - - - -"
        elif i % 2:
            rest = (
                f"asvspoof A{7 + i % 13:02d} spoof notrim {subset} "
                "traditional_vocoder - - - -"
            )
        else:
            rest = (
                f"vcc2020 Task1-team{i:02d} spoof notrim {subset} "
                f"neural_vocoder_autoregressive Task1 team{i:02d} FF E"
            )
        lines.append(f"SPK{i % 3} DF_E_{2000000 + i} {compression} {rest}")
    return lines


def make_tree(root, track, lines, keys_folder=None, missing=()):
    """Keys as given (verbatim text) and a short flac per listed trial."""
    keys_folder = keys_folder or os.path.join(root, "keys")
    keys = os.path.join(keys_folder, track, "CM", "trial_metadata.txt")
    os.makedirs(os.path.dirname(keys), exist_ok=True)
    with open(keys, "w", newline="") as f:
        f.write("".join(line if line.endswith("\n") else line + "\n" for line in lines))
    flac = os.path.join(root, f"ASVspoof2021_{track}_eval", "flac")
    os.makedirs(flac, exist_ok=True)
    rng = np.random.default_rng(0)
    for line in lines:
        fields = line.split()
        if fields and fields[1] not in missing:
            sf.write(
                os.path.join(flac, fields[1] + ".flac"),
                (0.1 * rng.standard_normal(1600)).astype(np.float32),
                16000,
            )
    return keys


def expected_rows(lines, columns):
    return [dict(zip(columns, line.split())) for line in lines if line.strip()]


@pytest.mark.parametrize(
    "track,lines,columns",
    [("LA", la_lines(), LA_COLUMNS), ("DF", df_lines(), DF_COLUMNS)],
)
def test_prepare_keeps_every_column_and_filters_subset(tmp_path, track, lines, columns):
    root = str(tmp_path / "2021")
    # Odd but legal: blank lines, trailing spaces and tabs, a CRLF line.
    odd = lines[:3] + ["", "  "] + [lines[3] + "  \t", lines[4] + "\r"] + lines[5:]
    make_tree(root, track, odd)
    out = prepare_asvspoof2021(root, str(tmp_path / "m"), track)
    assert out == str(tmp_path / "m" / f"asvspoof2021_{track.lower()}_eval.json")
    with open(out) as f:
        manifest = json.load(f)
    rows = [r for r in expected_rows(lines, columns) if r["subset"] == "eval"]
    assert 0 < len(rows) < len(lines)
    assert list(manifest) == [r["trial"] for r in rows]
    for r in rows:
        entry = manifest[r["trial"]]
        assert entry["wav"] == (
            f"{{data_root}}/ASVspoof2021_{track}_eval/flac/{r['trial']}.flac"
        )
        assert list(entry)[:3] == ["wav", "label", "attack"]
        assert {k: v for k, v in entry.items() if k != "wav"} == {
            k: v for k, v in r.items() if k != "trial"
        }
    assert {e["label"] for e in manifest.values()} == {"bonafide", "spoof"}

    everything = prepare_asvspoof2021(root, str(tmp_path / "m"), track, subset=None)
    assert everything.endswith(f"asvspoof2021_{track.lower()}_all.json")
    with open(everything) as f:
        assert len(json.load(f)) == len(lines)
    progress = prepare_asvspoof2021(root, str(tmp_path / "m"), track, subset="progress")
    with open(progress) as f:
        assert {e["subset"] for e in json.load(f).values()} == {"progress"}


def test_manifest_loads_with_the_recipe_pipeline(tmp_path):
    from dpda.data.pipelines import load_manifest
    from dpda.labels import LABEL_TO_INDEX

    root = str(tmp_path / "2021")
    make_tree(root, "LA", la_lines())
    out = prepare_asvspoof2021(root, str(tmp_path / "m"), "LA", subset="all")
    with open(out) as f:
        manifest = json.load(f)
    dataset = load_manifest(out, root, 800)
    assert len(dataset) == len(manifest) == 24
    for item in dataset:
        assert item["label_id"] == LABEL_TO_INDEX[manifest[item["id"]]["label"]]
        assert tuple(item["sig"].shape) == (800,)


def test_missing_audio_lists_files_and_count(tmp_path):
    root = str(tmp_path / "2021")
    keys = make_tree(root, "LA", la_lines(), missing=("LA_E_1000001", "LA_E_1000005"))
    with pytest.raises(
        FileNotFoundError,
        match=r"2 audio file\(s\) listed in .*LA/CM/trial_metadata.txt are missing, "
        r"e.g. .*LA_E_1000001.flac, .*LA_E_1000005.flac",
    ):
        prepare_asvspoof2021(root, str(tmp_path / "m"), "LA")
    assert not os.path.exists(tmp_path / "m" / "asvspoof2021_la_eval.json")
    # Only trials of the selected subset are checked; check_audio=False skips it.
    progress = [line for line in la_lines() if line.endswith("progress")]
    assert all("LA_E_1000001 " not in line for line in progress)
    prepare_asvspoof2021(root, str(tmp_path / "m"), "LA", subset="progress")
    prepare_asvspoof2021(root, str(tmp_path / "m"), "LA", check_audio=False)
    assert os.path.getsize(keys) > 0


GOOD_LA = la_lines()[:2]


@pytest.mark.parametrize(
    "track,bad_line,message",
    [
        (
            "LA",
            "LA_0001 LA_E_9 alaw ita_tx A07 spoofed notrim eval",
            "unknown label 'spoofed'",
        ),
        (
            "LA",
            "LA_0001 LA_E_9 alaw ita_tx A07 spoof notrim",
            "expected 8 columns for LA",
        ),
        (
            "LA",
            "LA_0001 LA_E_1000000 alaw ita_tx A07 spoof notrim eval",
            "duplicate trial id 'LA_E_1000000' \\(first on line 1\\)",
        ),
        (
            "LA",
            "LA_0001 LA_E_9 alaw ita_tx A07 bonafide notrim eval",
            "attack 'A07' does not match label",
        ),
        (
            "LA",
            "LA_0001 LA_E_9 alaw ita_tx bonafide spoof notrim eval",
            "attack 'bonafide' does not match label",
        ),
        (
            "DF",
            "LA_0001 LA_E_9 alaw ita_tx A07 spoof notrim eval",
            "expected 13 columns for DF",
        ),
    ],
)
def test_malformed_keys_name_file_and_line(tmp_path, track, bad_line, message):
    root = str(tmp_path / "2021")
    good = GOOD_LA if track == "LA" else df_lines()[:2]
    keys = make_tree(root, track, [*good, "", bad_line])
    with pytest.raises(ProtocolError, match=f"{keys}:4: {message}"):
        parse_trial_metadata(keys, track)
    with pytest.raises(ProtocolError, match=f"{keys}:4: {message}"):
        prepare_asvspoof2021(root, str(tmp_path / "m"), track)


def test_idempotent_and_redone_when_options_change(tmp_path):
    root, save = str(tmp_path / "2021"), str(tmp_path / "m")
    make_tree(root, "DF", df_lines())
    out = prepare_asvspoof2021(root, save, "DF")
    # Same options: the (tampered) manifest is left alone.
    with open(out, "w") as f:
        f.write("{}")
    assert prepare_asvspoof2021(root, save, "DF") == out
    with open(out) as f:
        assert json.load(f) == {}
    # Other options: prepared again.
    prepare_asvspoof2021(root, save, "DF", check_audio=False)
    with open(out) as f:
        assert len(json.load(f)) == sum(
            line.split()[7] == "eval" for line in df_lines()
        )
    with open(os.path.join(save, "asvspoof2021_df_eval.options.json")) as f:
        assert json.load(f)["check_audio"] is False
    # skip_prep only names the manifest.
    skipped = prepare_asvspoof2021(root, str(tmp_path / "x"), "DF", skip_prep=True)
    assert skipped.endswith("asvspoof2021_df_eval.json") and not os.path.exists(skipped)


def test_keys_folder_and_clear_errors(tmp_path):
    root, save = str(tmp_path / "2021"), str(tmp_path / "m")
    keys_folder = str(tmp_path / "LA-keys-full" / "keys")
    make_tree(root, "LA", la_lines(), keys_folder=keys_folder)
    with pytest.raises(FileNotFoundError, match="LA keys not found: .*keys_folder"):
        prepare_asvspoof2021(root, save, "LA")
    assert os.path.isfile(
        prepare_asvspoof2021(root, save, "LA", keys_folder=keys_folder)
    )
    with pytest.raises(
        ValueError, match=r"subsets present: \['eval', 'hidden', 'progress'\]"
    ):
        prepare_asvspoof2021(root, save, "LA", keys_folder=keys_folder, subset="dev")
    with pytest.raises(ValueError, match="Unknown track"):
        prepare_asvspoof2021(root, save, "PA")
    # DF audio ships in four parts that must be merged.
    df_keys = make_tree(str(tmp_path / "df"), "DF", df_lines())
    os.rename(
        os.path.join(tmp_path, "df", "ASVspoof2021_DF_eval"),
        os.path.join(tmp_path, "df", "ASVspoof2021_DF_eval_part00"),
    )
    with pytest.raises(FileNotFoundError, match="merge the flac folders"):
        prepare_asvspoof2021(str(tmp_path / "df"), save, "DF")
    assert os.path.isfile(df_keys)


def test_cli(tmp_path, monkeypatch, capsys):
    root = str(tmp_path / "2021")
    make_tree(root, "DF", df_lines())
    argv = [RECIPE, root, str(tmp_path / "m")]
    monkeypatch.setattr(sys, "argv", [*argv, "--track", "DF", "--subset", "all"])
    runpy.run_path(RECIPE, run_name="__main__")
    out = capsys.readouterr().out.strip()
    assert out.endswith("asvspoof2021_df_all.json")
    with open(out) as f:
        assert len(json.load(f)) == len(df_lines())
