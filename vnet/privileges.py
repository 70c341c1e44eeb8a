"""Dropping root once every privileged resource is open.

vnet needs root for two things only: opening the TAP device or packet socket,
and configuring the kernel side. Both happen before this is called, as does
opening every file it writes (events, pcap), so the process can then run as
an unprivileged user with no capabilities left.
"""

from __future__ import annotations

import logging
import os
import pwd
import stat

log = logging.getLogger(__name__)


class PrivilegeError(Exception):
    """The configured user does not exist, or the switch failed."""


def user_ids(user: str) -> tuple[int, int] | None:
    """(uid, gid) of the user vnet will run as; None if it stays as it is."""
    if os.geteuid() != 0 or not user or user == "root":
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError as error:
        raise PrivilegeError(f"no such user {user!r}") from error
    return entry.pw_uid, entry.pw_gid


def hand_over(state_dir: str, user: str) -> None:
    """Give `user` the state directory, so services can write there later.

    Services create their files (secrets, Maildirs) while vnet is still
    root; mail that arrives after the drop is written as `user`.
    """
    ids = user_ids(user)
    if ids is None:
        return
    blocked = unreachable_parent(state_dir)
    if blocked is not None:
        raise PrivilegeError(
            f"--state-dir {state_dir}: {user} could not reach it after the drop,"
            f" as {blocked} lets only its owner in; choose a directory {user}"
            " can traverse"
        )
    for folder, _, files in os.walk(state_dir):
        os.chown(folder, *ids)
        for name in files:
            os.chown(os.path.join(folder, name), *ids)


def unreachable_parent(path: str) -> str | None:
    """The first folder above `path` that other users may not traverse."""
    folder = os.path.dirname(os.path.abspath(path))
    while True:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def drop_privileges(user: str) -> None:
    """Become `user` for good: groups, gid, then uid. No-op if not root."""
    if os.geteuid() != 0 or not user or user == "root":
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError as error:
        raise PrivilegeError(f"no such user {user!r}") from error
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    if os.geteuid() == 0:
        raise PrivilegeError("still root after setuid")
    log.info("dropped privileges to %s (uid %d)", user, entry.pw_uid)
