"""Where this process's cgroup controllers live: ``/proc/self/cgroup`` + ``/proc/self/mountinfo``.

Three layouts exist in the wild and all are handled the same way:

* unified (v2 only): one line ``0::/path`` and one ``cgroup2`` mount;
* v1: one line per hierarchy (``4:memory:/path``, ``1:cpu,cpuacct:/path``), one ``cgroup``
  mount per hierarchy whose super options name its controllers;
* hybrid: v1 controllers plus a ``cgroup2`` mount (systemd's ``/sys/fs/cgroup/unified``) that
  holds no resource controller but does give per-cgroup pressure files.

A container usually sees its cgroup mounted with a *mount root*: ``/proc/self/cgroup`` says
``/kubepods/pod1/c1`` and the mount at ``/sys/fs/cgroup/memory`` has root ``/kubepods/pod1/c1``.
The directory is the mount point plus the path relative to that root (as runc, cAdvisor and the
JDK resolve it). A path outside the mount root (a cgroup namespace boundary) is not readable and
gives no directory.

Every function takes the file contents and an ``fs_root`` so tests can parse copies of real
kernel files captured on another machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

PROC_SELF_CGROUP = "proc/self/cgroup"
PROC_SELF_MOUNTINFO = "proc/self/mountinfo"


@dataclass(frozen=True)
class Mount:
    """One cgroup line of mountinfo: mount ``root`` in its hierarchy, where it is mounted."""

    root: str
    mount_point: str
    fstype: str
    super_options: frozenset[str]


@dataclass(frozen=True)
class Controller:
    """A controller's cgroup directory for this process, and how to describe it."""

    version: int
    directory: Path
    mount_point: Path
    cgroup_path: str

    def describe(self) -> str:
        return f"cgroup v{self.version} {self.cgroup_path} ({self.directory})"


@dataclass(frozen=True)
class CgroupLayout:
    """The directories this process's memory and cpu controllers and pressure files are in."""

    layout: str  # "v2", "v1", "hybrid" or "none"
    memory: Controller | None
    cpu: Controller | None
    unified: Controller | None


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """Controller name -> cgroup path; the v2 line is under the key ``""``."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            paths[""] = path
            continue
        for name in controllers.split(","):
            paths[name.removeprefix("name=")] = path
    return paths


def parse_mountinfo(text: str) -> list[Mount]:
    """The visible ``cgroup`` and ``cgroup2`` mounts (proc(5): fields, ``-``, fstype, source,
    options). A later mount on the same mount point hides the earlier one (a container's bind
    mount of its own cgroup over the host's), so only the last per mount point is kept."""
    mounts: dict[str, Mount] = {}
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        if dash < 5 or len(fields) < dash + 4:
            continue
        fstype = fields[dash + 1]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        mount_point = _unescape(fields[4])
        mounts.pop(mount_point, None)
        mounts[mount_point] = Mount(
            root=_unescape(fields[3]),
            mount_point=mount_point,
            fstype=fstype,
            super_options=frozenset(fields[dash + 3].split(",")),
        )
    return list(mounts.values())


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _directory(mount: Mount, cgroup_path: str, fs_root: Path) -> Path | None:
    root = PurePosixPath(mount.root)
    path = PurePosixPath(cgroup_path)
    if root != PurePosixPath("/"):
        if path != root and root not in path.parents:
            return None
        path = PurePosixPath("/") / path.relative_to(root)
    return fs_root / mount.mount_point.lstrip("/") / str(path).lstrip("/")


def _controller(
    mounts: list[Mount], paths: dict[str, str], name: str, fs_root: Path
) -> Controller | None:
    for mount in mounts:
        if mount.fstype == "cgroup" and name in mount.super_options and name in paths:
            directory = _directory(mount, paths[name], fs_root)
            if directory is not None:
                mount_point = fs_root / mount.mount_point.lstrip("/")
                return Controller(1, directory, mount_point, paths[name])
    return None


def _unified(mounts: list[Mount], paths: dict[str, str], fs_root: Path) -> Controller | None:
    if "" not in paths:
        return None
    for mount in mounts:
        if mount.fstype == "cgroup2":
            directory = _directory(mount, paths[""], fs_root)
            if directory is not None:
                mount_point = fs_root / mount.mount_point.lstrip("/")
                return Controller(2, directory, mount_point, paths[""])
    return None


def _v2_controllers(mount_point: Path) -> set[str]:
    try:
        return set((mount_point / "cgroup.controllers").read_text().split())
    except OSError:
        return set()


def locate(proc_cgroup: str, mountinfo: str, fs_root: Path = Path("/")) -> CgroupLayout:
    """Resolve the memory and cpu controllers and the v2 directory of this process's cgroup.

    A controller is taken from v1 when a v1 hierarchy carries it, else from v2 when the v2
    mount offers it (``cgroup.controllers`` at the mount point: on a hybrid host that file is
    empty, so v2 there gives only pressure files). Limits of a cgroup's ancestors are read by
    :mod:`orch_assets.executor.container`, so a leaf without the controller enabled is fine.
    """
    paths = parse_proc_cgroup(proc_cgroup)
    mounts = parse_mountinfo(mountinfo)
    unified = _unified(mounts, paths, fs_root)
    memory = _controller(mounts, paths, "memory", fs_root)
    cpu = _controller(mounts, paths, "cpu", fs_root)
    has_v1 = any(m.fstype == "cgroup" for m in mounts)
    if unified is not None and (memory is None or cpu is None):
        offered = _v2_controllers(unified.mount_point)
        if memory is None and "memory" in offered:
            memory = unified
        if cpu is None and "cpu" in offered:
            cpu = unified
    if has_v1 and unified is not None:
        layout = "hybrid"
    elif has_v1:
        layout = "v1"
    elif unified is not None:
        layout = "v2"
    else:
        layout = "none"
    return CgroupLayout(layout=layout, memory=memory, cpu=cpu, unified=unified)


def locate_self(fs_root: Path = Path("/")) -> CgroupLayout:
    """:func:`locate` for the calling process (raises ``OSError`` without ``/proc``)."""
    return locate(
        (fs_root / PROC_SELF_CGROUP).read_text(),
        (fs_root / PROC_SELF_MOUNTINFO).read_text(),
        fs_root,
    )
