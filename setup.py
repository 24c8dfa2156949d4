"""Build blindmatch._native, the optional C engine; pip install never fails without it.

Like markupsafe's speedups: if the compiler is missing or fails, the package installs
without the extension and the pure-Python engine runs (``psi-run --version`` says which).
``BLINDMATCH_BUILD_NATIVE=0`` skips the build; ``=1`` makes a failed build an error.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCES = ["csrc/bm_module.c", "csrc/bm_curve.c", "csrc/bm_sha2.c"]
MACROS: list[tuple[str, str | None]] = []
if platform.machine().lower() in ("x86_64", "amd64") and os.path.exists("csrc/bm_avx2.c"):
    SOURCES.append("csrc/bm_avx2.c")
    MACROS.append(("BM_HAVE_AVX2_PATH", "1"))
    if os.path.exists("csrc/bm_ifma.c"):
        SOURCES.append("csrc/bm_ifma.c")
        MACROS.append(("BM_HAVE_IFMA_PATH", "1"))

# What bm_ifma.c and the module's check need from the compiler; an old one that lacks any of
# it builds the extension without the IFMA path (the probe runs in build_extension).
IFMA_PROBE = r"""
#pragma GCC target("avx512f,avx512ifma")
#include <immintrin.h>
#include <cpuid.h>
__m512i bm_probe(__m512i a, __m512i b, __m512i c) {
    return _mm512_madd52hi_epu64(_mm512_madd52lo_epu64(a, b, c), b, c);
}
int bm_probe_cpu(void) {
    unsigned int a, b, c, d;
    __builtin_cpu_init();
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) + __builtin_cpu_supports("avx512ifma");
}
"""


class OptionalBuildExt(build_ext):
    """build_ext that reports a failed compile and carries on without the extension."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any failure means "no speedups"
            self._skip(exc)
        if self.inplace:
            self._compile_sources_in_place()

    def _compile_sources_in_place(self) -> None:
        """Byte-compile src/blindmatch for an editable install, as pip does for a regular one.

        Why: with PYTHONDONTWRITEBYTECODE set, an editable install never gets .pyc files and
        every psi-run compiles ~800 KB of source again (~0.1 s per process). Python checks each
        .pyc against its source, so an edited file is compiled afresh, never run stale.
        """
        import compileall

        package = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src", "blindmatch")
        if os.path.isdir(package):
            compileall.compile_dir(package, quiet=2, workers=1)

    def build_extension(self, ext: Extension) -> None:
        if "csrc/bm_ifma.c" in ext.sources and not self._compiles(IFMA_PROBE):
            print(
                "NOTE: this compiler cannot build the AVX-512 IFMA path; building without it.",
                file=sys.stderr,
            )
            ext.sources.remove("csrc/bm_ifma.c")
            ext.define_macros = [m for m in ext.define_macros if m[0] != "BM_HAVE_IFMA_PATH"]
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._skip(exc)

    def _compiles(self, source: str) -> bool:
        """Whether the build's C compiler accepts source (a probe; any failure means no)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "probe.c")
            with open(path, "w") as f:
                f.write(source)
            try:
                self.compiler.compile([path], output_dir=tmp, extra_postargs=["-O2"])
            except Exception:  # noqa: BLE001 - CompileError or a missing compiler
                return False
        return True

    def _skip(self, exc: BaseException) -> None:
        if os.environ.get("BLINDMATCH_BUILD_NATIVE") == "1":
            raise exc
        print(
            f"WARNING: blindmatch's C engine was not built ({exc}); the pure-Python engine "
            "will be used.",
            file=sys.stderr,
        )


ext_modules = []
if os.environ.get("BLINDMATCH_BUILD_NATIVE") != "0" and sys.byteorder == "little":
    ext_modules.append(
        Extension(
            "blindmatch._native",
            sources=SOURCES,
            depends=[
                "csrc/bm_fe51.h",
                "csrc/bm_consts.h",
                "csrc/bm_curve.h",
                "csrc/bm_internal.h",
                "csrc/bm_sha2.h",
            ],
            define_macros=MACROS,
            extra_compile_args=[
                "-O3",
                "-std=c11",
                "-pthread",
                "-Wall",
                "-Wextra",
                "-Wno-unused-parameter",
            ],
            extra_link_args=["-pthread"],
        )
    )

setup(ext_modules=ext_modules, cmdclass={"build_ext": OptionalBuildExt})
