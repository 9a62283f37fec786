"""The process around the SDK: exit, examples, signals."""

import subprocess

from conftest import Server, example, run_python

SCRIPT = """
import os
from zerobus.sdk.sync import ZerobusSdk
from zerobus.sdk.shared import TableProperties, StreamConfigurationOptions, AckCallback
class CB(AckCallback):
    def on_ack(self, offset): pass
sdk = ZerobusSdk(os.environ["ZEROBUS_ENDPOINT"], os.environ["ZEROBUS_WORKSPACE_URL"])
s = sdk.create_stream(os.environ["ZEROBUS_CLIENT_ID"], os.environ["ZEROBUS_CLIENT_SECRET"],
                      TableProperties("main.default.events"), StreamConfigurationOptions(ack_callback=CB()))
for i in range(20000):
    s.ingest_record_nowait({"i": i})
print("queued")
# no flush, no close: the script just ends
"""


def test_the_process_exits_when_the_script_ends(server: Server) -> None:
    for _ in range(3):
        done = run_python(SCRIPT, server.env, timeout=20)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "queued"


def test_examples_print_the_acked_count(server: Server) -> None:
    import os

    for name, expected in [("sync_json.py", "acked: 11000 records in 1010 calls"), ("async_json.py", "acked: 11000 records")]:
        done = subprocess.run(example(name), env={**os.environ, **server.env}, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout


INTERRUPTED = """
import os
from zerobus.sdk.sync import ZerobusSdk
from zerobus.sdk.shared import TableProperties
sdk = ZerobusSdk(os.environ["ZEROBUS_ENDPOINT"], os.environ["ZEROBUS_WORKSPACE_URL"])
s = sdk.create_stream(os.environ["ZEROBUS_CLIENT_ID"], os.environ["ZEROBUS_CLIENT_SECRET"],
                      TableProperties("main.default.events"))
s.ingest_record_offset({"a": 1})
print("waiting", flush=True)
try:
    s.flush()  # the server never acks: this waits up to flush_timeout_ms (5 minutes)
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_ctrl_c_ends_a_wait(silent_server: Server) -> None:
    import os
    import signal
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED], env={**os.environ, **silent_server.env}, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "waiting"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert out.strip() == "interrupted"
    assert proc.returncode == 0


DAEMON_WAITING = """
import os, threading, time
from zerobus.sdk.sync import ZerobusSdk
from zerobus.sdk.shared import TableProperties, StreamConfigurationOptions
sdk = ZerobusSdk(os.environ["ZEROBUS_ENDPOINT"], os.environ["ZEROBUS_WORKSPACE_URL"])
s = sdk.create_stream(os.environ["ZEROBUS_CLIENT_ID"], os.environ["ZEROBUS_CLIENT_SECRET"],
                      TableProperties("main.default.events"), StreamConfigurationOptions(max_inflight_records=1))
s.ingest_record_offset({"a": 1})
# Never acked, so this waits for room until the process ends.
threading.Thread(target=lambda: s.ingest_record_offset({"b": 2}), daemon=True).start()
threading.Thread(target=s.flush, daemon=True).start()
time.sleep(0.3)
print("exit")
"""


def test_daemon_threads_still_waiting_do_not_crash_the_exit(silent_server: Server) -> None:
    for _ in range(5):
        done = run_python(DAEMON_WAITING, silent_server.env, timeout=20)
        assert (done.returncode, done.stdout.strip()) == (0, "exit"), done.stderr
