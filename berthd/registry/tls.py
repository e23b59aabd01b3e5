"""TLS settings for a registry endpoint (moby ``registry/registry.go``).

Blocking (reads files): call ``ssl_context`` in a thread. Errors are dockerd's
(``missing key X.key for client certificate X.cert. CA certificates must use the
extension .crt``, ``missing client certificate X.cert for key X.key``).
"""

from __future__ import annotations

import os
import ssl

from berthd.errdefs import InvalidParameter

__all__ = ["ssl_context"]


def _base(verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def ssl_context(verify: bool, certs_dir: str) -> ssl.SSLContext:
    """The client context: system roots plus ``*.crt``, a ``X.cert``/``X.key`` pair."""
    ctx = _base(verify)
    if not verify or not certs_dir:
        return ctx
    try:
        names = sorted(os.listdir(certs_dir))
    except FileNotFoundError:
        return ctx
    except OSError as e:
        raise InvalidParameter(f"open {certs_dir}: {os.strerror(e.errno or 0).lower()}") from None
    pair_loaded = False
    for name in names:
        path = os.path.join(certs_dir, name)
        if name.endswith(".crt"):
            try:
                ctx.load_verify_locations(cafile=path)
            except (OSError, ssl.SSLError) as e:
                raise InvalidParameter(f"{path}: {e}") from None
        elif name.endswith(".cert"):
            key = name[: -len(".cert")] + ".key"
            if key not in names:
                raise InvalidParameter(
                    f"missing key {key} for client certificate {name}. "
                    "CA certificates must use the extension .crt"
                )
            if not pair_loaded:
                try:
                    ctx.load_cert_chain(path, os.path.join(certs_dir, key))
                except (OSError, ssl.SSLError) as e:
                    raise InvalidParameter(
                        f"tls: failed to load client certificate {name}: {e}"
                    ) from None
                pair_loaded = True
        elif name.endswith(".key"):
            cert = name[: -len(".key")] + ".cert"
            if cert not in names:
                raise InvalidParameter(f"missing client certificate {cert} for key {name}")
    return ctx
