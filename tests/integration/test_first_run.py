"""The README's run command as a stranger meets it: a fresh clone, a stock Debian/Ubuntu
whose only `python3` is the distribution's own (externally managed, PEP 668), and
`make dev`. It must make and use the project's `.venv`, never the system Python.

The first run installs requirements.txt into the clone's `.venv`: minutes, not seconds
(pip's cache in ~/.cache/pip is shared with every other run). Only committed work is in
the clone: commit before running this test.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from logdig.storage import LocalStore
from tests.helpers import make_event, post, stored_events

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")
INSTALLING = "venv: installing"  # what scripts/venv prints when it runs pip


def stock_env(bin_dir: Path) -> dict[str, str]:
    """The environment of a stock machine: PATH finds the system python3 first, and nothing
    of this test run (pyenv, our venv, the outer make, LogDig settings) leaks in."""
    (bin_dir / "python3").symlink_to(SYSTEM_PYTHON)
    drop = ("LOGDIG_", "AWS_", "PYENV", "VIRTUAL_ENV", "CONDA", "PYTHON", "MAKE", "MFLAGS", "VENV", "PORT", "ARGS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(PATH=f"{bin_dir}:/usr/bin:/bin", PYTHONUNBUFFERED="1")  # a pipe, not a terminal
    return env


class Dev:
    """`make dev PORT=0` in its own process group, so Ctrl+C reaches make and logdig alike."""

    def __init__(self, clone: Path, env: dict[str, str], deadline: float):
        self.proc = subprocess.Popen(
            ["make", "dev", "PORT=0"],
            cwd=clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            # a terminal's Ctrl+C works even where this test runs with SIGINT ignored (a background job)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        while "Press Ctrl+C to stop." not in self.output:
            line = self.lines.get(timeout=max(1.0, deadline - time.monotonic()))
            if line is None:
                self.close()
                pytest.fail(f"`make dev` exited ({self.proc.returncode}) before its banner:\n{self.output}")
            self.output += line
        self.base = re.search(r"running at (http://\S+)", self.output).group(1)
        self.token = re.search(r"token 'demo': (\S+)", self.output).group(1)

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def interrupt(self) -> str:
        """Ctrl+C at the terminal: SIGINT to the whole foreground group. Returns the rest of the output."""
        os.killpg(self.proc.pid, signal.SIGINT)
        self.proc.wait(timeout=60)
        rest = []
        while (line := self.lines.get(timeout=10)) is not None:
            rest.append(line)
        return "".join(rest)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.reader.join(10)
        self.proc.stdout.close()


@pytest.mark.firstrun
@pytest.mark.timeout(900)
def test_make_dev_works_in_a_fresh_clone_with_the_distributions_python3(tmp_path: Path) -> None:
    if not SYSTEM_PYTHON.exists() or not (REPO / ".git").exists() or not shutil.which("make"):
        pytest.skip("needs /usr/bin/python3 (the distribution's), make, and a git checkout of LogDig")
    deadline = time.monotonic() + 840
    clone = tmp_path / "logdig"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    (tmp_path / "bin").mkdir()
    env = stock_env(tmp_path / "bin")

    dev = Dev(clone, env, deadline)
    try:
        with urllib.request.urlopen(dev.base + "/demo/", timeout=30) as response:
            assert response.status == 200
            page = response.read().decode()
        assert f'data-token="{dev.token}"' in page and "/clicktracker.js" in page, page[:2000]
        event = make_event(dev.token)
        assert post(dev.base + "/logs", [event])[0] == 202
        rest = dev.interrupt()
    finally:
        dev.close()
    # make reports the interrupt (130 or killed by SIGINT); logdig itself stopped cleanly.
    assert dev.proc.returncode in (0, 2, 130, -signal.SIGINT), dev.output + rest
    assert "Stopped. Final flush: " in rest, dev.output + rest
    assert [e["event_id"] for e in stored_events(LocalStore(clone / "logdig-data"))] == [event["event_id"]]

    # The venv is the clone's own, made from the system python3, which stays untouched.
    venv_python = clone / ".venv" / "bin" / "python"
    made_from = subprocess.run(
        [venv_python, "-c", "import sys, os; print(os.path.realpath(sys._base_executable))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert made_from == os.path.realpath(SYSTEM_PYTHON)
    system = subprocess.run([SYSTEM_PYTHON, "-c", "import logdig"], cwd="/", env=env, capture_output=True, text=True)
    assert system.returncode != 0 and "No module named 'logdig'" in system.stderr

    # Again: the venv is reused and nothing is installed.
    dev = Dev(clone, env, deadline)
    try:
        assert INSTALLING not in dev.output, dev.output
        dev.interrupt()
    finally:
        dev.close()

    # A changed requirements file is installed again.
    with (clone / "requirements.txt").open("a") as f:
        f.write("# changed\n")
    dev = Dev(clone, env, deadline)
    try:
        assert INSTALLING in dev.output, dev.output
        dev.interrupt()
    finally:
        dev.close()


def run_suite(tmp_path: Path, code: str, ci: bool) -> subprocess.CompletedProcess[str]:
    """pytest on one generated test file, with this suite's conftest hooks loaded."""
    (tmp_path / "test_generated.py").write_text(code)
    env = {k: v for k, v in os.environ.items() if k != "LOGDIG_CI"}
    if ci:
        env["LOGDIG_CI"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


SKIPPING = """
import pytest

def test_runs():
    pass

def test_needs_a_tool():
    pytest.skip("frobnicator not installed")
"""


def test_a_skipped_test_fails_the_run_in_ci(tmp_path: Path) -> None:
    ci = run_suite(tmp_path, SKIPPING, ci=True)
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "test_generated.py::test_needs_a_tool: frobnicator not installed" in ci.stdout, ci.stdout
    local = run_suite(tmp_path, SKIPPING, ci=False)  # on a laptop a skip stays a skip
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout + local.stderr


def test_a_run_that_collects_nothing_says_so_in_ci(tmp_path: Path) -> None:
    ci = run_suite(tmp_path, "", ci=True)
    assert ci.returncode != 0 and "collected no tests: a suite that runs nothing proves nothing" in ci.stdout
