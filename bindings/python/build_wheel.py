#!/usr/bin/python3
"""Builds a wheel of the binding that carries libconnpool.so, offline (Debian's
python3-setuptools and python3-wheel; no pip, no package index).

    /usr/bin/python3 bindings/python/build_wheel.py build/libconnpool.so build/dist

The package is staged in a temporary copy (the source tree stays clean), the library is copied
in as ``connpool/libconnpool.so`` stripped of debug information (about 0.5 MB instead of ~20),
and the wheel is tagged for this platform (it holds native code). The wheel does not carry
libpq: the target needs Debian's ``libpq5`` (or any libpq.so.5). The loader finds the bundled
library second, after ``$CONNPOOL_LIBRARY`` (see README "Where the library is found").
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import sysconfig
import tempfile

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parent
_SKIP = shutil.ignore_patterns("tests", "__pycache__", "*.egg-info", "build", "dist", "*.so*")


def build_wheel(library: pathlib.Path, outdir: pathlib.Path) -> pathlib.Path:
    """Builds the wheel into ``outdir``; returns its path."""
    library = pathlib.Path(library).resolve(strict=True)
    outdir = pathlib.Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="connpool-wheel-") as tmp:
        stage = pathlib.Path(tmp) / "src"
        shutil.copytree(PACKAGE_ROOT, stage, ignore=_SKIP)
        bundled = stage / "connpool" / "libconnpool.so"
        shutil.copyfile(library, bundled)
        strip = shutil.which("strip")
        if strip:
            subprocess.run([strip, "--strip-unneeded", str(bundled)], check=True)
        platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        # The PEP 517 backend itself (what pip would call), in the staged directory.
        code = (
            "import sys; from setuptools import build_meta as b; "
            "print(b.build_wheel(sys.argv[1], {'--build-option': ['--plat-name', sys.argv[2]]}))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(outdir), platform],
            cwd=stage, check=True, capture_output=True, text=True,
        )
        name = done.stdout.strip().splitlines()[-1]
    return outdir / name


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    try:
        print(build_wheel(pathlib.Path(argv[1]), pathlib.Path(argv[2])))
    except subprocess.CalledProcessError as e:
        sys.stderr.write(e.stdout or "")
        sys.stderr.write(e.stderr or "")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
