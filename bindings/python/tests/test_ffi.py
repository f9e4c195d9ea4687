"""The ctypes declarations against the public header, status codes, library lookup."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

from support import HEADER, PACKAGE_ROOT  # also puts the package on sys.path

import connpool
from connpool import _ffi, errors


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def header_functions() -> dict[str, tuple[str, list[str]]]:
    """name -> (return kind, [parameter kinds]) for every CONNPOOL_API function in the header."""
    text = _strip_comments(HEADER.read_text())
    out = {}
    for m in re.finditer(r"CONNPOOL_API\s+([^;(]*?)\b(connpool_\w+)\s*\(([^)]*)\)\s*;", text, flags=re.S):
        ret, name, params = m.group(1), m.group(2), m.group(3)
        params = " ".join(params.split())
        kinds = [] if params in ("void", "") else [_kind(p) for p in params.split(",")]
        out[name] = (_kind(ret + " x"), kinds)
    return out


def _kind(decl: str) -> str:
    """A C declaration reduced to what ctypes must match: int64, int32, uint32, str, ptr, void."""
    decl = " ".join(decl.replace("*", " * ").split())
    # drop the parameter name (last word unless the declaration ends with '*')
    words = decl.split()
    if words and words[-1] != "*":
        words = words[:-1]
    stars = words.count("*")
    base = [w for w in words if w not in ("*", "const")]
    base = " ".join(base)
    if stars == 0:
        return {
            "int64_t": "int64",
            "int32_t": "int32",
            "connpool_status": "int32",
            "uint32_t": "uint32",
            "void": "void",
        }[base]
    if stars == 1 and base == "char" and "const" in words:
        return "str"  # a NUL-terminated string the caller passes or the library lends
    # anything else, including a `char *` the library allocated for the caller to free, is a
    # raw pointer
    return "ptr"


def _ctypes_kind(t) -> str:
    if t is None:
        return "void"
    if t is ctypes.c_int64:
        return "int64"
    if t is ctypes.c_int32:
        return "int32"
    if t is ctypes.c_uint32:
        return "uint32"
    if t is ctypes.c_char_p:
        return "str"
    if t is ctypes.c_void_p or issubclass(t, ctypes._Pointer):
        return "ptr"
    raise AssertionError(f"unexpected ctypes type {t!r}")


class HeaderParityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        if not HEADER.is_file():
            raise unittest.SkipTest(f"{HEADER} not found (package tested outside the repository)")
        cls.functions = header_functions()

    def test_header_parsed(self):
        self.assertIn("connpool_pool_acquire", self.functions)
        self.assertGreaterEqual(len(self.functions), 33)

    def test_every_header_function_is_declared_with_matching_types(self):
        declared = {name: (restype, argtypes) for name, restype, argtypes, _ in _ffi.SIGNATURES}
        self.assertEqual(sorted(self.functions), sorted(declared),
                         "the binding must declare exactly the header's functions")
        for name, (ret, params) in self.functions.items():
            restype, argtypes = declared[name]
            with self.subTest(function=name):
                self.assertEqual(_ctypes_kind(restype), ret, f"{name}: return type")
                self.assertEqual([_ctypes_kind(a) for a in argtypes], params, f"{name}: parameters")

    def test_every_declared_function_is_exported_by_the_loaded_library(self):
        self.assertEqual(_ffi.missing, [], f"{_ffi.path} lacks {_ffi.missing}")
        for name, restype, argtypes, _ in _ffi.SIGNATURES:
            f = getattr(_ffi.lib, name)
            self.assertEqual(f.argtypes, argtypes)
            self.assertIs(f.restype, restype)

    def test_status_codes_match_the_header_and_each_has_an_exception(self):
        text = HEADER.read_text()
        codes = {m.group(1): int(m.group(2))
                 for m in re.finditer(r"#define CONNPOOL_(OK|ERR_\w+)\s+(\d+)", text)}
        self.assertGreaterEqual(len(codes), 16)
        for name, value in codes.items():
            with self.subTest(status=name):
                self.assertEqual(getattr(_ffi, name), value)
                self.assertEqual(_ffi.lib.connpool_status_name(value).decode(), f"CONNPOOL_{name}")
                if value:
                    cls = errors.ERRORS_BY_STATUS[value]
                    self.assertTrue(issubclass(cls, connpool.Error))
                    self.assertEqual(cls.status_code, value)
                    self.assertEqual(cls("m").status_name, f"CONNPOOL_{name}")
        self.assertEqual(len(set(errors.ERRORS_BY_STATUS.values())), len(codes) - 1)

    def test_stats_struct_matches_the_header(self):
        text = _strip_comments(HEADER.read_text())
        body = re.search(r"typedef struct connpool_stats \{(.*?)\} connpool_stats;", text, re.S).group(1)
        fields = re.findall(r"(u?int\d+_t)\s+(\w+);", body)
        ours = [(name, t) for name, t in _ffi.connpool_stats._fields_]
        self.assertEqual([f[1] for f in fields], [f[0] for f in ours])
        for (ctype, name), (_, t) in zip(fields, ours):
            self.assertEqual({"uint32_t": ctypes.c_uint32, "int64_t": ctypes.c_int64}[ctype], t, name)

    def test_every_duration_option_is_converted_from_seconds(self):
        src = HEADER.parent.parent.parent / "src" / "core" / "options.cpp"
        if not src.is_file():
            self.skipTest(f"{src} not found")
        durations = set(re.findall(r'\{\{"(\w+)", "duration_ms"', src.read_text()))
        self.assertIn("acquire_timeout", durations)
        from connpool.pool import DURATION_OPTIONS

        self.assertEqual(durations - DURATION_OPTIONS, set(),
                         "duration options the binding would pass as milliseconds, not seconds")

    def test_version(self):
        self.assertRegex(connpool.library_version(), r"^\d+\.\d+\.\d+$")
        m = re.search(r"#define CONNPOOL_VERSION_STRING \"([^\"]+)\"", HEADER.read_text())
        self.assertEqual(connpool.library_version(), m.group(1))


class ErrorObjectTest(unittest.TestCase):
    def test_error_message_is_taken_and_freed(self):
        opts = ctypes.c_void_p()
        self.assertEqual(_ffi.lib.connpool_options_new(ctypes.byref(opts), None), 0)
        try:
            err = ctypes.c_void_p()
            status = _ffi.lib.connpool_options_set(opts, b"no_such_option", b"1", ctypes.byref(err))
            self.assertEqual(status, _ffi.ERR_UNKNOWN_OPTION)
            exc = errors.error_from_status(status, err)
            self.assertIsInstance(exc, connpool.UnknownOption)
            self.assertIn("no_such_option", str(exc))
            self.assertIsNone(err.value, "the error object must be freed and cleared")
        finally:
            self.assertEqual(_ffi.lib.connpool_options_free(opts), 0)
        # a double free is detected by the library
        self.assertEqual(_ffi.lib.connpool_options_free(opts), _ffi.ERR_INVALID_HANDLE)

    def test_made_up_handles_are_rejected_not_crashing(self):
        out = ctypes.c_void_p()
        err = ctypes.c_void_p()
        bogus = 0x8000_0000_DEAD_BEEF
        status = _ffi.lib.connpool_pool_acquire(ctypes.byref(out), bogus, 0, ctypes.byref(err))
        exc = errors.error_from_status(status, err)
        self.assertIsInstance(exc, connpool.InvalidHandle)
        self.assertEqual(_ffi.lib.connpool_result_row_count(bogus), -1)

    def test_exceptions_are_picklable(self):
        import pickle

        e = connpool.QueryError("boom", sqlstate="22012")
        e2 = pickle.loads(pickle.dumps(e))
        self.assertIsInstance(e2, connpool.QueryError)
        self.assertEqual((str(e2), e2.sqlstate, e2.status), ("boom", "22012", 7))

    def test_python_exception_bases(self):
        self.assertTrue(issubclass(connpool.PoolTimeout, TimeoutError))
        self.assertTrue(issubclass(connpool.InvalidArgument, ValueError))


class LibraryLookupTest(unittest.TestCase):
    """Runs fresh interpreters so that each sees its own environment."""

    def run_python(self, code: str, env: dict, cwd: str | None = None) -> subprocess.CompletedProcess:
        full_env = {k: v for k, v in os.environ.items() if k != "CONNPOOL_LIBRARY"}
        full_env.update(env)
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env, cwd=cwd,
                              capture_output=True, text=True, timeout=60)

    def test_explicit_path_that_does_not_load_is_an_error(self):
        r = self.run_python(
            "import connpool", {"CONNPOOL_LIBRARY": "/nonexistent/libconnpool.so",
                                "PYTHONPATH": str(PACKAGE_ROOT)})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("LibraryNotFoundError", r.stderr)
        self.assertIn("CONNPOOL_LIBRARY='/nonexistent/libconnpool.so'", r.stderr)

    def test_next_to_the_package_then_error_listing_the_places(self):
        with tempfile.TemporaryDirectory() as tmp:
            pkg = os.path.join(tmp, "connpool")
            shutil.copytree(os.path.join(PACKAGE_ROOT, "connpool"), pkg,
                            ignore=shutil.ignore_patterns("__pycache__", "*.so*"))
            # Without a library anywhere we control: the error lists every place searched.
            r = self.run_python("import connpool", {"PYTHONPATH": tmp, "LD_LIBRARY_PATH": ""})
            if r.returncode == 0:
                self.skipTest("a libconnpool is installed system-wide")
            self.assertIn("cannot find libconnpool; looked in:", r.stderr)
            self.assertIn(os.path.join(pkg, "libconnpool.so"), r.stderr)
            self.assertIn("system loader", r.stderr)
            # With the library next to the package it loads from there.
            shutil.copy(_ffi.path, os.path.join(pkg, "libconnpool.so"))
            r = self.run_python("import connpool; print(connpool.library_path)",
                                {"PYTHONPATH": tmp})
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), os.path.join(pkg, "libconnpool.so"))


class PackagingTest(unittest.TestCase):
    def test_pip_install_offline_without_build_isolation(self):
        probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
        if probe.returncode != 0:
            self.skipTest("pip is not installed for this interpreter (use PYTHONPATH)")
        probe = subprocess.run([sys.executable, "-c", "import setuptools"], capture_output=True)
        if probe.returncode != 0:
            self.skipTest("setuptools is not installed (Debian: python3-setuptools)")
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "src")
            # a copy: pip builds in the source tree (build/, *.egg-info)
            shutil.copytree(PACKAGE_ROOT, src, ignore=shutil.ignore_patterns(
                "__pycache__", "build", "*.egg-info", "tests"))
            target = os.path.join(tmp, "site")
            r = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-index",
                 "--disable-pip-version-check", "--no-warn-script-location", "--quiet",
                 "--target", target, src],
                capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            code = """
                import connpool, os
                assert connpool.__file__.startswith(os.environ["PYTHONPATH"]), connpool.__file__
                print(connpool.library_version())
            """
            r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp,
                               env=dict(os.environ, PYTHONPATH=target, CONNPOOL_LIBRARY=_ffi.path),
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), connpool.library_version())


if __name__ == "__main__":
    unittest.main()
