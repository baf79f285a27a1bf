#!/usr/bin/env python3
"""Benchmark of the a5_cnn NumPy reference against the loop oracles and PyTorch on CPU, float32.

    python benchmarks/bench_cnn.py [--data-dir DIR] [--source DIR_OR_URL] [--quick] [--skip-torch] [--threads N]

Prints, from one run on one machine: the thread configuration; forward + backward of the handout's conv layer
(batch 32, 28x28x1 -> 32 channels, 3x3, SAME) for the reference, the naive loops (a smaller batch, scaled
up) and torch.nn.functional.conv2d with autograd; one training epoch of the handout network (batch 32, Adam)
in NumPy and in PyTorch, with the NumPy step's time per layer; and the ratios against the targets (conv at
most 1.5x torch, epoch at most 2x torch). Not a test: it takes a few minutes and a whole machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

try:
    from autograder.data import mnist
    from autograder.reference import a5_cnn as ref
    from autograder.reference import a5_naive as naive
except ImportError:  # run from a checkout where the course package is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from autograder.data import mnist
    from autograder.reference import a5_cnn as ref
    from autograder.reference import a5_naive as naive

CONV_TARGET = 1.5  # reference conv layer time / torch's, at most
EPOCH_TARGET = 2.0  # reference epoch time / torch's, at most
LAYER_ORDER = ("data", "conv", "relu", "batch_norm", "max_pool", "dense1", "dropout", "dense2", "loss", "adam")
LAYER_NOTES = {"relu": "both ReLUs", "adam": "incl. the L2 term's value and gradient", "data": "batch indexing"}
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def timed(fn, repeats: int, warmup: int = 3) -> tuple[float, float, float]:
    """(median, mean, min) seconds of fn() over ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), statistics.fmean(times), min(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def verdict(ratio: float, target: float) -> str:
    return f"{ratio:.2f}x  (target <= {target}x: {'met' if ratio <= target else 'NOT met'})"


# ------------------------------------------------------------------------------------------- the data
def load_data(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    def both():
        return tuple(a for split in ("train", "test") for a in mnist.load_mnist(split, args.quick, args.data_dir))

    try:
        return both()
    except mnist.MnistError as missing:
        if not args.source:
            raise SystemExit(f"bench_cnn: {missing}\n(or pass --source DIR_OR_URL to build it from the MNIST files)")
    print(f"building the MNIST files from {args.source} ...")
    mnist.prepare_mnist(args.data_dir, source=args.source, quick=args.quick, log=lambda message: None)
    return both()


# ------------------------------------------------------------------------------------ the conv layer
def bench_conv(args, torch):
    rng = np.random.default_rng(args.seed)
    n = ref.BATCH_SIZE
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    w = (rng.standard_normal((3, 3, 1, 32)) * 0.1).astype(np.float32)
    b = np.zeros(32, dtype=np.float32)
    dout = rng.standard_normal((n, 28, 28, 32)).astype(np.float32)

    def numpy_layer(need_dx=True):
        _, cache = ref.conv2d_forward(x, w, b, 1, "SAME")
        ref.conv2d_backward(dout, cache, need_dx)

    print(f"\n1. conv layer: batch {n}, 28x28x1 -> 32 channels, 3x3, stride 1, SAME, float32; forward + backward")
    results = {}
    results["numpy"] = timed(numpy_layer, args.repeats)
    results["numpy_nodx"] = timed(lambda: numpy_layer(False), args.repeats)
    if torch is not None:
        F = torch.nn.functional
        tx = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
        tw = torch.from_numpy(w).permute(3, 2, 0, 1).contiguous().requires_grad_()
        tb = torch.from_numpy(b).requires_grad_()
        td = torch.from_numpy(dout).permute(0, 3, 1, 2).contiguous()
        tx_grad = tx.clone().requires_grad_()

        def torch_layer(inp):
            for t in (inp, tw, tb):
                t.grad = None
            F.conv2d(inp, tw, tb, stride=1, padding="same").backward(td)

        results["torch"] = timed(lambda: torch_layer(tx_grad), args.repeats)
        results["torch_nodx"] = timed(lambda: torch_layer(tx), args.repeats)

    small = args.naive_batch
    start = time.perf_counter()
    out, cache = naive.conv2d_forward(x[:small], w, b, 1, "SAME")
    naive.conv2d_backward(dout[:small], cache)
    naive_s = time.perf_counter() - start

    print(f"   numpy reference (dx, dW, db)     {ms(results['numpy'][0])}   median of {args.repeats} "
          f"(mean {results['numpy'][1] * 1000:.2f}, min {results['numpy'][2] * 1000:.2f})")
    if torch is not None:
        print(f"   torch F.conv2d + autograd        {ms(results['torch'][0])}   median of {args.repeats} "
              f"(mean {results['torch'][1] * 1000:.2f}, min {results['torch'][2] * 1000:.2f})")
    print(f"   naive loops, batch {small} (float64)   {ms(naive_s)}   one run; scaled x{n / small:g} to batch {n}: "
          f"{naive_s * n / small:.1f} s (an estimate, not measured at batch {n})")
    print(f"   without dx (the network's first layer): numpy {results['numpy_nodx'][0] * 1000:.2f} ms"
          + (f", torch {results['torch_nodx'][0] * 1000:.2f} ms" if torch is not None else ""))
    print(f"   naive (scaled) / numpy: {naive_s * n / small / results['numpy'][0]:,.0f}x")
    ratio = None
    if torch is not None:
        ratio = results["numpy"][0] / results["torch"][0]
        print(f"   numpy / torch: {verdict(ratio, CONV_TARGET)}; without dx "
              f"{results['numpy_nodx'][0] / results['torch_nodx'][0]:.2f}x")
    return ratio


# ------------------------------------------------------------------------------- the torch network
class TorchCNN:
    """The handout network in PyTorch (NCHW conv, flattened in NHWC order so the same weights give the
    same function), trained with torch.optim.Adam's defaults for CPU; weights copied from the NumPy init."""

    def __init__(self, torch, params, keep_prob, l2_lambda, learning_rate):
        self.torch, self.F = torch, torch.nn.functional
        self.keep_prob, self.l2_lambda = keep_prob, l2_lambda
        p = {k: torch.from_numpy(v.copy()) for k, v in params.items()}
        p["W_conv"] = p["W_conv"].permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
        self.p = {k: v.requires_grad_() for k, v in p.items()}
        self.running_mean, self.running_var = torch.zeros(32), torch.ones(32)
        self.opt = torch.optim.Adam(self.p.values(), lr=learning_rate, betas=(0.9, 0.999), eps=1e-8)

    def logits(self, x, training):
        F, p = self.F, self.p
        a = F.relu(F.conv2d(x, p["W_conv"], p["b_conv"], padding="same"))
        # PyTorch's momentum 0.01 is Keras's 0.99 (torch's running variance is unbiased: irrelevant to timing)
        a = F.batch_norm(a, self.running_mean, self.running_var, training=training, momentum=0.01, eps=1e-5)
        a = F.max_pool2d(a, 2, 2)
        a = a.permute(0, 2, 3, 1).reshape(a.shape[0], -1)
        a = self.torch.addmm(p["b1"], a, p["W1"])
        a = F.dropout(a, p=1 - self.keep_prob, training=training)
        return self.torch.addmm(p["b2"], F.relu(a), p["W2"])

    def loss(self, x, y, training=True):
        l2 = (self.p["W1"].square().sum() + self.p["W2"].square().sum()) / 2
        return self.F.cross_entropy(self.logits(x, training), y) + self.l2_lambda * l2

    def step(self, x, y):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(x, y)
        loss.backward()
        self.opt.step()
        return loss.detach()

    def evaluate(self, x, y, batch_size=1000):
        with self.torch.no_grad():
            correct = sum(int((self.logits(x[i : i + batch_size], False).argmax(1) == y[i : i + batch_size]).sum())
                          for i in range(0, len(x), batch_size))
        return correct / len(x)


# ------------------------------------------------------------------------------------------ an epoch
def bench_epoch(args, torch, x, y, xt, yt):
    n = len(x)
    what = "a FULL epoch" if n == 60000 else f"{n:,} images (NOT a full 60,000-image epoch)"
    print(f"\n2. one training epoch of the handout network: {what}, batch {ref.BATCH_SIZE}, Adam lr "
          f"{ref.LEARNING_RATE:g}, keep_prob {ref.KEEP_PROB}, L2 lambda {ref.L2_LAMBDA:g}, float32")
    rng = np.random.default_rng(args.seed)
    params, state = ref.init_cnn(rng)
    torch_net = None
    if torch is not None:  # copy before NumPy's in-place training changes the weights
        torch_net = TorchCNN(torch, params, ref.KEEP_PROB, ref.L2_LAMBDA, ref.LEARNING_RATE)
        same = xt[:256].reshape(-1, 28, 28, 1)
        ours, _, _ = ref.cnn_forward(same, params, state, training=False)
        with torch.no_grad():
            theirs = torch_net.logits(torch.from_numpy(same).permute(0, 3, 1, 2), False).numpy()
        print(f"   same network: inference logits of 256 test images, max |numpy - torch| = "
              f"{np.max(np.abs(ours - theirs)):.1e} (logits up to {np.max(np.abs(ours)):.1f})")
    order_seed = int(rng.integers(2**31))
    configs = ref.init_adam(params)
    timings: dict[str, float] = {}
    load_before = load_average()
    cpu, wall = time.process_time(), time.perf_counter()
    params, state, configs, losses = ref.train_epoch(x, y, params, state, configs, np.random.default_rng(order_seed),
                                                     timings=timings)
    numpy_s, numpy_cpu = time.perf_counter() - wall, time.process_time() - cpu
    batches = len(losses)
    numpy_acc = ref.evaluate(xt, yt, params, state)[1]
    print(f"   numpy reference : {numpy_s:7.1f} s wall ({numpy_cpu:.1f} s CPU), {batches} batches, "
          f"{numpy_s / batches * 1000:.1f} ms/batch, {n / numpy_s:,.0f} images/s; loss {np.mean(losses[:50]):.3f} "
          f"(first 50) -> {np.mean(losses[-50:]):.3f} (last 50); test accuracy {numpy_acc:.4f}; "
          f"load average {load_before} -> {load_average()}")

    torch_s = None
    if torch_net is not None:
        tx = torch.from_numpy(x).reshape(-1, 1, 28, 28)
        ty = torch.from_numpy(np.argmax(y, axis=1))
        order = torch.from_numpy(np.random.default_rng(order_seed).permutation(n))
        load_before = load_average()
        cpu, wall = time.process_time(), time.perf_counter()
        torch_losses = []
        for start in range(0, n, ref.BATCH_SIZE):
            idx = order[start : start + ref.BATCH_SIZE]
            torch_losses.append(torch_net.step(tx[idx], ty[idx]))
        torch_losses = torch.stack(torch_losses).tolist()
        torch_s, torch_cpu = time.perf_counter() - wall, time.process_time() - cpu
        torch_acc = torch_net.evaluate(torch.from_numpy(xt).reshape(-1, 1, 28, 28), torch.from_numpy(np.argmax(yt, 1)))
        print(f"   torch (CPU)     : {torch_s:7.1f} s wall ({torch_cpu:.1f} s CPU), {len(torch_losses)} batches, "
              f"{torch_s / len(torch_losses) * 1000:.1f} ms/batch, {n / torch_s:,.0f} images/s; loss "
              f"{np.mean(torch_losses[:50]):.3f} -> {np.mean(torch_losses[-50:]):.3f}; test accuracy {torch_acc:.4f}; "
              f"load average {load_before} -> {load_average()}")

    total = sum(timings.values())
    print(f"   numpy step per layer (forward + backward, ms per batch; sum {total / batches * 1000:.1f} of "
          f"{numpy_s / batches * 1000:.1f} ms):")
    for name in sorted(timings, key=lambda k: (k not in LAYER_ORDER, LAYER_ORDER.index(k) if k in LAYER_ORDER else 0)):
        note = f"  ({LAYER_NOTES[name]})" if name in LAYER_NOTES else ""
        print(f"     {name:11s} {timings[name] / batches * 1000:7.2f}  {100 * timings[name] / total:5.1f} %{note}")
    ratio = None
    if torch_s is not None:
        ratio = numpy_s / torch_s
        print(f"   numpy / torch epoch: {verdict(ratio, EPOCH_TARGET)}")
    return ratio


# ----------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help=f"MNIST data folder (default: ${mnist.DATA_DIR_ENV}, else data/mnist)")
    parser.add_argument("--source", help="folder or http(s) URL with the four MNIST files, used if the data folder "
                        "has no HDF5 files yet (as data_scripts/prepare_mnist.py --source)")
    parser.add_argument("--quick", action="store_true", help="the 5,000-image quick subset (not a full epoch)")
    parser.add_argument("--skip-torch", action="store_true", help="NumPy only")
    parser.add_argument("--threads", type=int, default=2, help="BLAS / OpenMP / torch threads (default 2)")
    parser.add_argument("--repeats", type=int, default=50, help="timed repetitions of the conv layer (default 50)")
    parser.add_argument("--naive-batch", type=int, default=2, help="batch for the naive loops (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch = None
    if not args.skip_torch:
        try:
            import torch
        except ImportError:
            raise SystemExit("bench_cnn: PyTorch is not installed (pip install torch, CPU build) or pass --skip-torch")
    x, y, xt, yt = load_data(args)

    with threadpool_limits(limits=args.threads):
        if torch is not None:
            torch.set_num_threads(args.threads)
        print("nnfs-course a5_cnn benchmark: NumPy reference vs naive loops vs PyTorch CPU, float32")
        print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs, load average {load_average()}")
        print(f"python {platform.python_version()}, numpy {np.__version__}"
              + (f", torch {torch.__version__}" if torch is not None else ""))
        print("environment: " + ", ".join(f"{v}={os.environ.get(v, '(unset)')}" for v in ENV_VARS))
        print(f"threads: --threads {args.threads}; threadpoolctl reports:")
        for lib in threadpool_info():
            extra = ", ".join(f"{k} {lib[k]}" for k in ("architecture", "threading_layer") if lib.get(k))
            print(f"   {lib['internal_api']:9s} {lib.get('version') or '':16s} {lib['num_threads']} threads"
                  f"{'  (' + extra + ')' if extra else ''}  {Path(lib['filepath']).name}")
        if torch is not None:
            from torch.optim.optimizer import _default_to_fused_or_foreach

            fused, foreach = _default_to_fused_or_foreach([torch.zeros(1)], False, False)
            print(f"   torch.get_num_threads() {torch.get_num_threads()}, interop {torch.get_num_interop_threads()}; "
                  f"torch.optim.Adam default on CPU: {'fused' if fused else 'foreach' if foreach else 'for-loop'}")
        conv_ratio = bench_conv(args, torch)
        epoch_ratio = bench_epoch(args, torch, x, y, xt, yt)
    if torch is not None:
        print(f"\nsummary: conv layer numpy/torch {conv_ratio:.2f}x (target <= {CONV_TARGET}x), epoch numpy/torch "
              f"{epoch_ratio:.2f}x (target <= {EPOCH_TARGET}x), threads {args.threads}, load average {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
