# Warnings and sanitizers, applied per target by connpool_target_options().
#
# Every target: -Wall -Wextra, errors under CONNPOOL_WERROR (default ON).
#
# CONNPOOL_DEV_WARNINGS (ON in the dev, asan-ubsan and tsan presets of CMakePresets.json): the
# library's own code (src/ and capi/: the targets of the top-level CMakeLists.txt) is also built
# with CONNPOOL_DEV_WARNING_FLAGS. The code passes all of them, so under CONNPOOL_WERROR they are
# errors: a new shadowed name, implicit narrowing or C-style cast fails the developer build.
# Tests, examples and benchmarks keep -Wall -Wextra (tests/unit does not pass -Wshadow and
# -Wsign-conversion yet).
#
# CONNPOOL_PENDING_WARNINGS (OFF by default, in no preset): adds CONNPOOL_PENDING_WARNING_FLAGS,
# flags the library does not pass yet, as warnings only (-Wno-error=...), to see what is left.
# When a flag's warnings are fixed, move it to CONNPOOL_DEV_WARNING_FLAGS.
option(CONNPOOL_DEV_WARNINGS "Build src/ and capi/ with the stricter developer warnings" OFF)
option(CONNPOOL_PENDING_WARNINGS
       "Also show the warnings the code does not pass yet (never errors)" OFF)

set(CONNPOOL_DEV_WARNING_FLAGS
    -Wshadow                # a local hides a member, parameter or outer local
    -Wconversion            # implicit narrowing (int64_t to int, double to int...)
    -Wsign-conversion       # implicit signed/unsigned conversions
    -Wcast-qual             # a cast drops const or volatile
    -Wcast-align            # a cast raises the required alignment
    -Wformat=2              # printf-style formats: non-literal and security checks
    -Wundef                 # #if on an undefined macro
    -Wdouble-promotion      # float silently promoted to double
    -Wvla                   # variable-length arrays (stack of unbounded size)
    -Wpedantic              # extensions outside ISO C++20
    -Wmissing-declarations  # a non-static free function without a prior declaration: make it
                            # file-local (anonymous namespace) or declare it in its header
    -Wredundant-decls       # the same declaration twice in one scope
    # C++ only
    $<$<COMPILE_LANGUAGE:CXX>:-Wold-style-cast>       # (T)x: use a named cast
    $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor>     # polymorphic class, non-virtual destructor
    $<$<COMPILE_LANGUAGE:CXX>:-Woverloaded-virtual>   # an overload hides a base class virtual
    $<$<COMPILE_LANGUAGE:CXX>:-Wsuggest-override>     # an overrider without `override`
    $<$<COMPILE_LANGUAGE:CXX>:-Wextra-semi>           # stray ';' after member functions
    $<$<COMPILE_LANGUAGE:CXX>:-Wzero-as-null-pointer-constant>  # 0 or NULL for a pointer
    # GCC only (clang would stop at an unknown warning option under -Werror)
    $<$<CXX_COMPILER_ID:GNU>:-Wduplicated-cond>       # if (a) ... else if (a)
    $<$<CXX_COMPILER_ID:GNU>:-Wduplicated-branches>   # if/else with identical branches
    $<$<CXX_COMPILER_ID:GNU>:-Wlogical-op>            # suspicious && / || (a == 1 || a == 1)
)

# Not passed yet. Each line: the flag, then where it warns today (GCC 12, src/ and capi/).
set(CONNPOOL_PENDING_WARNING_FLAGS
    # A switch over an enum with a default: label but not every enumerator listed: 3 switches,
    # 10 enumerators (src/pg/query.cpp: ExecStatusType, Expect; src/pg/connector.cpp:
    # PGTransactionStatusType). List them.
    -Wswitch-enum
    # Casts that are no-ops on LP64 Linux (capi/handles.hpp: uint64_t <-> uintptr_t;
    # capi/result.cpp: Oid -> uint32_t). They are deliberate for other ABIs, so enable this only
    # with a cast helper that the compiler does not flag.
    $<$<CXX_COMPILER_ID:GNU>:-Wuseless-cast>
)
# Measured and left out on purpose: -Wsuggest-final-types / -Wsuggest-final-methods
# (optimisation hints, not defects), -Wnull-dereference and -Wstrict-overflow (depend on the
# optimiser: false positives come and go with the build type and compiler version),
# -Wswitch-default (a default: label would hide a missing enumerator from -Wswitch).

function(connpool_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra $<$<BOOL:${CONNPOOL_WERROR}>:-Werror>)
  # The library's targets are those of the top-level CMakeLists.txt, one directory above this file.
  get_target_property(_source_dir ${target} SOURCE_DIR)
  get_filename_component(_top_dir "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/.." ABSOLUTE)
  if(_source_dir STREQUAL _top_dir)
    if(CONNPOOL_DEV_WARNINGS)
      target_compile_options(${target} PRIVATE ${CONNPOOL_DEV_WARNING_FLAGS})
    endif()
    if(CONNPOOL_PENDING_WARNINGS)
      foreach(_flag IN LISTS CONNPOOL_PENDING_WARNING_FLAGS)
        # -Wswitch-enum -> -Wno-error=switch-enum (inside a generator expression too).
        string(REGEX REPLACE "-W([a-z-]+)" "-W\\1;-Wno-error=\\1" _pair "${_flag}")
        target_compile_options(${target} PRIVATE "${_pair}")  # quoted: a genex keeps its ';'
      endforeach()
    endif()
  endif()
  if(CONNPOOL_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${CONNPOOL_SANITIZE} -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${CONNPOOL_SANITIZE})
  endif()
endfunction()
