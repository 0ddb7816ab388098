"""``emrex-emc local`` stops on Ctrl-C even when the kernel hands the signal to one of its many threads.

The child process runs the real command with a stand-in stack (no moto, no servers), then a helper thread sends
SIGINT to itself: CPython runs the Python handler in the main thread, but only when the main thread next runs
bytecode. A main thread blocked for good in ``Event.wait()`` never did (seen as a local stack that ignored Ctrl-C
in about one test run in five).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import signal, sys, threading, time
    from pathlib import Path
    import emrex_emc.local.runner as runner
    from emrex_emc.cli import main
    from emrex_emc.local.runner import LocalStack, LocalUrls

    stopped = []

    class Stack(LocalStack):
        def stop(self):
            stopped.append(True)

    def fake_start(**_):
        urls = LocalUrls(**{name: "http://127.0.0.1:1" for name in LocalUrls.__dataclass_fields__})
        return Stack(urls=urls, api_token="t" * 32, events_file=None, sis=None, admin_token="a" * 32)

    runner.start_local_stack = fake_start

    def interrupt_from_another_thread():
        time.sleep(0.5)
        signal.pthread_kill(threading.get_ident(), signal.{signal})

    threading.Thread(target=interrupt_from_another_thread, daemon=True).start()
    code = main(["local"])
    print("exit", code, "stopped", stopped, flush=True)
    """
)


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_signal_taken_by_another_thread_still_stops_the_local_stack(signal_name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD.replace("{signal}", signal_name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Press Ctrl-C to stop." in result.stdout
    assert "Stopping..." in result.stdout
    assert result.stdout.strip().endswith("exit 0 stopped [True]")
