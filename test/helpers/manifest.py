#!/usr/bin/env python3
"""Canonical JSON manifest of a directory tree, independent of Cairn.

Tests compare a source tree with its restored copy through this tool, so it shares no
code with Cairn: python3 standard library only, bytes paths throughout (names that are
not UTF-8 survive), lstat (symlinks are described, never followed).

Per entry, relative to the root ("" is the root itself), sorted by raw path bytes:
  path        hex of the raw relative path;  text: the same, readable (escaped)
  type        file dir symlink chardev blockdev fifo socket
  mode        st_mode & 0o7777 (octal string)
  uid, gid
  mtime_ns    (not for the root with --ignore-root-times)
  atime_ns    only with --atime: reading a tree changes atimes, so never by default
  size        regular files only (directory sizes depend on the file system's history)
  sha256      regular files
  sparse      regular files: st_blocks*512 < size (holes were kept)
  blocks      regular files, only with --blocks (allocation varies between file systems)
  target      symlinks: hex of the raw link text
  rdev        devices: "major,minor"
  xattrs      {name: hex value}, unless --no-xattrs
Plus "hardlinks": groups of relative paths sharing one inode (groups, not inode numbers,
so that a restored copy compares equal).

usage: manifest.py [--no-atime | --atime] [--ignore-root-times] [--blocks] [--no-xattrs] DIR
"""

import argparse
import hashlib
import json
import os
import stat
import sys

TYPES = [
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "dir"),
    (stat.S_ISLNK, "symlink"),
    (stat.S_ISCHR, "chardev"),
    (stat.S_ISBLK, "blockdev"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
]


def type_of(mode):
    for test, name in TYPES:
        if test(mode):
            return name
    return "unknown"


def sha256_of(path):
    h = hashlib.sha256()
    # O_NOFOLLOW: the entry was lstat'ed as a regular file; never read through a symlink.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        while True:
            block = os.read(fd, 1 << 20)
            if not block:
                break
            h.update(block)
    finally:
        os.close(fd)
    return h.hexdigest()


def xattrs_of(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in sorted(names):
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False).hex()
        except OSError:
            pass
    return out


def describe(root, rel, args):
    full = os.path.join(root, rel) if rel else root
    st = os.lstat(full)
    kind = type_of(st.st_mode)
    entry = {
        "path": rel.hex(),
        "text": rel.decode("utf-8", "backslashreplace"),
        "type": kind,
        "mode": oct(stat.S_IMODE(st.st_mode)),
        "uid": st.st_uid,
        "gid": st.st_gid,
    }
    if not (rel == b"" and args.ignore_root_times):
        entry["mtime_ns"] = str(st.st_mtime_ns)
        if args.atime:
            entry["atime_ns"] = str(st.st_atime_ns)
    if kind == "file":
        entry["size"] = st.st_size
        entry["sha256"] = sha256_of(full)
        entry["sparse"] = st.st_blocks * 512 < st.st_size
        if args.blocks:
            entry["blocks"] = st.st_blocks
    elif kind == "symlink":
        entry["target"] = os.readlink(full).hex()
    elif kind in ("chardev", "blockdev"):
        entry["rdev"] = "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    if not args.no_xattrs:
        entry["xattrs"] = xattrs_of(full)
    return entry, st


def walk(root, args):
    entries = []
    inodes = {}

    def visit(rel):
        entry, st = describe(root, rel, args)
        entries.append(entry)
        if entry["type"] != "dir" and st.st_nlink > 1:
            inodes.setdefault((st.st_dev, st.st_ino), []).append(rel.hex())
        if entry["type"] == "dir":
            full = os.path.join(root, rel) if rel else root
            for name in sorted(os.listdir(full)):
                visit(os.path.join(rel, name) if rel else name)

    visit(b"")
    entries.sort(key=lambda e: bytes.fromhex(e["path"]))
    groups = sorted(sorted(g) for g in inodes.values() if len(g) > 1)
    return {"entries": entries, "hardlinks": groups}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--no-atime", dest="atime", action="store_false", help="default")
    parser.add_argument("--atime", dest="atime", action="store_true")
    parser.add_argument("--ignore-root-times", action="store_true")
    parser.add_argument("--blocks", action="store_true")
    parser.add_argument("--no-xattrs", action="store_true")
    parser.set_defaults(atime=False)
    args = parser.parse_args()
    root = os.fsencode(args.dir)
    json.dump(walk(root, args), sys.stdout, indent=1, sort_keys=True, ensure_ascii=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
