"""Where a benchmark ran: CPU model, ISA level, cores, library versions and the measured sgemm peak.

Why one home: a latency ratio means nothing without the machine it came
from (PyTorch's LSTM ran at 68-95 GFLOP/s on one AVX-512 CPU and half that
on another), so ``rnnzoo bench`` and every script under ``benchmarks/``
print and store this same record above their tables.

ISA "as each library sees it": torch says which kernels ATen dispatches to
(``torch.backends.cpu.get_cpu_capability()``, lowered by the
``ATEN_CPU_CAPABILITY`` environment variable); onnxruntime has no such call,
so its level is derived from the CPUID flags with the rule its MLAS kernels
dispatch by (AMX for int8 GEMMs, AVX-512 with or without VNNI, AVX2), and
no environment variable lowers it.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

ISA_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "OMP_NUM_THREADS")


def cpu_flags() -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none, e.g. macOS)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model() -> str:
    """The CPU's marketing name (``model name`` in ``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_identity() -> str:
    """``family F model M stepping S`` from ``/proc/cpuinfo``: a VM may show only a generic model name."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("cpu family", "model", "stepping") and key.strip() not in fields:
                fields[key.strip()] = value.strip()
            if not line.strip():
                break
    except OSError:
        return "unknown"
    return " ".join(f"{k.split()[-1]} {fields[k]}" for k in ("cpu family", "model", "stepping") if k in fields)


def cpu_isa(flags: set[str]) -> str:
    """The highest x86 vector level the CPU has: ``AMX``, ``AVX-512``, ``AVX2`` or ``below AVX2``."""
    if {"amx_tile", "amx_int8"} <= flags:
        return "AMX"
    if "avx512f" in flags:
        return "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    return "below AVX2" if flags else "unknown"


def onnxruntime_isa(flags: set[str]) -> str:
    """The kernel family onnxruntime's MLAS picks on this CPU (its CPUID dispatch rule, not an API)."""
    if not flags:
        return "unknown (no /proc/cpuinfo)"
    fp32 = "AVX-512F" if "avx512f" in flags else "AVX2/FMA" if {"avx2", "fma"} <= flags else "SSE"
    int8 = "AMX" if {"amx_tile", "amx_int8"} <= flags else "AVX-512 VNNI" if "avx512_vnni" in flags else \
        "AVX-VNNI" if "avx_vnni" in flags else fp32
    return f"fp32 {fp32}, int8 {int8}"


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), which a container may set below ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def library_versions() -> dict[str, str]:
    """Versions of what the timings depend on; torch's BLAS and oneDNN, which run its recurrent layers, too."""
    import numpy
    import onnx
    import onnxruntime
    import torch

    config = torch.__config__.show()
    onednn = next((ln.split("DNN", 1)[1].split("(")[0].strip() for ln in config.splitlines() if "MKL-DNN" in ln
                   or "oneDNN" in ln), "none")
    return {"python": platform.python_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "onnx": onnx.__version__, "numpy": numpy.__version__,
            "torch_blas": "MKL" if torch.backends.mkl.is_available() else "other", "torch_onednn": onednn}


def machine_info(threads: tuple[int, ...] = (1,), peak: bool = True, peak_repeats: int = 7) -> dict[str, Any]:
    """The record printed above and stored with every benchmark table.

    ``sgemm_peak_gflops``: single-precision GEMM rate measured now with torch
    (rnnzoo.zoo.bench.matmul_peak_gflops) at each of ``threads``; ``peak=False``
    leaves it out (about 0.2 s per thread count); more ``peak_repeats`` find
    the peak on a busy machine (the best repeat is kept).
    """
    import torch

    flags = cpu_flags()
    info: dict[str, Any] = {
        "cpu_model": cpu_model(), "cpu_id": cpu_identity(), "machine": platform.machine(), "cpu_isa": cpu_isa(flags),
        "torch_isa": torch.backends.cpu.get_cpu_capability(), "onnxruntime_isa": onnxruntime_isa(flags),
        "cpu_count": os.cpu_count(), "usable_cores": usable_cores(), "versions": library_versions(),
        "isa_env": {k: os.environ[k] for k in ISA_ENV if k in os.environ},
    }
    if peak:
        from rnnzoo.zoo.bench import matmul_peak_gflops

        info["sgemm_peak_gflops"] = {str(t): round(matmul_peak_gflops(t, repeats=peak_repeats), 1) for t in threads}
        info["sgemm_peak_repeats"] = peak_repeats
    return info


def describe(info: dict[str, Any]) -> list[str]:
    """``info`` as the lines a benchmark prints above its table."""
    versions = " ".join(f"{k}={v}" for k, v in info["versions"].items())
    lines = [f"cpu: {info['cpu_model']} [{info['cpu_id']}] ({info['machine']}, {info['cpu_isa']}), "
             f"{info['cpu_count']} cores "
             f"({info['usable_cores']} usable)",
             f"isa: torch {info['torch_isa']}; onnxruntime {info['onnxruntime_isa']}"
             + (f"; env {' '.join(f'{k}={v}' for k, v in info['isa_env'].items())}" if info["isa_env"] else ""),
             f"versions: {versions}"]
    if "sgemm_peak_gflops" in info:
        lines.append(f"sgemm peak (torch.mm 1024^3, best of {info.get('sgemm_peak_repeats', 7)}): "
                     + ", ".join(f"{t} thr {p} GFLOP/s" for t, p in info["sgemm_peak_gflops"].items()))
    return lines
