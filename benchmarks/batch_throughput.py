"""Batch throughput: ``ctcam explain`` over N phantom scans, locally and on a local Dask cluster.

Measured side by side in one run on the same scans and model:

1. local: one process, the model loaded once, scans one after another;
2. cluster: ``--cluster`` on a LocalCluster with ``--workers`` processes (one thread each,
   torch threads = cores / workers), started and timed separately from the batch itself.

Prints wall time, seconds per scan, mean per-stage times (from each findings.json) and the
local / cluster ratio.  The model is the bundled one when present, else an untrained network
of the bundled architecture (the same compute; the weights do not change the cost).

Usage: python benchmarks/batch_throughput.py [--scans 8] [--size small] [--workers 2]
       [--organs auto|truth|none] [--labels A,B] [--device D] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path


def make_scans(folder: Path, n: int, size: str, organs: str) -> Path:
    """N phantom scans as NIfTI plus a CSV list (organ truth maps in the 'organs' column)."""
    from engine.io.nifti import write_nifti
    from engine.phantom import generate

    rows = ["path,id,organs"]
    for i in range(n):
        case = generate(1000 + i, size=size)
        scan = write_nifti(folder / "scans" / f"case{i:02d}.nii.gz", case.volume.hu,
                           case.volume.affine)
        org = ""
        if organs == "truth":
            org = str(write_nifti(folder / "organs" / f"case{i:02d}.nii.gz", case.organs,
                                  case.volume.affine))
        elif organs == "none":
            org = "none"
        rows.append(f"{scan},case{i:02d},{org}")
    lst = folder / "list.csv"
    lst.write_text("\n".join(rows) + "\n")
    return lst


def model_path(folder: Path) -> tuple[str | None, str]:
    from engine.resources import bundled_model_paths

    w, _ = bundled_model_paths()
    if w.is_file():
        return None, "bundled model"
    import torch

    from engine.labels import LABELS, ORGAN_CODES
    from engine.model import AxialNet, new_card, save_model
    from engine.train import DEFAULT_PREPROCESSING, TrainConfig

    cfg = TrainConfig(out=str(folder))
    torch.manual_seed(0)
    net = AxialNet(len(LABELS), cfg.shape, cfg.stem_width, cfg.widths, cfg.strides,
                   cfg.reduce_widths).eval()
    prep = dict(DEFAULT_PREPROCESSING, mean=0.2)
    w, _ = save_model(net, new_card(net, LABELS, ORGAN_CODES, prep), folder / "model")
    return str(w), "untrained network of the bundled architecture (bundled model not built yet)"


def stage_means(report) -> dict[str, float]:
    """Mean seconds per stage over the scans explained (pipeline stages, map writing, PNG)."""
    stages: dict[str, list[float]] = {}
    for o in report.outcomes:
        for k, v in o.timings.items():
            stages.setdefault(k, []).append(float(v))
    return {k: statistics.mean(v) for k, v in stages.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scans", type=int, default=8)
    ap.add_argument("--size", default="small", choices=["model", "small", "full"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--organs", default="auto", choices=["auto", "truth", "none"])
    ap.add_argument("--device", default=None)
    ap.add_argument("--labels", default=None, help="comma-separated labels to write maps for")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    from engine.batch import BatchOptions, run_batch
    from engine.batch.inputs import expand_inputs

    tmp = Path(tempfile.mkdtemp(prefix="ctcam-bench-"))
    t = time.perf_counter()
    jobs = expand_inputs([str(make_scans(tmp, a.scans, a.size, a.organs))])
    gen_s = time.perf_counter() - t
    model, model_note = model_path(tmp)
    labels = tuple(a.labels.split(",")) if a.labels else None
    opts = BatchOptions(model=model, device=a.device, labels=labels,
                        organs="auto" if a.organs == "auto" else "none")
    cpus = os.cpu_count() or 1
    print(f"{a.scans} phantom scans, size {a.size!r} (generated in {gen_s:.1f} s), organs: "
          f"{a.organs}, maps for {len(labels) if labels else 'all'} labels x 2 methods; "
          f"{model_note}; {cpus} logical CPUs")

    t = time.perf_counter()
    local = run_batch(jobs, tmp / "out-local", opts)
    local_s = time.perf_counter() - t
    assert local.exit_code == 0, [o.error for o in local.outcomes if o.error]
    result = {"scans": a.scans, "size": a.size, "organs": a.organs, "model": model_note,
              "labels": list(labels) if labels else "all",
              "cpus": cpus, "local": {"wall_s": local_s, "s_per_scan": local_s / a.scans,
                                      "stages": stage_means(local)}}
    print(f"\nlocal:   {local_s:7.1f} s wall, {local_s / a.scans:6.2f} s per scan")
    for k, v in result["local"]["stages"].items():
        print(f"           {k:<10} {v:6.2f} s")

    try:
        import distributed
    except ImportError:
        print("\ncluster: skipped (pip install 'ctcam[cluster]')")
    else:
        from engine.batch.cluster import THREADS_ENV

        os.environ[THREADS_ENV] = str(max(1, cpus // a.workers))
        t = time.perf_counter()
        lc = distributed.LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None, silence_logs=logging.ERROR)
        start_s = time.perf_counter() - t
        try:
            t = time.perf_counter()
            rep = run_batch(jobs, tmp / "out-cluster", opts, cluster=lc.scheduler_address)
            clu_s = time.perf_counter() - t
        finally:
            lc.close()
        assert rep.exit_code == 0, [o.error for o in rep.outcomes if o.error]
        workers = sorted({o.worker for o in rep.outcomes})
        result["cluster"] = {"workers": a.workers, "start_s": start_s, "wall_s": clu_s,
                             "s_per_scan": clu_s / a.scans, "workers_used": workers,
                             "stages": stage_means(rep)}
        print(f"\ncluster: {clu_s:7.1f} s wall, {clu_s / a.scans:6.2f} s per scan on {a.workers} "
              f"worker processes (used: {', '.join(workers)}); cluster start {start_s:.1f} s "
              "not included")
        for k, v in result["cluster"]["stages"].items():
            print(f"           {k:<10} {v:6.2f} s")
        print(f"\nlocal / cluster wall-time ratio: {local_s / clu_s:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
