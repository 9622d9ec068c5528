"""Finding a Spark lease's processes by their marker, independently of the adapter."""

from pathlib import Path


def marked_processes(lease_id):
    """(pid, argv) of every process carrying the lease's marker, found independently of it."""
    arg = f"-Dwcidt.lease={lease_id}".encode()
    env = f"WCIDT_LEASE={lease_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if arg in argv or env in environ:
            found.append((int(entry.name), [a.decode() for a in argv if a]))
    return found
