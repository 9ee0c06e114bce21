"""Prints the shared-corpus pass rate at the end of the run (tests/integrations/email/test_corpus.py)."""

from __future__ import annotations

import pytest

CORPUS_SUMMARY = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    summary = config.stash.get(CORPUS_SUMMARY, None)
    if summary:
        terminalreporter.write_sep("-", "shared e-mail corpus")
        terminalreporter.write_line(summary)
