"""The output folder and input discovery.

--out checked before any work (one error line, exit 2), CSV rows with extra fields, resume
that redoes what was produced differently, --out inside an input folder, two runs on one
--out, a single-scan run interrupted over an existing --out, symlink loops and FIFOs.
"""

from __future__ import annotations

import json
import os
import threading

import pytest
from test_batch import make_scan, make_tiny_model

from engine.batch import outdir
from engine.batch.inputs import expand_inputs
from engine.cli import main as ctcam
from engine.io.nifti import write_nifti


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "scans"
    for s in range(2):
        vol, _ = make_scan(s)
        write_nifti(d / f"case{s}.nii.gz", vol.hu, vol.affine)
    return d


def _run(capsys, *args):
    rc = ctcam(["explain", *map(str, args), "--organs", "none", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err


def _one_error(err, *words):
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    for w in words:
        assert w in err[0], (w, err[0])


# -- 4. tracebacks instead of errors ---------------------------------------------------------------
def test_out_that_is_a_file_or_under_a_file_is_one_error(folder, model, tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    for out in (f, f / "sub"):
        for inp in ([folder / "case0.nii.gz"], [folder]):
            rc, err = _run(capsys, *inp, "--model", model, "--out", out)
            assert rc == 2
            _one_error(err, str(out))


def test_findings_json_that_is_a_folder_is_refused_before_work(folder, model, tmp_path, capsys,
                                                               monkeypatch):
    from engine.batch import scan

    out = tmp_path / "out"
    (out / "findings.json").mkdir(parents=True)
    worked = []
    monkeypatch.setattr(scan, "explain_into", lambda *a, **k: worked.append(a))
    rc, err = _run(capsys, folder / "case0.nii.gz", "--model", model, "--out", out)
    assert rc == 2 and worked == []  # refused before the scan was read or the model run
    _one_error(err, "findings.json", "is a folder")
    assert not (out / "maps").exists()


def test_csv_row_with_extra_fields(folder, model, tmp_path, capsys):
    good = tmp_path / "trailing.csv"
    good.write_text(f"path\n{folder / 'case0.nii.gz'},\n")  # a trailing comma is harmless
    assert len(expand_inputs([str(good)])) == 1
    bad = tmp_path / "extra.csv"
    bad.write_text(f"path\n{folder / 'case0.nii.gz'},oops\n")
    rc, err = _run(capsys, bad, "--model", model, "--out", tmp_path / "o")
    assert rc == 2
    _one_error(err, "extra.csv", "line 2", "more fields")


# -- 5. batch state that lies ---------------------------------------------------------------------
def _statuses(out):
    rows = (out / "scans.csv").read_text().splitlines()[1:]
    return sorted(r.split(",")[2] for r in rows)


def test_resume_redoes_scans_produced_with_other_options(folder, model, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(capsys, folder, "--model", model, "--out", out, "--methods", "hirescam")[0] == 0
    assert _run(capsys, folder, "--model", model, "--out", out, "--methods", "hirescam")[0] == 0
    assert _statuses(out) == ["skipped", "skipped"]
    assert _run(capsys, folder, "--model", model, "--out", out)[0] == 0
    assert _statuses(out) == ["done", "done"]
    prov = json.loads((out / "case0" / "findings.json").read_text())["provenance"]
    assert prov["methods"] == ["hirescam", "gradcam"] and prov["model_sha256"]
    assert (out / "case0" / "maps" / "gradcam").is_dir()


def test_out_inside_the_input_folder_is_not_explained_again(folder, model, capsys):
    out = folder / "results"
    for _ in range(2):
        assert _run(capsys, folder, "--model", model, "--out", out)[0] == 0
        assert len(_statuses(out)) == 2
    assert len(expand_inputs([str(folder)])) == 2  # the marker keeps it out even unnamed


def test_second_writer_on_one_out_is_refused(folder, model, tmp_path, capsys):
    out = outdir.prepare(tmp_path / "out")
    with outdir.OutputLock(out):
        rc, err = _run(capsys, folder, "--model", model, "--out", out)
        assert rc == 2
        _one_error(err, "another ctcam run", f"pid {os.getpid()}")
        rc, err = _run(capsys, folder / "case0.nii.gz", "--model", model, "--out", out)
        assert rc == 2
    assert not (out / "scans.csv").exists()
    assert _run(capsys, folder, "--model", model, "--out", out)[0] == 0  # released


def test_single_run_failing_over_an_existing_out_keeps_the_old_result(folder, model, tmp_path,
                                                                      capsys, monkeypatch):
    out = tmp_path / "out"
    assert _run(capsys, folder / "case0.nii.gz", "--model", model, "--out", out)[0] == 0
    def files():
        return {p.relative_to(out): p.stat().st_mtime_ns for p in out.rglob("*")
                if p.is_file() and not p.name.startswith(".ctcam")}  # marker and lock: touched

    before = files()

    import engine.findings as findings

    def die(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(findings, "write_findings_json", die)
    rc, err = _run(capsys, folder / "case1.nii.gz", "--model", model, "--out", out)
    assert rc == 2
    _one_error(err, "No space left")
    assert files() == before  # old findings.json with its own maps; no temp files left


def test_publish_interrupted_leaves_no_findings_json(tmp_path, monkeypatch):
    out, tmp = tmp_path / "out", tmp_path / "out" / ".partial-x"
    (out / "maps").mkdir(parents=True)
    (out / "findings.json").write_text("{}")
    (tmp / "maps").mkdir(parents=True)
    (tmp / "findings.json").write_text("{}")
    real = os.replace

    def replace(src, dst):
        if str(dst).endswith("findings.json"):
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(outdir.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        outdir.publish(tmp, out)
    assert not (out / "findings.json").exists()


# -- 6. hangs -------------------------------------------------------------------------------------
def test_symlink_loops_are_followed_once(folder):
    os.symlink(folder, folder / "again")
    (folder / "sub").mkdir()
    os.symlink(folder.parent, folder / "sub" / "up")
    jobs = expand_inputs([str(folder)])
    assert sorted(j.id for j in jobs) == ["case0", "case1"]


def test_fifo_named_like_a_scan_does_not_hang(folder, model, tmp_path, capsys):
    fifo = tmp_path / "pipe.nii.gz"
    os.mkfifo(fifo)
    done: list[int] = []
    t = threading.Thread(target=lambda: done.append(ctcam(["info", str(fifo)])), daemon=True)
    t.start()
    t.join(10)
    assert done == [2]
    _one_error(capsys.readouterr().err.strip().splitlines(), "pipe.nii.gz", "not a regular file")
    rc, err = _run(capsys, fifo, "--model", model, "--out", tmp_path / "o")
    assert rc == 2
    _one_error(err, "not a regular file")
    os.mkfifo(folder / "pipe.nii.gz")
    assert len(expand_inputs([str(folder)])) == 2


def test_an_output_folder_given_as_input_is_refused(folder, model, tmp_path, capsys):
    """Naming an earlier --out (or the --out itself) as input: one error, not its maps as scans."""
    out = tmp_path / "out"
    assert _run(capsys, folder, "--model", model, "--out", out)[0] == 0
    rc, err = _run(capsys, out, "--model", model, "--out", tmp_path / "again")
    assert rc == 2
    _one_error(err, str(out), "ctcam output folder")
    assert not (tmp_path / "again" / "scans.csv").exists()
    rc, err = _run(capsys, folder, "--model", model, "--out", folder)  # --out is the input
    assert rc == 2
    _one_error(err, "lies inside it")
    assert not (folder / "scans.csv").exists()
