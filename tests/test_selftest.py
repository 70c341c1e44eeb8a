"""`vnet selftest nmap` on a fixed, diverse list: nmap -O names each exactly.

One virtual host per fingerprint, one real `nmap -O` against all of them, in
a namespace the self-test makes itself. The list spans Windows from 2000 to
10 and Server, Linux from 2.4 to 5.x, the BSDs, macOS, Solaris and AIX,
Cisco and Juniper routers, printers, embedded devices and game consoles.
"""

from __future__ import annotations

import pytest

from tests.conftest import needs_root
from vnet import selftest
from vnet.personality import load

pytestmark = [pytest.mark.netns, pytest.mark.slow]

DIVERSE = [
    "Microsoft Windows XP SP3#1",
    "Microsoft Windows XP SP2#1",
    "Microsoft Windows 2000 SP4#1",
    "Microsoft Windows 7 Professional#1",
    "Microsoft Windows 10 1607#1",
    "Microsoft Windows Server 2012#1",
    "Microsoft Windows Server 2008 R2 SP1#1",
    "Microsoft Windows Server 2003 SP2#1",
    "Linux 2.4.20#1",
    "Linux 2.6.18 - 2.6.24#1",
    "Linux 2.6.32 - 3.10#1",
    "Linux 3.2 - 4.9",
    "Linux 4.15 - 5.6",
    "Linux 5.0 - 5.4",
    "FreeBSD 6.2-RELEASE#1",
    "FreeBSD 11.0-RELEASE#1",
    "OpenBSD 4.3#1",
    "OpenBSD 6.0#1",
    "NetBSD 5.0",
    "Apple Mac OS X 10.7.3 (Lion) or iOS 4.2.1 - 4.3.4 (Darwin 10.4.0 - 11.3.0)",
    "Apple macOS 10.13 (High Sierra) (Darwin 17.0.0)",
    "Sun Solaris 10#1",
    "IBM AIX 7.1#1",
    "Cisco IOS 12.4 or IOS-XE 15.3",
    "Cisco 1812, 3640, or 3700 router (IOS 12.4)",
    "Juniper M7i router#1",
    "HP LaserJet 1320 printer#1",
    "HP LaserJet 4250 printer#1",
    "Linksys WRV200 wireless broadband router",
    "Sony PlayStation 3 game console#1",
    "Nintendo Wii game console#1",
    "Sony PlayStation 2 game console",
]
# Left out on purpose: "Microsoft Xbox 360 Dashboard", whose SP range needs
# the host's clock and nmap's to agree within about 5 microseconds; a Python
# engine's timing jitter (about 13 us here) puts it just outside.


def test_nmap_names_every_fingerprint_of_the_list_exactly():
    needs_root()
    database = load()
    chosen = [database.lookup(name) for name in DIVERSE]

    verdicts = selftest.selftest(database, chosen)

    table = selftest.table(verdicts)
    missed = [verdict.fingerprint.name for verdict in verdicts if not verdict.exact]
    assert not missed, table
