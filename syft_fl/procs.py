"""Processes below a pid, from Linux's /proc: to measure a run's whole process tree (BS, Ray actors, UE servers)
and to check that nothing is left behind after a shutdown."""
import os
from typing import Dict, List


def descendants(pid: int) -> List[int]:
    """Pids of every process below ``pid`` (from /proc's parent links; empty where /proc is missing)."""
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (no such process, or a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
