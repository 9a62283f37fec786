"""Bench driver for the published Python SDK, ``databricks-zerobus-ingest-sdk`` 1.10.0 from PyPI
(bench/DRIVER.md), the peer our Python binding is compared with. Installed by
``make python-bench-published`` into target/python-bench-published-venv (requirements.txt here).

Same command line, environment, dict records and loop as ../driver.py (../contract.py):

- ``single``: ``stream.ingest_record_offset(dict)``, which returns once the record is queued.
- ``nowait``: ``stream.ingest_record_offset(dict)`` too. The SDK has ``ingest_record_nowait``, but
  it spawns a detached task per record and discards enqueue errors, and ``flush()`` can return
  before that task has taken an offset (its own docstring: "not a safe durability path"): the
  clock would stop before the records are in, and records may be lost uncounted. The published
  Node driver does the same (its SDK has no fire-and-forget call at all).
- ``batch``: ``stream.ingest_records_offset(list of dicts)``.
- ``--format taxi``: that batch call on the taxi rows of ``DIR/rows.jsonl`` as dicts.
- ``--format taxi-typed`` is refused (exit 2): the published SDK has no PROTO stream created from
  the table (a PROTO stream needs a descriptor).
- ``--format taxi-arrow``: ``sdk.create_arrow_stream(table, schema, client_id, client_secret)``
  (its ``[arrow]`` extra: pyarrow, pinned in requirements.txt; the schema of ``DIR/0.arrows``,
  default options) and one ``stream.ingest_batch(table)`` per call on the same pyarrow
  ``Table``s as ../driver.py. Its ``ingest_batch`` writes each Table to Arrow IPC bytes in Python
  (``pyarrow.ipc.new_stream``) and hands those to its core: part of the call, so inside the clock.

It takes dicts as they are (it writes them as JSON itself, with ``json.dumps``'s default
separators, so ``{"i": 1, "p": "x…"}`` is 3 bytes longer on the wire than our compact text;
the rates are records/s of the same dicts).

Plaintext to ``zerobus serve``: the endpoint is passed as printed, with ``http://`` (without a
scheme it dials TLS whatever ``set_use_tls`` says, and fails with ``InvalidContentType``), and
``sdk._inner.set_use_tls(False)`` is called as the SDK's stub says to "for testing with local mock
servers"; the Arrow stream goes through the same SDK object, so the same switch. Default options;
it has no ``max_inflight_requests`` option (only records), so ``--max-inflight-requests`` is
refused.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from contract import (  # noqa: E402
    fail,
    parse_args,
    record_pool,
    run_arrow,
    run_batches,
    run_calls,
    taxi_dicts,
)

try:
    from zerobus.sdk.shared import TableProperties  # noqa: E402
    from zerobus.sdk.sync import ZerobusSdk  # noqa: E402
except ImportError as e:
    print(
        f"published-python driver: the published SDK is not installed (make python-bench-published): {e}",
        file=sys.stderr,
    )
    sys.exit(2)


def main() -> None:
    args = parse_args(sys.argv[1:])
    if args.format == "taxi-typed":
        fail(
            "--format taxi-typed: the published Python SDK has no PROTO stream created from the table "
            "(its PROTO streams need a descriptor); this driver takes json, taxi, taxi-arrow"
        )
    if args.max_inflight_requests is not None:
        fail("the published Python SDK has no max_inflight_requests option")
    sdk = ZerobusSdk(args.endpoint, args.workspace_url)
    sdk._inner.set_use_tls(False)

    if args.format == "taxi-arrow":
        run_arrow(args, sdk.create_arrow_stream)
        return

    if args.format == "taxi":
        dicts = taxi_dicts(args)
        stream = sdk.create_stream(args.client_id, args.client_secret, TableProperties(args.table))
        run_batches(args, dicts, stream.ingest_records_offset, stream.flush)
        stream.close()
        return

    pool = record_pool(args.size)
    stream = sdk.create_stream(args.client_id, args.client_secret, TableProperties(args.table))
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
