"""The ctypes declarations against the public header, status codes, library lookup."""

from __future__ import annotations

import ctypes
import datetime
import inspect
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
            "connpool_log_callback": "ptr",  # a function pointer
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

    def test_version(self):
        self.assertRegex(connpool.library_version(), r"^\d+\.\d+\.\d+$")
        m = re.search(r"#define CONNPOOL_VERSION_STRING \"([^\"]+)\"", HEADER.read_text())
        self.assertEqual(connpool.library_version(), m.group(1))


class StatusIntrospectionTest(unittest.TestCase):
    """The status codes come from connpool_status_name/_description; the exception classes are
    hand-written, so every status the library reports must have one."""

    def test_statuses_are_contiguous_and_names_round_trip(self):
        names = _ffi.STATUS_NAMES
        self.assertEqual(sorted(names), list(range(len(names))), "statuses are 0..n-1")
        self.assertGreaterEqual(len(names), 17)
        self.assertEqual(names[0], "CONNPOOL_OK")
        for value, name in names.items():
            with self.subTest(status=name):
                self.assertTrue(name.startswith("CONNPOOL_"), name)
                self.assertEqual(_ffi.lib.connpool_status_name(value).decode(), name)
                self.assertEqual(getattr(_ffi, name[len("CONNPOOL_"):]), value, "module constant")
                self.assertEqual(_ffi.STATUS_DESCRIPTIONS[value],
                                 _ffi.lib.connpool_status_description(value).decode())
        for unknown in (len(names), -1, 2**31 - 1):
            self.assertEqual(_ffi.lib.connpool_status_name(unknown).decode(),
                             _ffi.UNKNOWN_STATUS_NAME)

    def test_descriptions_are_distinct_from_the_unknown_text(self):
        unknown = _ffi.lib.connpool_status_description(len(_ffi.STATUS_NAMES)).decode()
        self.assertTrue(unknown)
        for value, text in _ffi.STATUS_DESCRIPTIONS.items():
            with self.subTest(status=_ffi.STATUS_NAMES[value]):
                self.assertTrue(text.strip())
                self.assertNotEqual(text, unknown)
        self.assertEqual(len(set(_ffi.STATUS_DESCRIPTIONS.values())), len(_ffi.STATUS_DESCRIPTIONS))

    def test_constants_the_binding_uses(self):
        # pinned by the ABI; pool.py and aio.py branch on them
        self.assertEqual((_ffi.OK, _ffi.ERR_QUERY_FAILED, _ffi.ERR_IN_PROGRESS), (0, 7, 12))
        with self.assertRaisesRegex(AttributeError, "reports no status CONNPOOL_ERR_NO_SUCH"):
            _ffi.ERR_NO_SUCH  # noqa: B018

    def test_every_status_the_library_reports_has_an_exception_class(self):
        for value, name in _ffi.STATUS_NAMES.items():
            if value == _ffi.OK:
                continue
            with self.subTest(status=name):
                self.assertIn(value, errors.ERRORS_BY_STATUS,
                              f"{name} has no exception class: add one to connpool/errors.py "
                              f"(and export it from connpool/__init__.py)")
                cls = errors.ERRORS_BY_STATUS[value]
                self.assertTrue(issubclass(cls, connpool.Error))
                self.assertEqual(cls.status_code, value)
                self.assertIs(getattr(connpool, cls.__name__), cls, "exported by the package")
                e = cls("m")
                self.assertEqual((e.status, e.status_name), (value, name))
                self.assertEqual(e.description, _ffi.STATUS_DESCRIPTIONS[value])
                # without a message from the library, the exception says what the status means
                raised = errors.error_from_status(value, ctypes.c_void_p())
                self.assertIs(type(raised), cls)
                self.assertEqual(str(raised), _ffi.STATUS_DESCRIPTIONS[value])
        self.assertEqual(set(errors.ERRORS_BY_STATUS) - set(_ffi.STATUS_NAMES), set(),
                         "exception classes for statuses the library does not report")
        self.assertEqual(len(set(errors.ERRORS_BY_STATUS.values())), len(errors.ERRORS_BY_STATUS))

    def test_a_status_without_a_class_falls_back_to_error_with_its_description(self):
        timeout_cls = errors.ERRORS_BY_STATUS.pop(_ffi.ERR_TIMEOUT)  # as if newer than the binding
        self.addCleanup(errors.ERRORS_BY_STATUS.__setitem__, _ffi.ERR_TIMEOUT, timeout_cls)
        e = errors.error_from_status(_ffi.ERR_TIMEOUT, ctypes.c_void_p())
        self.assertIs(type(e), connpool.Error)
        self.assertEqual((e.status, e.status_name), (_ffi.ERR_TIMEOUT, "CONNPOOL_ERR_TIMEOUT"))
        self.assertEqual(str(e), _ffi.STATUS_DESCRIPTIONS[_ffi.ERR_TIMEOUT])
        # a value even the library does not know
        beyond = len(_ffi.STATUS_NAMES)
        e = errors.error_from_status(beyond, None)
        self.assertIs(type(e), connpool.Error)
        self.assertEqual(e.status_name, _ffi.UNKNOWN_STATUS_NAME)
        self.assertEqual(str(e), _ffi.lib.connpool_status_description(beyond).decode())


class _FakeStatsLibrary:
    """Stands in for the library in _read_stats_fields(): reports the given (name, offset)s."""

    def __init__(self, fields):
        self.fields = fields
        self.keep = []

    def connpool_version(self):
        return b"0.0.0-fake"

    def connpool_stats_field_count(self):
        return len(self.fields)

    def connpool_stats_field_describe(self, out, index, err):
        info = out._obj
        name, offset = self.fields[index]
        self.keep.append(name.encode())
        info.name = self.keep[-1]
        info.description = b"fake"
        info.kind = _ffi.STAT_COUNTER
        info.offset = offset
        return 0


class StatsIntrospectionTest(unittest.TestCase):
    """connpool_stats is built from connpool_stats_field_describe when the module loads."""

    def test_struct_fields_are_the_described_fields_at_their_offsets(self):
        count = _ffi.lib.connpool_stats_field_count()
        self.assertEqual(len(_ffi.STATS_FIELDS), count)
        self.assertGreaterEqual(count, 31)
        names = [name for name, _ in _ffi.connpool_stats._fields_]
        self.assertEqual(names[:2], ["struct_size", "reserved0"])
        self.assertEqual(names[2:], [f.name for f in _ffi.STATS_FIELDS])
        self.assertEqual(ctypes.sizeof(_ffi.connpool_stats), 8 + 8 * count)
        for index, f in enumerate(_ffi.STATS_FIELDS):
            with self.subTest(field=f.name):
                info = _ffi.connpool_stats_field(struct_size=ctypes.sizeof(_ffi.connpool_stats_field))
                self.assertEqual(_ffi.lib.connpool_stats_field_describe(ctypes.byref(info), index, None), 0)
                self.assertEqual(info.name.decode(), f.name)
                member = getattr(_ffi.connpool_stats, f.name)
                self.assertEqual((member.offset, member.size), (info.offset, 8))
                self.assertIn(f.kind, (_ffi.STAT_GAUGE, _ffi.STAT_COUNTER))
                self.assertTrue(f.description)

    def test_describe_rejects_a_bad_index(self):
        info = _ffi.connpool_stats_field(struct_size=ctypes.sizeof(_ffi.connpool_stats_field))
        err = ctypes.c_void_p()
        status = _ffi.lib.connpool_stats_field_describe(
            ctypes.byref(info), len(_ffi.STATS_FIELDS), ctypes.byref(err))
        self.assertIsInstance(errors.error_from_status(status, err), connpool.InvalidArgument)

    def test_a_layout_the_binding_cannot_mirror_fails_loudly(self):
        real = _ffi.lib
        self.addCleanup(setattr, _ffi, "lib", real)
        cases = {
            "a gap": ([("a", 8), ("b", 24)], "expected offset 16"),
            "not after the header": ([("a", 0)], "expected offset 8"),
            "a repeated name": ([("a", 8), ("a", 16)], "unusable name 'a'"),
            "a bad name": ([("no way", 8)], "unusable name"),
        }
        for case, (fields, message) in cases.items():
            with self.subTest(case=case):
                _ffi.lib = _FakeStatsLibrary(fields)
                with self.assertRaisesRegex(_ffi.IncompatibleLibraryError, message):
                    _ffi._read_stats_fields()
        _ffi.lib = _FakeStatsLibrary([("a", 8), ("b", 16)])
        self.assertEqual([f.name for f in _ffi._read_stats_fields()], ["a", "b"])


class OptionIntrospectionTest(unittest.TestCase):
    """Option kinds (durations, booleans) come from connpool_option_describe."""

    def test_options_are_described(self):
        self.assertEqual(len(_ffi.OPTIONS), _ffi.lib.connpool_option_count())
        self.assertIn("max_size", _ffi.OPTIONS)
        for key, info in _ffi.OPTIONS.items():
            with self.subTest(option=key):
                self.assertIn(info.kind, (_ffi.OPTION_INTEGER, _ffi.OPTION_DURATION_MS,
                                          _ffi.OPTION_BOOLEAN, _ffi.OPTION_STRING,
                                          _ffi.OPTION_CHOICE))
                self.assertTrue(info.description)
                if info.kind == _ffi.OPTION_CHOICE:
                    self.assertTrue(info.choices)
                if info.kind in (_ffi.OPTION_INTEGER, _ffi.OPTION_DURATION_MS):
                    self.assertLessEqual(info.min, int(info.default_value))
                    self.assertLessEqual(int(info.default_value), info.max)

    def test_duration_and_boolean_options_are_the_library_kinds(self):
        from connpool.pool import BOOLEAN_OPTIONS, DURATION_OPTIONS

        kinds = {key: info.kind for key, info in _ffi.OPTIONS.items()}
        self.assertEqual(DURATION_OPTIONS, {k for k, kind in kinds.items() if kind == _ffi.OPTION_DURATION_MS})
        self.assertEqual(BOOLEAN_OPTIONS, {k for k, kind in kinds.items() if kind == _ffi.OPTION_BOOLEAN})
        self.assertIn("acquire_timeout", DURATION_OPTIONS)
        self.assertIn("pre_ping", BOOLEAN_OPTIONS)

    def test_every_option_value_is_converted_by_its_kind(self):
        from connpool.pool import _option_text

        for key, info in _ffi.OPTIONS.items():
            with self.subTest(option=key):
                self.assertEqual(_option_text(key, "verbatim"), "verbatim")
                if info.kind == _ffi.OPTION_DURATION_MS:
                    self.assertEqual(_option_text(key, 1.5), "1500", "seconds to milliseconds")
                    self.assertEqual(_option_text(key, 2), "2000")
                    self.assertEqual(_option_text(key, datetime.timedelta(milliseconds=250)), "250")
                elif info.kind == _ffi.OPTION_INTEGER:
                    self.assertEqual(_option_text(key, 7), "7")
                if info.kind == _ffi.OPTION_BOOLEAN:
                    self.assertEqual((_option_text(key, True), _option_text(key, False)), ("on", "off"))
                else:
                    with self.assertRaisesRegex(connpool.InvalidArgument, f"'{key}' is a .* not a boolean"):
                        _option_text(key, True)

    def test_reset_is_the_hook_when_callable_and_the_library_option_when_a_str(self):
        if "reset" not in _ffi.OPTIONS:
            self.skipTest("this library has no reset option")
        hook = lambda conn: None  # noqa: E731
        with connpool.ConnectionPool("", reset=hook) as pool:
            self.assertIs(pool._reset, hook)
        with connpool.ConnectionPool("", reset="rollback") as pool:
            self.assertIsNone(pool._reset)
        with self.assertRaisesRegex(connpool.InvalidArgument, "reset"):
            connpool.ConnectionPool("", reset="sometimes")
        apool = connpool.AsyncConnectionPool("", reset="rollback")
        self.assertIsNone(apool._reset)
        apool.sync_pool.close()

    def test_the_constructor_keywords_are_library_options(self):
        params = inspect.signature(connpool.ConnectionPool.__init__).parameters
        keywords = [p.name for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        self.assertIn("timeout", keywords)
        # The binding's own keywords (connection parameters, hooks) are no library option,
        # except `reset`: the hook when callable, the library's option when a str.
        binding_only = connpool.pool.BINDING_KEYWORDS
        self.assertLessEqual(binding_only & set(_ffi.OPTIONS), {"reset"})
        for word in keywords:
            if word in binding_only:
                continue
            key = {"timeout": "acquire_timeout"}.get(word, word)
            with self.subTest(keyword=word):
                self.assertIn(key, _ffi.OPTIONS, f"ConnectionPool({word}=...) names no library option")


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
