"""The security suite: each hole an outside attacker found, as a test that failed before
its fix. An auditor runs it alone: `python3 -m pytest tests/security`."""
