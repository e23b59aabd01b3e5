"""Helpers the test packages share, written once: polling (``wait``), loopback ports
(``ports``), the docker CLI's environment (``cli``) and TLS material made with the
openssl command (``tls``). Daemon processes are in ``tests/integration/daemon_process.py``
and ``dockerd_process.py``."""
