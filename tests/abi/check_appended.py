#!/usr/bin/env python3
"""Checks that structs only grew at the end between two abidw descriptions.

    check_appended.py BASELINE.abi CURRENT.abi STRUCT...

For each STRUCT, every member of the baseline must still be there in the current description
with the same name, offset and type, in the same order, and any new member must come after
them. Exits 1 and says what differs otherwise.

scripts/abi-check needs this next to abidiff: the suppression that lets abidiff accept members
appended to connpool_stats (abidiff.suppr) hides every other change to that struct in the same
diff too, e.g. a member retyped at the same offset.
"""
import sys
import xml.etree.ElementTree as ET


def load(path):
    root = ET.parse(path).getroot()
    by_id = {e.get("id"): e for e in root.iter() if e.get("id")}

    def describe(type_id, depth=0):
        e = by_id.get(type_id)
        if e is None or depth > 20:
            return "?"
        t = e.tag
        if t == "type-decl":
            return "%s(%s)" % (e.get("name"), e.get("size-in-bits"))
        if t == "typedef-decl":
            return "%s=%s" % (e.get("name"), describe(e.get("type-id"), depth + 1))
        if t == "pointer-type-def":
            return describe(e.get("type-id"), depth + 1) + "*"
        if t == "qualified-type-def":
            quals = "".join(q + " " for q in ("const", "volatile") if e.get(q) == "yes")
            return quals + describe(e.get("type-id"), depth + 1)
        if t == "array-type-def":
            return "%s[%s]" % (describe(e.get("type-id"), depth + 1), e.get("size-in-bits"))
        return "%s %s" % (t, e.get("name"))

    structs = {}
    for e in root.iter("class-decl"):
        if e.get("is-declaration-only") == "yes" or e.get("name") in structs:
            continue
        members = []
        for dm in e.findall("data-member"):
            v = dm.find("var-decl")
            members.append((int(dm.get("layout-offset-in-bits")), v.get("name"),
                            describe(v.get("type-id"))))
        structs[e.get("name")] = (int(e.get("size-in-bits", "0")), members)
    return structs


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    old, new = load(argv[1]), load(argv[2])
    problems = []
    for name in argv[3:]:
        if name not in old:
            problems.append("%s: not in the baseline %s" % (name, argv[1]))
            continue
        if name not in new:
            problems.append("%s: no longer defined in the public header" % name)
            continue
        old_size, old_members = old[name]
        new_size, new_members = new[name]
        for i, (offset, member, type_) in enumerate(old_members):
            if i >= len(new_members):
                problems.append("%s.%s (offset %d bits, %s) was removed"
                                % (name, member, offset, type_))
            elif new_members[i] != (offset, member, type_):
                now_offset, now_member, now_type = new_members[i]
                problems.append("%s: member %d was %s at offset %d bits (%s), is now %s at offset "
                                "%d bits (%s)" % (name, i, member, offset, type_, now_member,
                                                  now_offset, now_type))
        for offset, member, type_ in new_members[len(old_members):]:
            if offset < old_size:
                problems.append("%s.%s (new) is at offset %d bits, inside the baseline's %d bits"
                                % (name, member, offset, old_size))
        if new_size < old_size:
            problems.append("%s shrank from %d to %d bits" % (name, old_size, new_size))
    for p in problems:
        print("check_appended: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
