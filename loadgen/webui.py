"""A µs latency tab in Locust's web UI.

Locust's own tables round latency to whole milliseconds, so at Redis speeds the median reads 0. This adds
a tab, "Latency, microseconds", fed by the merged HdrHistograms (:class:`loadgen.histograms.RunningTotals`): per
op the requests, errors and p50/p90/p99/p99.9/max in µs since the test started. It uses Locust's
extension points for its web UI: ``extended_tabs``/``extended_tables`` in the template arguments and an
``extended_stats`` entry added to the ``/stats/requests`` answer the page polls.
"""

from __future__ import annotations

import json
from typing import Any

TAB_KEY = "rcap-latency-us"
COLUMNS = (("name", "Operation"), ("count", "Requests"), ("errors", "Errors"), ("p50_us", "p50 (µs)"),
           ("p90_us", "p90 (µs)"), ("p99_us", "p99 (µs)"), ("p999_us", "p99.9 (µs)"), ("max_us", "max (µs)"))


def add_latency_tab(web_ui: Any, totals: Any) -> None:
    """Register the tab on ``web_ui`` (Locust's ``WebUI``); ``totals.rows()`` gives its rows."""
    from flask import request  # noqa: PLC0415  (Locust's web UI is a Flask app)

    web_ui.template_args["extended_tabs"] = [{"title": "Latency, microseconds", "key": TAB_KEY}]  # the tab bar upper-cases µ to M
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_KEY, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}]

    @web_ui.app.after_request
    def _with_latency_us(response: Any) -> Any:
        if request.path != "/stats/requests" or not response.is_json:
            return response
        data = response.get_json()
        data["extended_stats"] = [{"key": TAB_KEY, "data": totals.rows()}]
        response.set_data(json.dumps(data))
        return response


__all__ = ["COLUMNS", "TAB_KEY", "add_latency_tab"]
