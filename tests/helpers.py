"""Assertions shared by the command-line tests.

Under click's CliRunner an escaped exception is kept in `result.exception`, never printed to `result.output`, so a
check for "Traceback" in the output cannot fail; these look at the exception itself. For a real process (subprocess)
the traceback would be on stderr, and that is where `assert_clean_process_error` looks."""

from __future__ import annotations

import subprocess
import traceback

from click.testing import Result

ERROR = "seqgen: error: "


def _shown(result: Result) -> str:
    """The output and, if one escaped, the exception's traceback: what a failed assertion should show."""
    escaped = ""
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        escaped = "\n" + "".join(traceback.format_exception(*result.exc_info))
    return f"exit code {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}{escaped}"


def assert_clean_exit(result: Result) -> None:
    """The command succeeded: exit code 0 and no exception escaped (not even a SystemExit(0) in disguise)."""
    assert result.exit_code == 0 and result.exception is None, _shown(result)


def assert_clean_error(result: Result, *fragments: str) -> str:
    """The command failed the way seqgen fails: a non-zero exit through SystemExit (no Python exception escaped),
    and stderr is exactly one `seqgen: error: ` line holding each fragment. Returns that line."""
    assert result.exit_code != 0, _shown(result)
    assert isinstance(result.exception, SystemExit), _shown(result)  # anything else would be a traceback
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERROR) and result.stderr == lines[0] + "\n", _shown(result)
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def assert_clean_process_error(proc: subprocess.CompletedProcess | subprocess.Popen, *fragments: str,
                               stderr: str | None = None) -> str:
    """A finished process failed the way seqgen fails: non-zero return code, no traceback on stderr, and stderr is
    exactly one `seqgen: error: ` line holding each fragment. For a Popen, pass the stderr read from it. Returns the
    line."""
    err = proc.stderr if stderr is None else stderr
    assert isinstance(err, str), "give the process's stderr as text"
    assert proc.returncode not in (0, None), (proc.returncode, err)
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERROR) and err == lines[0] + "\n", err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
