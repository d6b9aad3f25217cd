"""Verification for anyone: ``POST /verify``, the public verification page, offline checks."""
