"""``ctcam explain ... --cluster``: the same batch on a Dask cluster started by the test.

Skipped only when the ``cluster`` extra (dask[distributed]) is not installed; the ``test``
extra installs it, so CI runs these.
"""

from __future__ import annotations

import csv
import json
import logging

import nibabel as nib
import numpy as np
import pytest

distributed = pytest.importorskip(
    "distributed", reason="the cluster extra is not installed (pip install 'ctcam[cluster]')")

from test_batch import make_scan, make_tiny_model  # noqa: E402

from engine.batch import BatchOptions, run_batch  # noqa: E402
from engine.batch import cluster as cluster_mod  # noqa: E402
from engine.batch.cluster import ClusterError, task_resources  # noqa: E402
from engine.batch.inputs import ScanJob  # noqa: E402
from engine.cli import main as ctcam  # noqa: E402
from engine.io.nifti import write_nifti  # noqa: E402


@pytest.fixture(scope="module")
def lc():
    """One local cluster for the module (starting one costs seconds): two worker processes,
    one thread each, each advertising one GPU resource as `dask worker --resources GPU=1`."""
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  resources={"GPU": 1}, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("cluster")
    model = make_tiny_model(d / "model")
    jobs = []
    for s in range(3):
        vol, _ = make_scan(s)
        jobs.append(ScanJob(f"s{s}", str(write_nifti(d / "in" / f"s{s}.nii.gz", vol.hu, vol.affine))))
    (d / "in" / "bad.nii.gz").write_bytes(b"garbage")
    jobs.append(ScanJob("bad", str(d / "in" / "bad.nii.gz")))
    return model, jobs, d


@pytest.fixture
def submissions(monkeypatch):
    """Record the keyword arguments of every Client.submit (to see the resources asked for)."""
    seen = []
    real = distributed.Client.submit

    def submit(self, *a, **k):
        seen.append(k)
        return real(self, *a, **k)

    monkeypatch.setattr(distributed.Client, "submit", submit)
    return seen


def test_cluster_batch_matches_local_resumes_and_asks_one_gpu_per_task(lc, data, tmp_path,
                                                                       submissions):
    model, jobs, _ = data
    opts = BatchOptions(model=model, organs="none", methods=("hirescam", "gradcam"),
                        labels=("left_lung/nodule",))
    report = run_batch(jobs, tmp_path / "dask", opts, cluster=lc.scheduler_address)
    assert report.exit_code == 1
    by_id = {o.id: o for o in report.outcomes}
    assert {i: o.status for i, o in by_id.items()} == {"s0": "done", "s1": "done", "s2": "done",
                                                      "bad": "failed"}
    assert {by_id[f"s{s}"].worker for s in range(3)} <= {"0", "1"}
    assert "bad.nii.gz" in by_id["bad"].error and "unexpected" not in by_id["bad"].error
    # the workers advertise GPU=1, so every task asks for one GPU
    assert [k["resources"] for k in submissions] == [{"GPU": 1}] * 4
    # a second run submits only what is not complete (the bad scan) and skips the rest
    again = run_batch(jobs, tmp_path / "dask", opts, cluster=lc.scheduler_address)
    assert sorted(o.status for o in again.outcomes) == ["failed", "skipped", "skipped", "skipped"]
    assert len(submissions) == 5
    local = run_batch(jobs, tmp_path / "local", opts)
    assert [o.status for o in local.outcomes] == ["done", "done", "done", "failed"]
    for s in range(3):
        a = json.loads((tmp_path / "dask" / f"s{s}" / "findings.json").read_text())
        b = json.loads((tmp_path / "local" / f"s{s}" / "findings.json").read_text())
        np.testing.assert_allclose([x["probability"] for x in a["labels"]],
                                   [x["probability"] for x in b["labels"]], rtol=1e-5)
        rel = f"s{s}/maps/hirescam/left_lung__nodule.nii.gz"
        np.testing.assert_allclose(nib.load(tmp_path / "dask" / rel).get_fdata(),
                                   nib.load(tmp_path / "local" / rel).get_fdata(), atol=1e-5)
        assert (tmp_path / "dask" / f"s{s}" / "summary.png").is_file()
    with open(tmp_path / "dask" / "errors.csv", newline="") as fh:
        assert [r["id"] for r in csv.DictReader(fh)] == ["bad"]
    # other options: the scans produced differently are redone, not reported as done before
    other = BatchOptions(model=model, organs="none", methods=("hirescam",),
                         labels=("left_lung/nodule",))
    redo = run_batch(jobs[:3], tmp_path / "dask", other, cluster=lc.scheduler_address)
    assert [o.status for o in redo.outcomes] == ["done"] * 3 and len(submissions) == 8
    prov = json.loads((tmp_path / "dask" / "s1" / "findings.json").read_text())["provenance"]
    assert prov["methods"] == ["hirescam"]


class _Borrowed:
    """Stands in for a new LocalCluster: the module's cluster, which must outlive the call."""

    def __init__(self, cluster, record, **kw):
        self._cluster, self.closed = cluster, False
        record.append(kw)

    def __getattr__(self, name):
        return getattr(self._cluster, name)

    def close(self):
        self.closed = True


def test_cli_cluster_local_wiring_and_address(lc, data, tmp_path, capsys, monkeypatch,
                                              submissions):
    model, _, d = data
    made = []
    monkeypatch.delenv(cluster_mod.THREADS_ENV, raising=False)  # restored afterwards
    monkeypatch.setattr(distributed, "LocalCluster", lambda **kw: _Borrowed(lc, made, **kw))
    monkeypatch.setattr(cluster_mod, "local_cluster_size", lambda workers: (workers or 3, None))
    rc = ctcam(["explain", str(d / "in" / "s0.nii.gz"), str(d / "in" / "bad.nii.gz"), "--out",
                str(tmp_path / "o"), "--model", model, "--organs", "none", "--cluster", "local",
                "--workers", "2", "--methods", "hirescam", "--quiet"])
    assert rc == 1 and (tmp_path / "o" / "s0" / "findings.json").is_file()
    assert made == [dict(n_workers=2, threads_per_worker=1, processes=True, resources=None,
                         dashboard_address=None, silence_logs=logging.ERROR)]
    rc = ctcam(["explain", str(d / "in" / "s1.nii.gz"), "--out", str(tmp_path / "a"), "--model",
                model, "--organs", "none", "--cluster", lc.scheduler_address, "--quiet"])
    assert rc == 0 and (tmp_path / "a" / "s1" / "summary.png").is_file()
    assert len(submissions) == 3


def test_task_resources_rule():
    assert task_resources({"workers": {}}) is None
    assert task_resources({"workers": {"a": {"resources": {}}, "b": {}}}) is None
    assert task_resources({"workers": {"a": {"resources": {}}, "b": {"resources": {"GPU": 2}}}}) == {"GPU": 1}


def test_unreachable_scheduler_is_a_usage_error(data, tmp_path, capsys, monkeypatch):
    model, _, d = data
    monkeypatch.setattr(cluster_mod, "CONNECT_TIMEOUT", "1s")
    rc = ctcam(["explain", str(d / "in" / "s0.nii.gz"), "--out", str(tmp_path / "p"), "--model",
                model, "--cluster", "tcp://127.0.0.1:9", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    with pytest.raises(ClusterError):
        cluster_mod._client("tcp://127.0.0.1:9", None)
