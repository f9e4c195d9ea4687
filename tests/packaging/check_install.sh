#!/usr/bin/env bash
# The installed tree as a user gets it from README's "Installing": `cmake --install BUILD
# --prefix DIR --strip`, then programs built against DIR with pkg-config and with
# find_package(connpool CONFIG). CTest runs each step as its own test (tests/packaging).
#
#   check_install.sh install    BUILD DIR         install into DIR.staged, check it, move it to DIR
#   check_install.sh pkg-config DIR EXAMPLES CONNINFO_FILE   build quickstart.c and .cpp, run them
#   check_install.sh cmake      DIR CONSUMER_SRC EXAMPLES CONNINFO_FILE   the same with CMake
#   check_install.sh deb        BUILD OUT         cpack -G DEB: contents and stripped library
#
# Environment: CC, CXX (the build's compilers), CMAKE (cmake), READELF (readelf).
set -euo pipefail

cc=${CC:-cc}
cxx=${CXX:-c++}
cmake=${CMAKE:-cmake}
readelf=${READELF:-readelf}

fail() {
    echo "packaging: $*" >&2
    exit 1
}

# The library file (not the symlinks) under a lib directory.
library_file() {
    local f
    f=$(find "$1" -maxdepth 2 -name 'libconnpool.so.*.*.*' -type f | head -n 1)
    [[ -n $f ]] || fail "no libconnpool.so.MAJOR.MINOR.PATCH under $1"
    printf '%s\n' "$f"
}

assert_stripped() {
    local sections
    sections=$("$readelf" -S --wide "$1")
    if grep -qE '\.debug_info|\.symtab' <<<"$sections"; then
        fail "$1 is not stripped (it has .debug_info or .symtab)"
    fi
    echo "packaging: $1 is stripped ($(stat -c %s "$1") bytes)"
}

# Runs a program built against the installed tree; it must print the answer and exit 0, and
# load libconnpool.so from the installed tree (not from the build tree).
run_quickstart() {
    local program=$1 dir=$2 conninfo=$3
    local loaded
    loaded=$(ldd "$program" | awk '/libconnpool\.so/ {print $3}')
    [[ $loaded == "$dir"/* ]] || fail "$program loads libconnpool from '$loaded', not from $dir"
    local out
    out=$("$program" "$conninfo") || fail "$program failed: $out"
    grep -q '42' <<<"$out" || fail "$program printed '$out', expected the answer 42"
    echo "packaging: $(basename "$program"): $out"
}

conninfo_of() {
    [[ -s $1 ]] || fail "no conninfo in $1 (is the postgres fixture running?)"
    head -n 1 "$1"
}

cmd=${1:-}
shift || true
case $cmd in
install)
    build=$1 dir=$2
    rm -rf "$dir" "$dir.staged"
    "$cmake" --install "$build" --prefix "$dir.staged" --strip >/dev/null
    for f in include/connpool/connpool.h include/connpool/connpool.hpp; do
        [[ -f $dir.staged/$f ]] || fail "$f is not installed"
    done
    pc=$(find "$dir.staged" -name connpool.pc) || true
    [[ -n $pc ]] || fail "connpool.pc is not installed"
    config=$(find "$dir.staged" -name connpoolConfig.cmake) || true
    [[ -n $config ]] || fail "connpoolConfig.cmake is not installed"
    [[ -f $(dirname "$config")/connpoolConfigVersion.cmake ]] || fail "no connpoolConfigVersion.cmake"
    ! grep -q "$build" "$pc" || fail "connpool.pc names the build directory"
    ! grep -q "$dir.staged" "$pc" || fail "connpool.pc names the install prefix: it cannot move"
    assert_stripped "$(library_file "$dir.staged")"
    # Moved after installing: everything must still be found relative to where it now is.
    mv "$dir.staged" "$dir"
    echo "packaging: installed into $dir.staged and moved to $dir"
    ;;
pkg-config)
    dir=$1 examples=$2 conninfo=$(conninfo_of "$3")
    pc=$(find "$dir" -name connpool.pc)
    export PKG_CONFIG_PATH=$(dirname "$pc")
    version=$(pkg-config --modversion connpool)
    header_version=$(sed -n 's/^#define CONNPOOL_VERSION_STRING "\(.*\)"/\1/p' \
        "$dir/include/connpool/connpool.h")
    [[ $version == "$header_version" ]] || fail "pkg-config says $version, the header $header_version"
    read -r -a flags <<<"$(pkg-config --cflags --libs connpool)"
    libdir=$(pkg-config --variable=libdir connpool)
    [[ $(cd "$libdir" && pwd -P) == "$(cd "$dir" && pwd -P)"/* ]] ||
        fail "pkg-config's libdir $libdir is not inside $dir"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$cc" -std=c99 -Wall -Wextra -Werror "$examples/quickstart.c" "${flags[@]}" \
        -Wl,-rpath,"$libdir" -o "$work/quickstart_c"
    "$cxx" -std=c++17 -Wall -Wextra -Werror "$examples/quickstart.cpp" "${flags[@]}" \
        -Wl,-rpath,"$libdir" -o "$work/quickstart_cpp"
    run_quickstart "$work/quickstart_c" "$dir" "$conninfo"
    run_quickstart "$work/quickstart_cpp" "$dir" "$conninfo"
    ;;
cmake)
    dir=$1 consumer=$2 examples=$3 conninfo=$(conninfo_of "$4")
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$cmake" -S "$consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$dir" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
        -DCONNPOOL_EXAMPLES_DIR="$examples" >"$work/configure.log" 2>&1 ||
        { cat "$work/configure.log"; fail "find_package(connpool CONFIG REQUIRED) failed"; }
    "$cmake" --build "$work/build" >"$work/build.log" 2>&1 ||
        { cat "$work/build.log"; fail "the consumer project did not build"; }
    run_quickstart "$work/build/quickstart_c" "$dir" "$conninfo"
    run_quickstart "$work/build/quickstart_cpp" "$dir" "$conninfo"
    # The version file refuses another major version.
    if "$cmake" -S "$consumer" -B "$work/wrong" -DCMAKE_PREFIX_PATH="$dir" \
        -DCONNPOOL_EXAMPLES_DIR="$examples" -DCONNPOOL_WANTED_VERSION=99.0 >/dev/null 2>&1; then
        fail "find_package(connpool 99.0) accepted version $(pkg-config --modversion connpool 2>/dev/null)"
    fi
    echo "packaging: find_package(connpool 99.0 CONFIG) is refused, as it should be"
    ;;
deb)
    build=$1 out=$2
    rm -rf "$out"
    mkdir -p "$out"
    (cd "$out" && cpack --config "$build/CPackConfig.cmake" -G DEB >cpack.log 2>&1) ||
        { cat "$out/cpack.log"; fail "cpack -G DEB failed"; }
    deb=$(find "$out" -maxdepth 1 -name '*.deb' | head -n 1)
    [[ -n $deb ]] || fail "cpack made no .deb"
    contents=$(dpkg-deb -c "$deb")
    for f in ./usr/include/connpool/connpool.h ./usr/include/connpool/connpool.hpp \
        /pkgconfig/connpool.pc /cmake/connpool/connpoolConfig.cmake /libconnpool.so.0; do
        grep -qF "$f" <<<"$contents" || fail "$(basename "$deb") lacks $f"
    done
    dpkg-deb -x "$deb" "$out/root"
    assert_stripped "$(library_file "$out/root/usr")"
    echo "packaging: $(basename "$deb"): $(dpkg-deb -f "$deb" Package Version Depends | tr '\n' ' ')"
    ;;
*)
    echo "usage: check_install.sh install|pkg-config|cmake|deb ARGS... (see the file's header)" >&2
    exit 2
    ;;
esac
