"""Operating the gateway: health, circuit breakers, metrics, logs, reloads and workers.

One module per concern:

* :mod:`.requestid`: the request id of the request being served (a context variable);
* :mod:`.circuit`: the per-upstream circuit breaker;
* :mod:`.monitor`: per-upstream call outcomes, latencies and states, by upstream name;
* :mod:`.probes`: background probes that keep the monitor true without traffic;
* :mod:`.metrics`: the Prometheus metrics and ``/metrics``;
* :mod:`.logs`: JSON or text log lines, with secrets redacted;
* :mod:`.access`: the outermost middleware: request ids, request metrics, the access log;
* :mod:`.reload`: starting a federation, and reloading the configuration on SIGHUP;
* :mod:`.workers`: ``serve --workers N``, the supervisor of worker processes.

This package's ``__init__`` imports nothing, so low-level modules (the upstream
clients) can use :mod:`.requestid` without pulling in the rest.
"""
