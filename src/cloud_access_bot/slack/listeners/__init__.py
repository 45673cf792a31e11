"""Bolt listeners, one module per feature, each with ``register(app, deps)``.

Every listener acks before doing any I/O (Slack's 3 s deadline; a late ack is lost), then runs
its work through ``AppDeps.guarded`` (shared.py), which counts it as in flight (so a graceful
shutdown can wait for it) and turns any failure into a message to the person who acted — never
a silent log line. A listener parses the payload, calls the service and answers; payload
parsing that needs more than a few lines lives in form.py.
"""
