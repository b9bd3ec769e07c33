"""Times the GEMMs of bench/bench_gemm.cpp through Debian's PyTorch, for the ratio column.

Called by bench_gemm itself (never by a test); can also be run by hand:
    /usr/bin/python3 tools/reference/bench_gemm_torch.py --threads 2 --samples 5 \
        --shape qkv:f32:600:2304:768:0:1 --shape sq1024:f64:1024:1024:1024:0:0

A shape is NAME:DTYPE:M:N:K:TRANS_A:TRANS_B[:BATCH] with the meaning of xclip::cpu::gemm: C[M,N] =
op(A)·op(B), A stored [M,K] (or [K,M] when TRANS_A), B stored [K,N] (or [N,K] when TRANS_B);
BATCH > 1 times torch.bmm over that many independent products (xclip::cpu::gemm_batched).
Transposed operands are passed as transposed views, so PyTorch hands them to BLAS with a
transpose flag, without a copy (as torch.nn.functional.linear does with its weight).

Prints one JSON object on stdout: the torch version, the BLAS it calls, the thread count, and the
best-of-samples GFLOP/s per shape.
"""
import argparse
import ctypes
import json
import os
import sys
import time


def parse_shape(text):
    name, dtype, m, n, k, ta, tb, *batch = text.split(":")
    return {"name": name, "dtype": dtype, "M": int(m), "N": int(n), "K": int(k), "ta": ta == "1", "tb": tb == "1",
            "batch": int(batch[0]) if batch else 1}


def blas_description(torch):
    """Which BLAS torch.mm reaches: the build setting, the library mapped into this process, and
    (for OpenBLAS) its version and the CPU kernel family it selected at load time."""
    config = torch.__config__.show()
    info = next((part.strip() for part in config.replace("\n", ",").split(",") if "BLAS_INFO" in part), "?")
    info = info[info.find("BLAS_INFO"):]
    libs = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "blas" in os.path.basename(path) or "mkl" in os.path.basename(path):
                libs.add(os.path.realpath(path))
    text = f"{info}; loaded: {', '.join(sorted(libs)) or 'none'}"
    try:
        ob = ctypes.CDLL("libopenblas.so.0")
        ob.openblas_get_config.restype = ctypes.c_char_p
        ob.openblas_get_corename.restype = ctypes.c_char_p
        text += f"; {ob.openblas_get_config().decode()}, kernels for {ob.openblas_get_corename().decode()}"
    except (OSError, AttributeError):
        pass
    return text


def set_openblas_threads(n):
    # torch.set_num_threads sets OpenMP/MKL threads only; OpenBLAS (pthread build) keeps its own count.
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(ctypes.c_int(n))
    except (OSError, AttributeError):
        pass


def time_shape(torch, s, samples, min_seconds):
    dtype = {"f32": torch.float32, "f64": torch.float64}[s["dtype"]]
    g = torch.Generator().manual_seed(0)
    nb = s["batch"]
    a = torch.rand(nb, *(s["K"], s["M"]) if s["ta"] else (s["M"], s["K"]), generator=g, dtype=dtype) - 0.5
    b = torch.rand(nb, *(s["N"], s["K"]) if s["tb"] else (s["K"], s["N"]), generator=g, dtype=dtype) - 0.5
    a = a.transpose(1, 2) if s["ta"] else a
    b = b.transpose(1, 2) if s["tb"] else b
    c = torch.empty(nb, s["M"], s["N"], dtype=dtype)
    if nb == 1:
        a, b, c = a[0], b[0], c[0]
        product = torch.mm
    else:
        product = torch.bmm
    product(a, b, out=c)  # warm-up: threads started, pages touched
    t0 = time.perf_counter()
    product(a, b, out=c)
    once = max(time.perf_counter() - t0, 1e-7)
    iters = max(1, int(min_seconds / once))
    best = float("inf")
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(iters):
            product(a, b, out=c)
        best = min(best, (time.perf_counter() - t0) / iters)
    return 2.0 * s["M"] * s["N"] * s["K"] * nb / best / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=0.05, help="per timing sample")
    parser.add_argument("--shape", action="append", default=[], type=parse_shape)
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"error": f"cannot import torch: {e}"}))
        return 1
    torch.set_num_threads(args.threads)
    set_openblas_threads(args.threads)
    results = [{"name": s["name"], "gflops": time_shape(torch, s, args.samples, args.min_seconds)} for s in args.shape]
    print(json.dumps({"torch": torch.__version__, "blas": blas_description(torch), "threads": torch.get_num_threads(),
                      "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
