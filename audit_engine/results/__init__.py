"""Typed results: the frozen records audit.json is generated from (see :mod:`.record`)."""
