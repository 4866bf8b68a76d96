"""A newcomer's mistakes: a wrong path, key, value or port is one line.

Each mistake is reported before any work (no manifest written, no model
built or downloaded), on one line of stderr that says what is wrong and what
to do, with exit status 2 and no traceback; ``--help`` documents the recipes'
keys (from their hparams files), ``dpda-detect``'s defaults and exit statuses.
"""

import errno
import importlib.util
import os
import shutil
import socket
import subprocess
import sys

import pytest

from dpda import cli
from dpda.inference import DEFAULT_DETECTOR, check_trusted_source

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "recipes", "ASVspoof")
EVALUATE = os.path.join(ROOT, "recipes", "InTheWild")
MINI = os.path.join(ROOT, "hparams", "mini_dpda_rawboost.yaml")
PAPER = os.path.join(ROOT, "hparams", "dpda_rawboost.yaml")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
USAGE_ERROR = 2  # the documented exit status of a usage error


def parse_recipe_arguments(*args, **kwargs):
    from dpda.recipe_cli import parse_recipe_arguments

    return parse_recipe_arguments(*args, **kwargs)


def check_detector_folder(source):
    from dpda.inference import check_detector_folder

    return check_detector_folder(source)


def run_script(cwd, *args):
    """A recipe script in a fresh interpreter, offline."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def one_error_line(stderr):
    """The only line of ``stderr``, checked to be an error and no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert ": error: " in lines[0], lines[0]
    return lines[0]


def usage_error(capsys, call):
    """Run ``call``; it must exit with status 2 and print one error line."""
    with pytest.raises(SystemExit) as exit_info:
        call()
    assert exit_info.value.code == USAGE_ERROR
    return one_error_line(capsys.readouterr().err)


# -- part 3: misleading errors ------------------------------------------------
def test_a_missing_detector_folder_is_not_found(tmp_path, capsys):
    missing = str(tmp_path / "does" / "not" / "exist")
    for kwargs in ({}, {"revision": COMMIT}, {"trust_remote_code": True}):
        with pytest.raises(FileNotFoundError, match="detector folder not found"):
            check_trusted_source(missing, **kwargs)
    for local in ("./no_such_detector", "../no/such", "a/b/c", "~/no_such_dpda"):
        with pytest.raises(FileNotFoundError, match="detector folder not found"):
            check_trusted_source(local, revision=COMMIT)
    check_trusted_source("some-org/detector", revision=COMMIT)  # a hub id
    args = [str(tmp_path / "x.wav"), "--detector", missing, "--no-progress"]
    line = usage_error(capsys, lambda: cli.main(args))
    assert f"detector folder not found: {missing}" in line
    assert "trust_remote_code" not in line and "revision" not in line


@pytest.mark.slow
def test_a_folder_without_detector_files_names_that_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="hyperparams.yaml") as info:
        check_detector_folder(str(empty))
    assert str(empty) in str(info.value)
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    shutil.copy(os.path.join(DEFAULT_DETECTOR, "hyperparams.yaml"), no_weights)
    with pytest.raises(FileNotFoundError, match="model.ckpt") as info:
        check_detector_folder(str(no_weights))
    assert str(no_weights) in str(info.value)
    check_detector_folder(DEFAULT_DETECTOR)
    check_detector_folder(None)
    check_detector_folder("some-org/detector")
    # evaluate.py loads it through a savedir copy: the user's folder is named,
    # before the corpus is read (this one does not exist either).
    out = tmp_path / "out"
    result = run_script(
        EVALUATE,
        "evaluate.py",
        "hparams/evaluate.yaml",
        f"--detector={no_weights}",
        f"--data_folder={tmp_path / 'no_corpus'}",
        f"--output_folder={out}",
    )
    assert result.returncode == USAGE_ERROR, result.stderr[-3000:]
    line = one_error_line(result.stderr)
    assert str(no_weights) in line and "model.ckpt" in line
    assert str(out) not in line


def busy_port():
    """A listening socket on 127.0.0.1 and its port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


def test_serve_checks_the_port_before_loading_the_detector(
    tmp_path, capsys, monkeypatch
):
    missing = str(tmp_path / "no_detector")  # loading it would fail
    sock, port = busy_port()
    with sock:
        argv = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        line = usage_error(capsys, lambda: cli.main([*argv, "--detector", missing]))
    assert f"port {port} on 127.0.0.1 is in use" in line and "--port 0" in line
    line = usage_error(capsys, lambda: cli.main(["serve", "--port", "70000"]))
    assert "--port 70000 is out of range" in line and "--port 0" in line
    free = cli.check_port("127.0.0.1", 0)  # 0: any free port, chosen now
    assert 0 < free < 65536 and cli.check_port("127.0.0.1", free) == free
    assert cli.check_port("127.0.0.1", None) is None  # Gradio's search from 7860

    def refuse(self, address):  # the tests run as root: privileges refused here
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(socket.socket, "bind", refuse)
    with pytest.raises(ValueError, match=r"port 80 on 127.0.0.1 needs root") as info:
        cli.check_port("127.0.0.1", 80)
    assert "--port 0" in str(info.value) and "1024" in str(info.value)


@pytest.mark.slow
def test_a_wrong_data_folder_stops_a_paper_config_before_its_model(tmp_path):
    out = tmp_path / "run"
    result = run_script(
        TRAIN,
        "train.py",
        "hparams/dpda_rawboost.yaml",
        f"--data_folder={tmp_path / 'LA'}",
        f"--output_folder={out}",
        f"--ssl_hub={tmp_path / 'xlsr'}",  # never read: nothing is built
    )
    assert result.returncode == USAGE_ERROR, result.stderr[-3000:]
    line = one_error_line(result.stderr)
    assert "ASVspoof 2019 LA protocol not found" in line
    assert str(tmp_path / "LA") in line
    assert not os.path.exists(out / "save")  # no front end fetched


@pytest.mark.parametrize(
    "hparams, override, expected",
    [
        (MINI, "--aligner=pcgard", "unknown aligner; choose one of: none, sum, pcgrad"),
        (MINI, "--rawboost_algo=9", "choose one of: 0, 1, 2, 3, 4, 5, 6, 7, 8"),
        (MINI, "--dpda_mode=joined", "choose one of: split, joint"),
        (MINI, "--on_bad_audio=ignore", "choose one of: raise, skip"),
        (PAPER, "--backend=aassist", "choose one of: aasist, sls, nes2net_x, tcm"),
        (PAPER, "--ssl=xlsr", "unknown SSL front end; choose one of: xlsr_300m"),
        (MINI, "--algner=pcgrad", "unknown key --algner; did you mean --aligner?"),
        (MINI, "--corpra=la", "unknown key --corpra; did you mean --corpus?"),
        (MINI, "--rawboost_position=first", "choose one of: before_crop, after_crop"),
    ],
)
def test_keys_and_values_are_checked_with_the_valid_ones(
    capsys, hparams, override, expected
):
    argv = [hparams, override]
    if hparams == PAPER:
        argv.append("--data_folder=/corpora/LA")
    line = usage_error(capsys, lambda: parse_recipe_arguments(argv, "train.py"))
    assert line.startswith("train.py: error: ") and expected in line, line


def test_a_recipe_choice_and_a_placeholder_are_checked(capsys):
    parse = parse_recipe_arguments
    line = usage_error(capsys, lambda: parse([PAPER], "train.py"))
    assert "--data_folder is required" in line and "LA folder" in line
    choices = {"corpus": ("asvspoof2019_la", "asvspoof5")}
    asvspoof5 = os.path.join(ROOT, "hparams", "dpda_rawboost_asvspoof5.yaml")
    argv = [asvspoof5, "--data_folder=/c", "--corpus=asvspof5"]
    line = usage_error(capsys, lambda: parse(argv, "train.py", choices=choices))
    assert "choose one of: asvspoof2019_la, asvspoof5" in line
    assert "did you mean asvspoof5?" in line
    line = usage_error(capsys, lambda: parse(["nope.yaml"], "train.py"))
    assert "hparams file not found: nope.yaml" in line
    file, run_opts, overrides, values = parse(
        [MINI, "--aligner=gradvac", "--device=cpu"], "train.py"
    )
    assert file == MINI and overrides == "aligner: gradvac"
    assert values["aligner"] == "gradvac" and run_opts["device"] == "cpu"
    assert values["output_folder"] == "results/mini_dpda_rawboost_gradvac/1986"


@pytest.mark.slow
def test_a_typo_stops_the_recipe_before_any_work(tmp_path):
    mini = tmp_path / "mini"
    result = run_script(
        TRAIN,
        "train.py",
        "hparams/mini_dpda_rawboost.yaml",
        "--aligner=pcgard",
        f"--mini_corpus_folder={mini}",
        f"--output_folder={tmp_path / 'run'}",
    )
    assert result.returncode == USAGE_ERROR, result.stderr[-3000:]
    assert "unknown aligner" in one_error_line(result.stderr)
    assert not mini.exists() and not (tmp_path / "run").exists()


# -- part 4: help that helps ----------------------------------------------------
@pytest.mark.slow
def test_recipe_help_lists_the_keys_of_its_hparams_file():
    result = run_script(TRAIN, "train.py", "hparams/mini_dpda_rawboost.yaml", "--help")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    aligner = next(line for line in lines if line.split()[:1] == ["aligner"])
    assert "pcgrad" in aligner and "none (mean), sum, pcgrad" in aligner
    assert any(line.split()[:2] == ["rawboost_algo", "4"] for line in lines)
    assert "DPDA training on the synthetic mini corpus" in result.stdout
    assert "--skip_nonfinite_grads" in result.stdout  # named as not applying
    assert "--optimizer_step_limit" in result.stdout
    assert "Exit status" in result.stdout
    result = run_script(EVALUATE, "evaluate.py", "hparams/evaluate.yaml", "-h")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "eval_set" in result.stdout and "in_the_wild | for_norm" in result.stdout
    assert "only --device" in result.stdout


def test_speechbrain_flags_work_or_are_refused(capsys):
    _, run_opts, _, _ = parse_recipe_arguments(
        [MINI, "--optimizer_step_limit=3"], "train.py"
    )
    assert run_opts["optimizer_step_limit"] == 3  # an int, as Brain compares it
    argv = [MINI, "--optimizer_step_limit=x"]
    line = usage_error(capsys, lambda: parse_recipe_arguments(argv, "train.py"))
    assert "--optimizer_step_limit must be a whole number" in line
    argv = [MINI, "--skip_nonfinite_grads"]
    line = usage_error(capsys, lambda: parse_recipe_arguments(argv, "train.py"))
    assert "--skip_nonfinite_grads does not apply" in line
    assert "max_nonfinite_steps" in line
    argv = [MINI, "--debug"]
    line = usage_error(
        capsys,
        lambda: parse_recipe_arguments(argv, "evaluate.py", only_flags=("device",)),
    )
    assert "--debug does not apply to evaluate.py" in line


def test_import_checkpoint_help_names_its_three_arguments(capsys):
    path = os.path.join(TRAIN, "import_checkpoint.py")
    spec = importlib.util.spec_from_file_location("import_checkpoint", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    assert "checkpoint out_dir hparams_file" in " ".join(usage.split())
    assert "--KEY=VALUE" in usage


def test_dpda_detect_help_shows_defaults_and_exit_statuses(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 8)" in text and "half a window" in text
    assert "Exit status: 0" in text and "2 on a usage error" in text
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("7860", "(default: 600.0)", "(default: 50.0)", "127.0.0.1"):
        assert default in text, default
    assert "Exit status" in text
