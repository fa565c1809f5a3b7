"""``ctcam phantom``: the synthetic chest CT writer; its options and output live with the
generator (:mod:`engine.phantom.cli`)."""

from engine.phantom.cli import build_parser, main

__all__ = ["build_parser", "main"]
