"""moto's server on 127.0.0.1 as the in-process AWS for ``demo`` and tests."""

from __future__ import annotations

import logging

from moto.server import ThreadedMotoServer

#: moto's default account: credentials that did not come from assume_role land here.
MOTO_DEFAULT_ACCOUNT = "123456789012"


def start_moto() -> tuple[ThreadedMotoServer, str]:
    """Start moto on a free loopback port; return the server and its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"
