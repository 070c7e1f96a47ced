"""What every reference script of `reprogram bench` reports about its environment (imported from the scripts' folder)."""
import ctypes
import os
import re

import torch


def blas_info():
    """torch's BLAS as built, and the library Debian's alternatives system points libblas.so.3 at (OpenBLAS when installed)."""
    found = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return (found.group(1) if found else "?") + " -> " + os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")


def shim_in_scope():
    """Whether mkl_serv_intel_cpu_true resolves in the process's global scope (an MKL-on-AMD shim preloaded)."""
    try:
        ctypes.CDLL(None).mkl_serv_intel_cpu_true
        return True
    except AttributeError:
        return False


def environment(threads):
    return {"torch": torch.__version__, "threads": threads, "blas": blas_info(),
            "allocator": "jemalloc" if "jemalloc" in os.environ.get("LD_PRELOAD", "") else "glibc",
            "mkl": torch.backends.mkl.is_available(), "shim": shim_in_scope()}


def threads():
    """$BENCH_THREADS (the .NET side's count), set for torch."""
    n = int(os.environ.get("BENCH_THREADS", "0")) or torch.get_num_threads()
    torch.set_num_threads(n)
    return n
