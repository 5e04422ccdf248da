"""Operating the gateway: health, circuit breakers, metrics, logs, reloads and workers.

One module per concern:

* :mod:`.circuit`: the per-upstream circuit breaker;
* :mod:`.monitor`: per-upstream call outcomes, latencies and states, by upstream name;
* :mod:`.probes`: background probes that keep the monitor true without traffic;
* :mod:`.metrics`: the Prometheus metrics and ``/metrics``;
* :mod:`.logs`: JSON or text log lines, with secrets redacted;
* :mod:`.access`: the outermost middleware: request ids, request metrics, the access log;
* :mod:`.guard`: bearer tokens for the TRS and operator routes, and per-client rate limits;
* :mod:`.connections`: ``serve``'s connection limits, header timeout and descriptor limit;
* :mod:`.reload`: reloading the configuration on SIGHUP;
* :mod:`.workers`: ``serve --workers N``, the supervisor of worker processes.

It sits above the federation, the cache and the index: nothing below imports it.
"""
