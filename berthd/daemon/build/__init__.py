"""The daemon side of docker build: the builder Backend over the container and image services."""
