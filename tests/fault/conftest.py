"""The fault suite's table of figures, printed after the run (also with -q)."""

from __future__ import annotations

from tests.fault import report


def pytest_terminal_summary(terminalreporter) -> None:
    lines = report.table() + report.NOTES
    if lines:
        terminalreporter.section("LogDig fault suite and soak: figures")
        for text in lines:
            terminalreporter.write_line(text)
