"""Times the lesson's own methods on the data `cargo xtask bench` wrote, on this machine.

Usage: python peers.py DATA_DIR MEASURE_SECONDS MAX_RUN_SECONDS [--gpu-only=W,...] WORKLOAD...

Reads DATA_DIR/{workload}_a.npy and DATA_DIR/{workload}_b.npy (float32), prints
{"ready": true}, then times a round for each line read from stdin, and exits at its end:
- a number: the CPU's methods, with that share of MEASURE_SECONDS (the budget per method and
  workload). The bench sends one after each of its own rounds, so that Python's figures and
  its own are taken at the same moments of the run. The first such round times every method
  on every workload it can, and says why it skips the others. A later one times again those
  whose one call took no longer than the round's share: each takes a warm-up and at least
  three samples, which overrun a share a little, and a slower method would overrun it many
  times over (its figures are then the first round's alone);
- `gpu` (`cargo xtask bench --cuda --python`, once): PyTorch's `a @ b` on the GPU, on the
  whole budget: the operands copied to the device once, FP32 with TF32 off, checked against a
  float64 product, then timed with CUDA events around groups of calls (so that Python's own
  time per call hides behind the GPU's), as the bench times its own kernels. The workloads
  named by --gpu-only are timed on the GPU only, the shape-* workloads on the CPU only.

Each result is one JSON object per line on stdout, and {"round_done": N} ends round N (from 0):
  {"method": ..., "workload": ..., "median_ns": ..., "min_ns": ..., "samples": ...,
   "sample_ns": [...]}
  {"method": ..., "workload": ..., "skipped": "why"}
The GPU's lines carry "device": "gpu". Notices go to stderr. Needs numpy; torch and numba are
optional (their methods are skipped with a reason when missing). The methods are the lesson's,
written as the notebooks do.
"""

import json
import sys
import time

import numpy as np

try:
    import torch
except ImportError:
    torch = None

try:
    from numba import njit
except ImportError:
    njit = None


def python_loops(a, b):
    (ar, ac), (br, bc) = a.shape, b.shape
    c = torch.zeros(ar, bc)
    for i in range(ar):
        for j in range(bc):
            for k in range(ac):
                c[i, j] += a[i, k] * b[k, j]
    return c


if njit is not None:

    @njit
    def dot(a, b):
        res = 0.0
        for i in range(len(a)):
            res += a[i] * b[i]
        return res

    @njit
    def numba_broadcast(a, b):
        (ar, ac), (br, bc) = a.shape, b.shape
        c = np.zeros((ar, bc), dtype=a.dtype)
        for i in range(ar):
            c[i] = (a[i, :, None] * b).sum(axis=0)
        return c


def numba_dot(a, b):
    (ar, ac), (br, bc) = a.shape, b.shape
    c = np.zeros((ar, bc), dtype=a.dtype)
    for i in range(ar):
        for j in range(bc):
            c[i, j] = dot(a[i, :], b[:, j])
    return c


def torch_elementwise(a, b):
    (ar, ac), (br, bc) = a.shape, b.shape
    c = torch.zeros(ar, bc)
    for i in range(ar):
        for j in range(bc):
            c[i, j] = (a[i, :] * b[:, j]).sum()
    return c


def torch_broadcast(a, b):
    (ar, ac), (br, bc) = a.shape, b.shape
    c = torch.zeros(ar, bc)
    for i in range(ar):
        c[i] = (a[i, :, None] * b).sum(dim=0)
    return c


# (name, needs, kind, function, square): kind picks the operands' type; `square` says whether
# the method is fast enough to try on the square sweep (and the other shapes) at all.
METHODS = [
    ("python loops", "torch", "torch", python_loops, False),
    ("numba dot", "numba", "numpy", lambda a, b: numba_dot(a, b), False),
    ("torch elementwise", "torch", "torch", torch_elementwise, False),
    ("torch broadcasting", "torch", "torch", torch_broadcast, False),
    ("numba broadcasting", "numba", "numpy", lambda a, b: numba_broadcast(a, b), False),
    ("torch.einsum", "torch", "torch", lambda a, b: torch.einsum("ik,kj->ij", a, b), True),
    ("torch.matmul", "torch", "torch", lambda a, b: torch.matmul(a, b), True),
    ("numpy @", "numpy", "numpy", lambda a, b: a @ b, True),
]

AVAILABLE = {"numpy": True, "torch": torch is not None, "numba": njit is not None}


def flops(a):
    (m, k), n = a[0].shape, a[1].shape[1]
    return 2.0 * m * k * n


def settle():
    """Waits until no other thread of this process runs: a library's threads spin a while
    after a product before they sleep (NumPy's OpenBLAS for about a tenth of a second), and
    would share the cores with the next method timed. As the bench's `timer::settle` does:
    the process's CPU time over 5 ms pauses, quiet when under a fifth of a pause twice in a
    row, for at most 0.3 s."""
    start, quiet = time.perf_counter(), 0
    while quiet < 2 and time.perf_counter() - start < 0.3:
        before = time.process_time()
        time.sleep(0.005)
        quiet = quiet + 1 if time.process_time() - before <= 0.001 else 0


def measure(run, measure_seconds):
    """Median and minimum seconds per call: calls grouped so one sample lasts at least
    1/20 of the budget, samples until the budget is spent (at least 3), once the threads of
    the method timed before have settled."""
    settle()
    # Warm up for a tenth of the budget (at least one call): caches, allocator, thread pools.
    calls, start = 0, time.perf_counter()
    while calls == 0 or time.perf_counter() - start < measure_seconds / 10:
        run()
        calls += 1
    once = max((time.perf_counter() - start) / calls, 1e-9)
    per_sample = max(1, int(measure_seconds / 20 / once))
    samples = []
    begin = time.perf_counter()
    while len(samples) < 3 or (time.perf_counter() - begin < measure_seconds and len(samples) < 200):
        t0 = time.perf_counter()
        for _ in range(per_sample):
            run()
        samples.append((time.perf_counter() - t0) / per_sample)
    return summary(samples)


def summary(samples):
    """Median, minimum, count and every sample (seconds per call), for the bench to bootstrap
    its interval as it does for its own stages."""
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[0], len(ordered), samples


def measure_cuda(run, measure_seconds):
    """Median and minimum seconds per call on the GPU: CUDA events around a group of calls
    (operands already on the device), the group sized so that a sample lasts at least 1/20
    of the budget, samples until the budget is spent (at least 3)."""

    def timed(calls):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            run()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / calls

    timed(1)  # warm-up: cuBLAS picks its kernel, the allocator caches
    once = max(timed(1), 1e-9)
    per_sample = max(1, int(measure_seconds / 20 / once))
    samples = []
    begin = time.perf_counter()
    while len(samples) < 3 or (time.perf_counter() - begin < measure_seconds and len(samples) < 200):
        samples.append(timed(per_sample))
    return summary(samples)


GPU_METHOD = "torch.matmul"


def gpu_unavailable():
    """Why PyTorch cannot time on the GPU here, or None when it can."""
    if torch is None:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "PyTorch sees no CUDA device"
    return None


def time_on_gpu(workload, a, b, measure_seconds):
    """PyTorch's a @ b on the GPU, as one output line."""
    why = gpu_unavailable()
    if why is not None:
        return {"method": GPU_METHOD, "workload": workload, "device": "gpu", "skipped": why}
    torch.backends.cuda.matmul.allow_tf32 = False
    x, y = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
    # Checked before it is timed, as the bench checks its own kernels: normwise error
    # against the float64 product.
    exact = a.astype(np.float64) @ b.astype(np.float64)
    error = np.linalg.norm((x @ y).cpu().numpy() - exact) / max(np.linalg.norm(exact), 1e-300)
    if not error <= 1e-4:
        return {"method": GPU_METHOD, "workload": workload, "device": "gpu",
                "skipped": f"wrong result: relative error {error:.3g} against float64"}
    median, minimum, samples, every = measure_cuda(lambda: x @ y, measure_seconds)
    return {"method": GPU_METHOD, "workload": workload, "device": "gpu",
            "median_ns": median * 1e9, "min_ns": minimum * 1e9, "samples": samples,
            "sample_ns": [s * 1e9 for s in every]}


def emit(record):
    print(json.dumps(record), flush=True)


class Rounds:
    """What the rounds share: the workloads and what the first CPU round learnt of each method."""

    def __init__(self, workloads, data, gpu_only, budget, max_run):
        self.workloads, self.data, self.gpu_only = workloads, data, gpu_only
        self.budget, self.max_run = budget, max_run
        # Seconds per flop of each method on the last workload it ran: predicts the next one.
        self.rate = {}
        # Seconds per call of each method on each workload the first CPU round timed it on.
        self.one_call = {}
        self.cpu_rounds = 0

    def cpu(self, measure_seconds):
        """One round of the CPU's methods, each on each workload for `measure_seconds`."""
        first = self.cpu_rounds == 0
        self.cpu_rounds += 1
        for workload in self.workloads:
            if workload in self.gpu_only:
                continue
            a, b, operands = self.data[workload]
            work = flops((a, b))
            for name, needs, kind, function, square in METHODS:
                if workload.startswith(("square", "shape")) and not square:
                    continue
                if not first:
                    if self.one_call.get((name, workload), float("inf")) > measure_seconds:
                        continue
                elif not AVAILABLE[needs]:
                    emit({"method": name, "workload": workload, "skipped": f"{needs} is not installed"})
                    continue
                elif name in self.rate:
                    estimate = self.rate[name] * work
                    if estimate > self.max_run:
                        about = f"{estimate:,.0f}" if estimate >= 100 else f"{estimate:.3g}"
                        emit({"method": name, "workload": workload,
                              "skipped": f"one run would take about {about} s (limit {self.max_run:g} s)"})
                        continue
                else:
                    function(operands[kind][0][:1], operands[kind][1])  # compile (numba), warm up
                x, y = operands[kind]
                median, minimum, samples, every = measure(lambda: function(x, y), measure_seconds)
                if first:
                    self.rate[name] = median / work
                    self.one_call[(name, workload)] = median
                emit({"method": name, "workload": workload, "median_ns": median * 1e9,
                      "min_ns": minimum * 1e9, "samples": samples,
                      "sample_ns": [s * 1e9 for s in every]})

    def gpu(self):
        """PyTorch on the GPU: the lesson's workloads and the squares, beside the GPU's own
        kernels."""
        for workload in self.workloads:
            if not workload.startswith("shape"):
                a, b, _ = self.data[workload]
                emit(time_on_gpu(workload, a, b, self.budget))


def main():
    data_dir, budget, max_run = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    options = [arg for arg in sys.argv[4:] if arg.startswith("--")]
    workloads = [arg for arg in sys.argv[4:] if not arg.startswith("--")]
    gpu_only = set()
    for option in options:
        if option.startswith("--gpu-only="):
            gpu_only.update(name for name in option.split("=", 1)[1].split(",") if name)
    missing = [name for name, ok in AVAILABLE.items() if not ok]
    if missing:
        print(f"python peers: missing {', '.join(missing)}; their methods are skipped", file=sys.stderr)
    if torch is not None:
        torch.set_grad_enabled(False)
    data = {}
    for workload in workloads:
        a = np.load(f"{data_dir}/{workload}_a.npy")
        b = np.load(f"{data_dir}/{workload}_b.npy")
        operands = {"numpy": (a, b)}
        if torch is not None:
            operands["torch"] = (torch.from_numpy(a), torch.from_numpy(b))
        data[workload] = (a, b, operands)
    rounds = Rounds(workloads, data, gpu_only, budget, max_run)
    emit({"ready": True})
    for index, line in enumerate(sys.stdin):
        if line.strip() == "gpu":
            rounds.gpu()
        else:
            rounds.cpu(float(line))
        settle()  # the bench's next stage starts when this is read
        emit({"round_done": index})


if __name__ == "__main__":
    main()
