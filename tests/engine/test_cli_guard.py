"""Bad numbers for ``ctcam phantom`` and unexpected errors in any sub-command
are one ``error:`` line and exit 2, never a traceback (unless CTCAM_DEBUG=1)."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import engine.cli as cli
from engine.cli import main as ctcam
from engine.errors import CTCamError


def _one_error_line(err: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


# -- ctcam phantom: numeric options refuse bad values -------------------------------------------
@pytest.mark.parametrize("seed", ["-1", "abc", "1.5", "", "1e3", str(2**64)])
def test_phantom_bad_seed_one_line(tmp_path, capsys, seed):
    with pytest.raises(SystemExit) as exc:
        ctcam(["phantom", "--seed", seed, "--out", str(tmp_path / "case")])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    _one_error_line(err)
    assert "--seed" in err and "whole number" in err
    assert not (tmp_path / "case").exists()  # refused before anything is written


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan", "inf", "lots"])
def test_phantom_bad_prevalence_one_line(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exc:
        ctcam(["phantom", "--seed", "1", "--out", str(tmp_path), "--prevalence", value])
    assert exc.value.code == 2
    _, err = capsys.readouterr()
    _one_error_line(err)
    assert "--prevalence" in err


def test_phantom_seed_bounds_accepted():
    from engine.cli.phantom import MAX_SEED, build_parser

    for seed in (0, 7, MAX_SEED):
        args = build_parser().parse_args(["--seed", str(seed), "--out", "x"])
        assert args.seed == seed


def test_phantom_negative_seed_as_a_real_command(tmp_path):
    run = subprocess.run([sys.executable, "-m", "engine.cli", "phantom", "--seed", "-1",
                          "--out", str(tmp_path / "c")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    _one_error_line(run.stderr)
    assert "--seed" in run.stderr and "-1" in run.stderr


# -- the top-level guard -------------------------------------------------------------------------
@pytest.fixture
def boom(monkeypatch):
    """Register a sub-command ``boom`` whose main raises whatever the test puts in ``exc``."""
    mod = types.ModuleType("ctcam_test_boom")
    state: dict[str, BaseException] = {}

    def main(argv):
        raise state["exc"]

    mod.main = main
    monkeypatch.setitem(sys.modules, "ctcam_test_boom", mod)
    monkeypatch.setitem(cli.SUBCOMMANDS, "boom", "ctcam_test_boom:main")
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    return state


def test_unexpected_exception_one_line(boom, capsys):
    boom["exc"] = ZeroDivisionError("division by zero")
    assert ctcam(["boom", "--x"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    _one_error_line(err)
    assert "ctcam boom failed unexpectedly: ZeroDivisionError: division by zero" in err
    assert "please report this with the command line" in err
    assert "CTCAM_DEBUG=1" in err
    assert "(at tests/engine/test_cli_guard.py:" in err  # where in the code it was raised


def test_unexpected_oserror_names_the_file(boom, capsys):
    boom["exc"] = PermissionError(13, "Permission denied", "/data/scan.nii.gz")
    assert ctcam(["boom"]) == 2
    _, err = capsys.readouterr()
    _one_error_line(err)
    assert "/data/scan.nii.gz" in err and "PermissionError" in err


def test_multiline_message_stays_one_line(boom, capsys):
    boom["exc"] = RuntimeError("first\nsecond\n\nthird")
    assert ctcam(["boom"]) == 2
    _, err = capsys.readouterr()
    _one_error_line(err)
    assert "first second third" in err


def test_escaped_ctcam_error_is_plain(boom, capsys):
    boom["exc"] = CTCamError("scan.nii: not a NIfTI or DICOM file")
    assert ctcam(["boom"]) == 2
    _, err = capsys.readouterr()
    assert err == "error: scan.nii: not a NIfTI or DICOM file\n"


def test_debug_env_shows_traceback(boom, capsys, monkeypatch):
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    boom["exc"] = KeyError("missing")
    assert ctcam(["boom"]) == 2
    _, err = capsys.readouterr()
    assert "Traceback (most recent call last)" in err and "KeyError" in err
    last = err.rstrip("\n").splitlines()[-1]
    assert last.startswith("error: ctcam boom failed unexpectedly: KeyError")
    assert "please report this with the command line" in last


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3)])
def test_interrupt_and_exit_pass_through(boom, capsys, exc):
    boom["exc"] = exc
    with pytest.raises(type(exc)):
        ctcam(["boom"])
    assert capsys.readouterr().err == ""


def test_import_failure_of_a_subcommand_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(cli.SUBCOMMANDS, "gone", "ctcam_no_such_module_here:main")
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    assert ctcam(["gone"]) == 2
    _, err = capsys.readouterr()
    _one_error_line(err)
    assert "ModuleNotFoundError" in err and "ctcam_no_such_module_here" in err


def test_real_subcommand_bug_in_a_fresh_interpreter(tmp_path, io_volume):
    """A bug inside ``ctcam info`` (simulated) seen by a user: one line, exit 2."""
    code = ("import sys, engine.cli.info as m\n"
            "def bad(vol): raise IndexError('index 5 is out of bounds')\n"
            "m.describe = bad\n"
            "import engine.cli as c\n"
            "sys.exit(c.main(sys.argv[1:]))\n")
    from engine.io.nifti import write_volume

    path = write_volume(tmp_path / "scan.nii.gz", io_volume)
    env_run = subprocess.run([sys.executable, "-c", code, "info", str(path)],
                             capture_output=True, text=True, timeout=120)
    assert env_run.returncode == 2 and env_run.stdout == ""
    _one_error_line(env_run.stderr)
    assert "ctcam info failed unexpectedly: IndexError" in env_run.stderr
