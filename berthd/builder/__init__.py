"""berthd.builder: ``docker build`` (the Dockerfile front end and the classic builder)."""
