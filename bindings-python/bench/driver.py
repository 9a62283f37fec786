"""Bench driver for the Python binding (bench/DRIVER.md): one process per run, dict records,
default options, one ``RESULT records=N seconds=S`` line on stdout.

    make python-bench-build     # release wheel → target/python-bench-venv
    target/python-bench-venv/bin/python bindings-python/bench/driver.py \\
        --mode single|nowait|batch --size 220 --records 100000 [--batch 1000] [--seconds S]
    target/python-bench-venv/bin/python bindings-python/bench/driver.py \\
        --mode batch --format taxi|taxi-typed|taxi-arrow --pool DIR --records N --batch B [--seconds S]

Records are dicts (see contract.py), written as JSON in Rust: ``single`` is
``stream.ingest_record_offset(dict)``, ``nowait`` is ``stream.ingest_record_nowait(dict)``, ``batch``
is ``stream.ingest_records_offset(list of dicts)`` (one call into the core per batch).
``--format taxi`` is that batch call too, on the taxi rows of ``DIR/rows.jsonl`` as dicts.
``--format taxi-typed`` is the same call with the same dicts on a PROTO stream created from the
table (``TableProperties(table)`` without a descriptor, ``record_type=RecordType.PROTO``: the core
reads the table's schema and encodes each dict by the columns' types).
``--format taxi-arrow`` opens an Arrow stream (``sdk.create_arrow_stream``, the schema of
``DIR/0.arrows``, default options) and makes one ``stream.ingest_batch(table)`` per call, each
``DIR/{j}.arrows`` read into a pyarrow ``Table`` before the clock (handed to the core through the
Arrow PyCapsule interface, no copy).

Run it with the bench virtualenv's interpreter: the test virtualenv (target/python-venv) holds the
debug build.
"""

import sys

from contract import parse_args, record_pool, run_arrow, run_batches, run_calls, taxi_dicts

try:
    from zerobus.sdk.shared import RecordType, StreamConfigurationOptions, TableProperties
    from zerobus.sdk.sync import ZerobusSdk
except ImportError as e:
    print(f"python driver: the zerobus package is not installed (make python-bench-build): {e}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    args = parse_args(sys.argv[1:])
    sdk = ZerobusSdk(args.endpoint, args.workspace_url)

    if args.format == "taxi-arrow":
        run_arrow(args, sdk.create_arrow_stream)
        return

    if args.format in ("taxi", "taxi-typed"):
        dicts = taxi_dicts(args)
        if args.format == "taxi":
            stream = sdk.create_stream(args.client_id, args.client_secret, TableProperties(args.table))
        else:
            # No descriptor: the stream is created from the table (its schema is read here).
            proto = StreamConfigurationOptions(record_type=RecordType.PROTO)
            stream = sdk.create_stream(args.client_id, args.client_secret, TableProperties(args.table), proto)
            if stream.table_schema is None:
                raise RuntimeError("--format taxi-typed: the PROTO stream was not created from the table")
        run_batches(args, dicts, stream.ingest_records_offset, stream.flush)
        stream.close()
        return

    pool = record_pool(args.size)
    stream = sdk.create_stream(args.client_id, args.client_secret, TableProperties(args.table))
    run_calls(
        args,
        pool,
        single=stream.ingest_record_offset,
        nowait=stream.ingest_record_nowait,
        batch=stream.ingest_records_offset,
        flush=stream.flush,
    )
    stream.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001: the contract's one error path
        print(f"python driver: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
