"""Speed of explaining all labels with both methods (docs/performance.md; the maths in docs/methods.md).

Measured side by side in one run, on the bundled model's architecture and grid (bundled
weights when present, else random weights of the same shape):

1. one plain forward pass (logits only);
2. the fast path: logits + HiResCAM and Grad-CAM for all labels (one forward pass and two
   contractions, no backward) -> target <= 1.3x the forward pass;
3. a per-label autograd loop, as per-class CAM libraries do it (for each label: forward,
   full backward, both maps from the target layer's activations and gradient) -> target: fast path >= 10x faster;
4. for reference, the generic path with all labels batched in one autograd call;
5. the card's test-time shifts (S runs, maps averaged on the finer grid; bundled card's
   shifts, else 6) against S forward passes -> target <= 1.3x.

Usage: python benchmarks/cam_speed.py [--repeats 10] [--threads N] [--device D]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from engine.cam import GenericCAM, explain, fast_maps
from engine.cam.gradcam import GradCAM
from engine.cam.hirescam import HiResCAM
from engine.cam.shifts import roll_input, shifted_batch_maps
from engine.model import AxialNet, load_model, select_device


def timed_round_robin(fns: dict, repeats: int, sync) -> dict[str, float]:
    """Median seconds per function; the functions take turns in every round so that load
    from other processes on a shared machine hits all of them alike."""
    for fn in fns.values():  # warm-up
        fn()
    sync()
    ts: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            sync()
            ts[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in ts.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default=None)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = select_device(a.device)
    try:
        lm = load_model(device=dev)
        model, source = lm.model, f"bundled model {lm.weights_path}"
        shifts, nets = lm.test_time_shifts, lm.networks
    except Exception as exc:  # benchmark still runs without trained weights
        model = AxialNet(19).eval().to(dev)
        shifts = ()
        nets = (model,)
        source = f"random weights (bundled model unavailable: {exc})"
    L = model.n_labels
    x = torch.randn(1, model.in_channels, *model.input_shape, device=dev)
    if len(shifts) < 2:
        shifts = ((0, 0, 0), (4, 0, 0), (0, 4, 0), (4, 4, 1), (-4, -4, 2), (0, 0, 1))
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def forward():
        with torch.no_grad():
            model(x)

    def fast():
        fast_maps(model, x)

    def fast_full():  # including conversion to stored (L, mi, mj, mk) numpy maps
        explain(model, x, path="fast")

    methods = (HiResCAM(), GradCAM())
    target = model.reduce

    acts: dict[str, torch.Tensor] = {}

    def keep(module, inputs, output):
        output.retain_grad()
        acts["a"] = output

    def per_label_loop():
        """What per-class CAM libraries do: one forward + full backward per label."""
        for c in range(L):
            h = target.register_forward_hook(keep)
            model.zero_grad(set_to_none=True)
            y = model(x)
            h.remove()
            y[0, c].backward()
            a = acts["a"]
            for m in methods:
                m.maps(a.detach(), a.grad[None])

    def generic_batched():
        with GenericCAM(model, "reduce") as cam:
            cam(x)

    def shifted_forwards():
        with torch.no_grad():
            for s in shifts:
                xs = roll_input(x, s)
                for net in nets:
                    net(xs)

    def shifted():
        shifted_batch_maps(nets, x, shifts, ("hirescam", "gradcam"))

    t = timed_round_robin({"fwd": forward, "fast": fast, "full": fast_full,
                           "loop": per_label_loop, "gen": generic_batched,
                           "sfwd": shifted_forwards, "shift": shifted}, a.repeats, sync)
    t_fwd, t_fast, t_full, t_loop, t_gen = (t[k] for k in ("fwd", "fast", "full", "loop", "gen"))
    print(f"model: {source}")
    print(f"device {dev}, torch threads {torch.get_num_threads()}, input {tuple(x.shape)}, "
          f"{L} labels x 2 methods, median of {a.repeats} runs")
    print(f"  forward pass only              {t_fwd * 1e3:8.1f} ms")
    print(f"  fast path, all labels x 2      {t_fast * 1e3:8.1f} ms   ratio to forward {t_fast / t_fwd:5.2f}x (target <= 1.3x)")
    print(f"  fast path + numpy (L,mi,mj,mk) {t_full * 1e3:8.1f} ms   ratio to forward {t_full / t_fwd:5.2f}x")
    print(f"  generic path, labels batched   {t_gen * 1e3:8.1f} ms   ratio to forward {t_gen / t_fwd:5.2f}x")
    print(f"  per-label autograd loop        {t_loop * 1e3:8.1f} ms   fast path is {t_loop / t_fast:5.1f}x faster (target >= 10x)")
    n = len(shifts) * len(nets)  # every (network, shift) run: the card's inference
    what = f"{len(nets)} networks x {len(shifts)} shifts" if len(nets) > 1 else f"{n} shifts"
    print(f"  {n} shifted forward passes      {t['sfwd'] * 1e3:8.1f} ms   ({what})")
    print(f"  {what}, maps averaged {t['shift'] * 1e3:8.1f} ms   ratio to {n} forwards "
          f"{t['shift'] / t['sfwd']:5.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
