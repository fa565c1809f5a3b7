"""Per-finding summary rows for the viewer: the engine's findings schema (``engine.findings``:
probability, operating point, each method's map peak and in-organ share), built once per
result in the worker and written by the CSV/JSON exports, plus display names.
"""

from __future__ import annotations

from pathlib import Path

from engine.findings import Finding, pretty, summarise, write_findings_csv

__all__ = ["Finding", "summarise", "pretty", "write_csv", "write_json"]


def write_csv(path: str | Path, findings: list[Finding]) -> None:
    write_findings_csv(findings, path)


def write_json(path: str | Path, findings: list[Finding], *, source: str | None, card: dict,
               device: str, methods_identical: bool, suitability: dict | None = None) -> None:
    """The same findings.json as ``ctcam explain`` writes, with the scan's ``source``."""
    from engine.findings import document, write_findings_json

    write_findings_json(document(findings, card=card, device=device,
                                 methods_identical=methods_identical, suitability=suitability,
                                 source=source), path)
