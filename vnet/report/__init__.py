"""The report that links each spam to the harvest behind it (`vnet report`).

Built from the event store (vnet/events/store.py):

- `trace`: each trap address that received mail, the visit that harvested
  it, and every message sent to it with the proxy and relay hops;
- `actors`: the harvesters, and the sources of spam;
- `totals`: per-service counts over time;
- `roles`: which addresses earned which place on a blocklist (for the
  exports and the DNSBL service);
- `model` gathers them into one `Report`; `text`, `html` and
  `model.to_json` render it.
"""

from vnet.report.html import render_html
from vnet.report.model import Report, build_report, to_json
from vnet.report.text import render_text

__all__ = ["Report", "build_report", "render_html", "render_text", "to_json"]
