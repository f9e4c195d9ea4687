#!/usr/bin/python3
"""Checks that every C and C++ snippet in README.md is compiled and run: the text of each ```c or
```cpp block must be exactly a marked excerpt of the example program its note names.

    check_readme_snippets.py [README.md] [examples/] [NAME ...]   (NAME: the programs CMake builds,
                                                                  as NAME for NAME.c, NAME.cpp)

In README.md, each ```c block is preceded (after the previous heading or block) by the note
"(compiled and run by CTest as examples/NAME.c)" (or NAME.cpp). In the file the excerpt sits between a
line `/* README:begin */` and a line `/* README:end */`; it is compared with the block after
removing the indentation common to its lines (an excerpt from inside a function is indented
there, not in the README). Every excerpt must be shown by some block, and every file named by a
note must be built by examples/CMakeLists.txt, which also runs it under CTest.

Exit status 0 when everything matches; 1 with one message per problem (and a diff) otherwise.
Standard library only (run with /usr/bin/python3); CTest runs it as examples.readme_snippets.
"""

from __future__ import annotations

import difflib
import pathlib
import re
import sys
import textwrap

NOTE = re.compile(r"\(compiled and run by CTest as (examples/[A-Za-z0-9_]+\.(?:c|cpp))\)")
BEGIN = re.compile(r"^\s*/\* README:begin \*/\s*$")
END = re.compile(r"^\s*/\* README:end \*/\s*$")


def readme_blocks(readme: pathlib.Path) -> list[tuple[int, str | None, str]]:
    """(line number, file named by the note before it or None, text) of each ```c block."""
    blocks = []
    lines = readme.read_text(encoding="utf-8").splitlines()
    context: list[str] = []  # prose since the previous heading or fence
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            lang = line[3:].strip()
            start = i + 1
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                i += 1
            if lang in ("c", "cpp"):
                notes = NOTE.findall("\n".join(context))
                blocks.append((start, notes[-1] if notes else None, "\n".join(lines[start:i])))
            context = []
        elif line.startswith("#"):
            context = []
        else:
            context.append(line)
        i += 1
    return blocks


def excerpts(source: pathlib.Path, problems: list[str]) -> list[str]:
    """The dedented excerpts between README:begin and README:end markers of one file."""
    found = []
    current: list[str] | None = None
    begin_line = 0
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        if BEGIN.match(line):
            if current is not None:
                problems.append(f"{source}:{number}: README:begin inside the excerpt begun at line {begin_line}")
            current, begin_line = [], number
        elif END.match(line):
            if current is None:
                problems.append(f"{source}:{number}: README:end without README:begin")
            else:
                found.append(textwrap.dedent("\n".join(current)).strip("\n"))
            current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        problems.append(f"{source}:{begin_line}: README:begin without README:end")
    return found


def main() -> int:
    here = pathlib.Path(__file__).resolve().parent
    readme = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else here.parent / "README.md"
    examples_dir = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else here
    # The programs CMake builds and runs (its CONNPOOL_EXAMPLES list, passed by the test).
    built = set(sys.argv[3:])
    problems: list[str] = []

    sources = sorted([*examples_dir.glob("*.c"), *examples_dir.glob("*.cpp")])
    by_file = {f"examples/{p.name}": excerpts(p, problems) for p in sources}
    shown = {(name, k): False for name, texts in by_file.items() for k in range(len(texts))}

    blocks = readme_blocks(readme)
    if not blocks:
        problems.append(f"{readme}: no ```c block found (is this the right README?)")
    for line, name, text in blocks:
        where = f"{readme}:{line}"
        if name is None:
            problems.append(f"{where}: ```c block without a note \"(compiled and run by CTest as "
                            "examples/NAME.c)\" after the previous heading or block")
            continue
        if name not in by_file:
            problems.append(f"{where}: the note names {name}, which does not exist")
            continue
        if pathlib.PurePath(name).stem not in built and pathlib.PurePath(name).name not in built:
            problems.append(f"{where}: {name} is not built and run by examples/CMakeLists.txt")
        text = text.strip("\n")
        candidates = by_file[name]
        if not candidates:
            problems.append(f"{where}: {name} has no README:begin/README:end excerpt")
            continue
        matches = [k for k, excerpt in enumerate(candidates) if excerpt == text]
        if matches:
            shown[(name, matches[0])] = True
            continue
        closest = max(candidates, key=lambda e: difflib.SequenceMatcher(None, e, text).ratio())
        diff = difflib.unified_diff(closest.splitlines(), text.splitlines(),
                                    f"{name} (excerpt)", f"{readme.name} line {line}", lineterm="")
        problems.append(f"{where}: the block differs from every excerpt of {name}:\n" + "\n".join(diff))
    for (name, k), seen in shown.items():
        if not seen:
            problems.append(f"{name}: excerpt {k + 1} (README:begin ... README:end) is shown by no "
                            "```c block of README.md")

    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"{len(blocks)} C block(s) of {readme.name} match their examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
