"""Registry client: the HTTP API v2 for a host and a repository path (layer L5).

Knows nothing of images: ``berthd.distribution`` parses references and passes a domain
and a path. Import the submodules you need; the HTTP client (aiohttp) is loaded on first
use only.
"""
