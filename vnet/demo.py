"""`make demo`: the default HoneySpam topology, toured as a spammer would.

It starts `topologies/honeyspam.yaml` inside a network namespace of its own
and plays a spam campaign against it with real tools, printing each step:

1. reconnaissance: a ping sweep, an nmap port scan with OS detection of the
   DMZ, and a traceroute;
2. harvesting: wget crawls the web maze (ignoring robots.txt, as harvesters
   do) and a regular expression collects the trap addresses on the pages;
3. spamming: swaks sends to harvested addresses through an open proxy
   (proxychains4 over SOCKS5, then HTTP CONNECT) to an open relay, after
   the spammer's probe to his own mailbox, and straight to a destination
   mail server;
4. the reckoning: vnet stops, and the trace report joins each spam to the
   harvest that produced its address.

It always stops vnet and deletes the namespace, whatever happens.
"""

from __future__ import annotations

import collections
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from vnet.netns import Namespace, VnetProcess

TOPOLOGY = Path("topologies/honeyspam.yaml")
# The demo keeps its records where `vnet run` keeps them by default, so that
# `vnet trace address` and `vnet report` find them with no arguments.
WORKDIR = Path("var")
DMZ = "198.51.100.10-31"
PORTS = "22,25,80,1080,3128,8080"
WEB = "198.51.100.10"
WEB_NAME = "www.example.test"
PROXY = "198.51.100.20"
RELAY = "198.51.100.25"
SINK = "198.51.100.30"
SPAMMER = "spammer@spammer.example"
ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.test\b")
TOOLS = ("nmap", "ping", "ip", "wget", "swaks", "traceroute", "proxychains4")

PROXYCHAINS = """\
strict_chain
tcp_read_time_out 15000
tcp_connect_time_out 8000
[ProxyList]
{entry}
"""


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def show(output: str, pattern: str | None = None, limit: int = 40) -> None:
    lines = [
        line
        for line in output.splitlines()
        if pattern is None or re.search(pattern, line)
    ]
    for line in lines[:limit]:
        print(f"    {line}")
    if len(lines) > limit:
        print(f"    ... {len(lines) - limit} more lines")


def reconnaissance(namespace: Namespace) -> None:
    step("ping sweep of the DMZ (nmap -sn)")
    result = namespace.run("nmap", "-n", "-sn", DMZ, timeout=120)
    show(result.stdout, r"Nmap done")

    step(f"port scan and OS detection of the DMZ (nmap -O -p {PORTS})")
    result = namespace.run(
        "nmap", "-n", "-Pn", "-O", "-p", PORTS,
        "198.51.100.10,20,25,30", timeout=600,
    )  # fmt: skip
    show(
        result.stdout,
        r"Nmap scan report|/tcp +open|OS details|Running|No exact|Nmap done",
    )

    step(f"name lookups: {WEB_NAME} and the MX of the trap domains")
    for name, kind in (
        (WEB_NAME, "a"),
        ("example.test", "mx"),
        ("mail.example.test", "mx"),
    ):
        result = namespace.run("host", "-t", kind, name, timeout=30, check=False)
        show(result.stdout)

    step(f"traceroute to the web server ({WEB})")
    result = namespace.run("traceroute", "-n", "-q", "1", WEB, timeout=60)
    show(result.stdout)


def harvest(namespace: Namespace, workdir: Path) -> list[str]:
    step(f"harvesting the web maze from http://{WEB_NAME}/ (wget -r -H -e robots=off)")
    pages = workdir / "crawl"
    namespace.run(
        "wget", "-r", "-l", "2", "-H", "-D", "example.test", "-e", "robots=off",
        "-q", "-P", str(pages), "--timeout", "10", "--tries", "1",
        f"http://{WEB_NAME}/", timeout=600, check=False,
    )  # fmt: skip
    files = [path for path in pages.rglob("*") if path.is_file()]
    found: dict[str, None] = {}
    for path in files:
        for address in ADDRESS.findall(path.read_text(errors="replace")):
            found.setdefault(address.lower())
    hosts = sorted({path.relative_to(pages).parts[0] for path in files})
    print(f"    {len(files)} pages fetched from {', '.join(hosts)}")
    print(f"    {len(found)} addresses harvested")
    for address in list(found)[:5]:
        print(f"    {address}")
    return list(found)


def swaks(namespace: Namespace, *arguments: str, via: Path | None = None) -> bool:
    command = ["swaks", "--from", SPAMMER, "--helo", "bulk.spammer.example",
               "--timeout", "15", *arguments]  # fmt: skip
    if via is not None:
        command = ["proxychains4", "-q", "-f", str(via), *command]
    result = namespace.run(*command, timeout=120, check=False)
    accepted = " 250 " in result.stdout and result.returncode == 0
    print(f"    {'accepted' if accepted else 'refused'}: swaks {' '.join(arguments)}")
    return accepted


def spam(namespace: Namespace, workdir: Path, addresses: list[str]) -> None:
    if not addresses:
        print("    no addresses harvested; nothing to spam")
        return
    socks = workdir / "proxychains-socks5.conf"
    socks.write_text(PROXYCHAINS.format(entry=f"socks5 {PROXY} 1080"))
    http = workdir / "proxychains-http.conf"
    http.write_text(PROXYCHAINS.format(entry=f"http {PROXY} 3128"))

    step(f"the spammer's probe through the SOCKS proxy {PROXY} to relay {RELAY}")
    swaks(namespace, "--server", RELAY, "--to", SPAMMER,
          "--header", "Subject: relay test", via=socks)  # fmt: skip

    step("spam to harvested addresses through the proxies and the relay")
    for address, via in zip(addresses[:3], (socks, http, socks), strict=False):
        swaks(namespace, "--server", RELAY, "--to", address,
              "--header", "Subject: Cheap watches", via=via)  # fmt: skip

    step("spam straight to the trap domains' mail exchangers (found by MX lookup)")
    for address in addresses[3:5] or addresses[:1]:
        swaks(namespace, "--to", address, "--header", "Subject: You have won")


def report(workdir: Path) -> None:
    """The trace report, as `vnet report` prints it, and its HTML page."""
    from vnet.report import build_report, render_html, render_text
    from vnet.report.commands import maze_decoder, open_source

    step("the trace report (vnet report)")
    database, name = open_source(None, str(workdir))
    built = build_report(database, maze_decoder(None, str(workdir)), store=name)
    print(render_text(built))
    page = workdir / "report.html"
    page.write_text(render_html(built), encoding="utf-8")
    print(f"\n    HTML report: {page}")


def summarise(process: VnetProcess) -> None:
    step("what vnet recorded")
    counts = collections.Counter(event["event"] for event in process.events())
    for event_id, count in sorted(counts.items()):
        print(f"    {event_id:28} {count}")
    stopped = process.events("vnet.stopped")
    if stopped:
        summary = stopped[-1]
        print(
            f"    frames in {summary['frames_in']}, out {summary['frames_out']}, "
            f"malformed {summary['malformed']}, hosts {summary['hosts_contacted']}"
        )
    print(f"\n    events: {process.events_path}")


def main() -> int:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        print(f"demo: missing {', '.join(missing)}; run `make demo`", file=sys.stderr)
        return 1
    started = time.monotonic()
    workdir = WORKDIR.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="vnet-demo-"))
    step(f"starting {TOPOLOGY} in a network namespace")
    namespace = Namespace.create("vnet-demo")
    process = VnetProcess(
        namespace,
        TOPOLOGY.resolve(),
        workdir,
        arguments=("--resolver",),
        state_dir=workdir,
    )
    status = 1
    try:
        print(f"    {process.wait_ready().strip()}")
        reconnaissance(namespace)
        addresses = harvest(namespace, scratch)
        spam(namespace, scratch, addresses)
        step("stopping vnet (SIGTERM)")
        status = process.stop()
        print(f"    exit status {status}")
        summarise(process)
        report(workdir)
    finally:
        process.kill()
        namespace.delete()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
