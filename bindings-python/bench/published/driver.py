"""Bench driver for the PUBLISHED Python SDK (``databricks-zerobus-ingest-sdk`` 1.10.0 from PyPI,
installed by ``make python-bench-published`` into target/python-bench-published-venv), following
bench/DRIVER.md with the same dict records as ../driver.py, so the two are read side by side.

- ``single``: ``stream.ingest_record_offset(dict)``, which returns once the record is queued;
- ``nowait``: ``ingest_record_offset`` too. The published ``ingest_record_nowait`` spawns a task
  per record and discards its errors, and ``flush()`` can return before those tasks have queued
  their records (its own docstring says so), so its count would not be what reached the server;
- ``batch``: ``stream.ingest_records_offset(list of dicts)``.

It talks plaintext to the local mock through its ``sdk._inner.set_use_tls(False)``. Default
options unless ``--max-inflight-requests`` is given (its ``max_inflight_records``).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from contract import parse_args, record_pool, run_calls  # noqa: E402

try:
    from zerobus.sdk.shared import StreamConfigurationOptions, TableProperties
    from zerobus.sdk.sync import ZerobusSdk
except ImportError as e:
    print(f"published-python driver: the published SDK is not installed (make python-bench-published): {e}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    args = parse_args(sys.argv[1:])
    pool = record_pool(args.size)

    sdk = ZerobusSdk(args.endpoint, args.workspace_url)
    if args.endpoint.startswith("http://"):
        sdk._inner.set_use_tls(False)
    options = None
    if args.max_inflight_requests is not None:
        options = StreamConfigurationOptions(max_inflight_records=args.max_inflight_requests)
    stream = sdk.create_stream(args.client_id, args.client_secret, TableProperties(args.table), options)

    run_calls(
        args,
        pool,
        single=stream.ingest_record_offset,
        nowait=stream.ingest_record_offset,
        batch=stream.ingest_records_offset,
        flush=stream.flush,
    )
    stream.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001: the contract's one error path
        print(f"published-python driver: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
