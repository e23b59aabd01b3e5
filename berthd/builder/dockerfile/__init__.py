"""The Dockerfile front end: parser, shell lexer and typed instructions (no I/O)."""
