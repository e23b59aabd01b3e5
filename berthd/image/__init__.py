"""Images: the image side of dockerd's ``NewDaemon`` stores, plus save/load and rmi rules.

One concept per module:

* ``reference``             — distribution/reference parsing and normalisation
* ``digest``                — sha256 digests, chain IDs, short IDs
* ``config``                — the image config (raw bytes kept: the ID is their sha256)
* ``fs_store`` / ``store``  — imagedb on disk; the image store (prefix search, parents)
* ``reference_store``       — repositories.json
* ``distribution_metadata`` — v2metadata-by-diffid / diffid-by-digest
* ``layer_protocol``        — what this package needs from ``berthd.layer`` (a Protocol)
* ``archive_reader``        — hostile-archive access without extraction
* ``tarexport_load`` / ``tarexport_save`` / ``v1compat`` — docker load / docker save
* ``lookup`` / ``delete`` / ``prune`` / ``filters`` — GetImage, rmi, image prune, image ls
* ``jsonstream`` / ``gojson`` — dockerd's JSON-lines messages and Go-style JSON bytes

Everything here is blocking; the daemon calls it through ``asyncio.to_thread``.
"""
