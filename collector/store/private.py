"""The data folder is private to the service user: folders 0700, files 0600.

Faces, the store and the broker's credentials live there. New files follow the process umask
(``serve`` sets 0077, the systemd unit says ``UMask=0077``); ``make_private`` fixes a store made
before, or by a command run with a looser umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def make_private(root: Path) -> int:
    """Take group and other rights off ``root`` and everything under it; returns how many
    entries were changed. Symbolic links are not followed."""
    changed = 0
    if not root.is_dir():
        return 0
    for folder, dirs, files in os.walk(root):
        for path in [Path(folder), *(Path(folder) / n for n in files)]:
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue  # removed meanwhile (a temporary file)
            if stat.S_ISLNK(st.st_mode) or not st.st_mode & PRIVATE_UMASK:
                continue
            path.chmod(stat.S_IMODE(st.st_mode) & ~PRIVATE_UMASK)
            changed += 1
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]
    return changed
