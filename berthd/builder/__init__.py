"""The classic (pre-BuildKit) Dockerfile builder behind ``POST /build``.

Layer L4: it never imports ``berthd.daemon``. It drives the daemon through the
:class:`~berthd.builder.backend.Backend` Protocol (moby's ``builder.Backend``),
which ``berthd.daemon.build`` implements over the container and image services.

* ``context.py`` — the build context: the request tar (or a remote URL) unpacked
  with the layer extractor's guard into a temp dir, the Dockerfile found in it;
* ``options.py`` — ``POST /build`` query parameters as typed options;
* ``stream.py`` — the JSON stream dockerd writes (``Step n/m``, `` ---> …``);
* ``runconfig.py`` — the step's container config, as moby's ``copyRunConfig``;
* ``buildargs.py`` — ARG scoping and build args;
* ``cache.py`` — dockerd's image cache (probe config equality, ``--cache-from``);
* ``copy.py`` — COPY/ADD sources: globs, hashes, the tar copied into the layer;
* ``dispatch.py`` — one function per instruction; ``build.py`` — stages and steps.
"""
