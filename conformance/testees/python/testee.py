"""Conformance testee for the Python binding (see conformance/TESTEE.md): one request per stdin
line, one response per stdout line, no logic beyond mapping requests to the package's public API
(``zerobus.sdk.sync`` and ``zerobus.sdk.shared``). Standard library only, but for the Arrow
``native`` form, which decodes the case's IPC bytes with pyarrow."""

import json
import sys
import threading
import traceback

from zerobus.sdk.shared import (
    AckCallback,
    ArrowStreamConfigurationOptions,
    HeadersProvider,
    NonRetriableException,
    RecordType,
    StreamConfigurationOptions,
    TableProperties,
    ZerobusException,
)
from zerobus.sdk.sync import ZerobusSdk

# ---- records, exactly as conformance/src/records.rs --------------------------------------------
MASK = (1 << 64) - 1


def pad(seed, index, length):
    x = (seed * 0x9E3779B97F4A7C15 + index + 1) & MASK
    out = bytearray(length)
    for i in range(length):
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        out[i] = 97 + x % 26
    return bytes(out)


def json_record(seed, index, size):
    head = '{"seed":%d,"seq":%d,"pad":"' % (seed, index)
    tail = '"}'
    length = max(0, size - len(head) - len(tail))
    return head + pad(seed, index, length).decode("ascii") + tail


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def proto_record(seed, index, size):
    head = b"\x08" + varint(seed) + b"\x10" + varint(index)
    fixed = len(head) + 1
    length = max(0, size - (fixed + 1))
    while length > 0 and fixed + len(varint(length)) + length > size:
        length -= 1
    return head + b"\x1a" + varint(length) + pad(seed, index, length)


# ---- the testee ------------------------------------------------------------------------------
stream = None
lock = threading.Lock()
headers_calls = 0
acks = []
errors = []
# Set when the `close` op returns (whatever its result); callbacks after that are counted.
close_returned = False
late = 0


def note_callback():
    global late
    if close_returned:
        late += 1


def bad(message):
    return NonRetriableException(message, "INVALID_ARGUMENT")


def current():
    if stream is None:
        raise bad("no stream was created")
    return stream


def is_proto(s):
    return s.record_type == RecordType.PROTO


def opt_offset(o):
    return None if o is None else int(o)


class Callbacks(AckCallback):
    def on_ack(self, offset):
        with lock:
            note_callback()
            acks.append(int(offset))

    def on_error(self, offset, error_message):
        with lock:
            note_callback()
            errors.append(int(offset))


class Headers(HeadersProvider):
    def __init__(self, headers, fail):
        self.headers = [(str(n), str(v)) for n, v in headers]
        self.fail = fail

    def get_headers(self):
        global headers_calls
        with lock:
            headers_calls += 1
        if self.fail:
            raise ZerobusException(self.fail.get("message") or "", self.fail.get("code"))
        return self.headers


# Protocol option names (PROTOCOL.md §6) to StreamConfigurationOptions arguments.
OPTIONS = {
    "max_inflight_requests": "max_inflight_records",
    "max_inflight_bytes": "max_inflight_bytes",
    "recovery": "recovery",
    "recovery_timeout_ms": "recovery_timeout_ms",
    "recovery_backoff_ms": "recovery_backoff_ms",
    "recovery_backoff_max_ms": "recovery_backoff_max_ms",
    "recovery_retries": "recovery_retries",
    "server_lack_of_ack_timeout_ms": "server_lack_of_ack_timeout_ms",
    "flush_timeout_ms": "flush_timeout_ms",
    "stream_paused_max_wait_time_ms": "stream_paused_max_wait_time_ms",
    "callback_max_wait_time_ms": "callback_max_wait_time_ms",
}


def new_sdk(req):
    ca_pem = req.get("ca_pem")
    pems = [ca_pem.encode("utf-8")] if isinstance(ca_pem, str) else None
    app = req.get("application_name")
    return ZerobusSdk(
        req.get("endpoint") or "",
        req.get("workspace_url") or "",
        app if isinstance(app, str) else None,
        ca_certificates_pem=pems,
    )


def table_schema(req):
    sdk = new_sdk(req)
    auth = req.get("auth") or {}
    table = req.get("table") or ""
    if auth.get("kind") == "headers":
        schema = sdk.get_table_schema(table, headers_provider=Headers(auth.get("headers") or [], auth.get("fail")))
    else:
        schema = sdk.get_table_schema(table, auth.get("client_id") or "", auth.get("client_secret") or "")
    columns = [
        {"name": c.name, "type": c.type_text, "nullable": c.nullable, "position": c.position} for c in schema.columns
    ]
    return {"columns": columns, "descriptor_hex": schema.descriptor_proto.hex()}


def create(req):
    global stream
    sdk = new_sdk(req)
    o = req.get("options") or {}
    kwargs = {name: o[wire] for wire, name in OPTIONS.items() if o.get(wire) is not None}
    if o.get("ack_callback") is True:
        kwargs["ack_callback"] = Callbacks()
    table_name = req.get("table") or ""
    if req.get("record_type") == "proto":
        kwargs["record_type"] = RecordType.PROTO
        # No descriptor: the stream is created from the table (its schema is read at create).
        descriptor = req.get("descriptor_hex")
        table = TableProperties(table_name, bytes.fromhex(descriptor) if descriptor else None)
    else:
        kwargs["record_type"] = RecordType.JSON
        table = TableProperties(table_name)
    options = StreamConfigurationOptions(**kwargs)
    auth = req.get("auth") or {}
    if auth.get("kind") == "headers":
        provider = Headers(auth.get("headers") or [], auth.get("fail"))
        stream = sdk.create_stream(None, None, table, options, provider)
    else:
        stream = sdk.create_stream(auth.get("client_id") or "", auth.get("client_secret") or "", table, options)
    return {}


# Protocol option names of Arrow streams: ArrowStreamConfigurationOptions takes them as they are.
ARROW_OPTIONS = (
    "max_inflight_batches",
    "max_inflight_bytes",
    "recovery",
    "recovery_timeout_ms",
    "recovery_backoff_ms",
    "recovery_backoff_max_ms",
    "recovery_retries",
    "server_lack_of_ack_timeout_ms",
    "flush_timeout_ms",
    "connection_timeout_ms",
    "stream_paused_max_wait_time_ms",
    "callback_max_wait_time_ms",
    "ipc_compression",
)


def create_arrow(req):
    """An Arrow stream; the stream ops act on it from now on. No `schema_hex`: from the table."""
    global stream
    sdk = new_sdk(req)
    o = req.get("options") or {}
    kwargs = {name: o[name] for name in ARROW_OPTIONS if o.get(name) is not None}
    if o.get("ack_callback") is True:
        kwargs["ack_callback"] = Callbacks()
    options = ArrowStreamConfigurationOptions(**kwargs)
    schema_hex = req.get("schema_hex")
    # The binding takes the schema as IPC bytes too, so no pyarrow is needed here.
    schema = bytes.fromhex(schema_hex) if schema_hex else None
    table = req.get("table") or ""
    auth = req.get("auth") or {}
    if auth.get("kind") == "headers":
        provider = Headers(auth.get("headers") or [], auth.get("fail"))
        stream = sdk.create_arrow_stream_with_headers_provider(table, schema, provider, options)
    else:
        stream = sdk.create_arrow_stream(
            table, schema, auth.get("client_id") or "", auth.get("client_secret") or "", options
        )
    return {}


def ingest_arrow(req):
    s = current()
    data = bytes.fromhex(req.get("ipc_hex") or "")
    if req.get("form") == "native":
        import pyarrow  # only this form needs it

        offset = s.ingest_batch(pyarrow.ipc.open_stream(data).read_all())
    else:
        offset = s.ingest_ipc_batch(data)
    return {"offset": int(offset)}


def arrow_unacked(_req):
    return {"ipc_hex": current().get_unacked_ipc().hex()}


def produce(s, req, seed):
    """One producer: records start…start+count−1 of `seed` in calls of `batch`; the offsets."""
    start = req.get("start") or 0
    count = req.get("count") or 0
    size = req.get("size")
    size = 100 if size is None else size
    batch = max(1, req.get("batch") or 1)
    mode = req.get("mode") or "offset"
    make = proto_record if is_proto(s) else json_record
    offsets = []
    i = start
    while i < start + count:
        end = min(i + batch, start + count)
        records = [make(seed, j, size) for j in range(i, end)]
        if mode == "try":
            if batch == 1:
                offsets.append(opt_offset(s.try_ingest_record_offset(records[0])))
            else:
                offsets.append(opt_offset(s.try_ingest_records_offset(records)))
        elif mode == "nowait":
            if batch == 1:
                s.ingest_record_nowait(records[0])
            else:
                s.ingest_records_nowait(records)
        else:
            if batch == 1:
                offsets.append(opt_offset(s.ingest_record_offset(records[0])))
            else:
                offsets.append(opt_offset(s.ingest_records_offset(records)))
        i = end
    return offsets


def seed_of(req):
    seed = req.get("seed")
    return 1 if seed is None else seed


def ingest(req):
    s = current()
    return {"offsets": produce(s, req, seed_of(req))}


def ingest_concurrent(req):
    """`producers` threads on the one stream, producer k with seed seed + k."""
    s = current()
    seed = seed_of(req)
    producers = max(1, req.get("producers") or 1)
    results = [None] * producers

    def run(k):
        try:
            results[k] = (True, produce(s, req, seed + k))
        except BaseException as e:  # reported below, in producer order
            results[k] = (False, e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ok, value in results:
        if not ok:
            raise value
    return {"offsets": [value for _, value in results]}


def ingest_raw(req):
    s = current()
    kind = req.get("kind")
    texts = req.get("records") or []
    if kind == "proto":
        records = [bytes.fromhex(r) for r in texts]
    elif kind == "object":
        records = [json.loads(r) for r in texts]  # dicts, written as JSON in Rust
    else:
        records = texts
    offsets = []
    if req.get("batch") is True:
        offsets.append(opt_offset(s.ingest_records_offset(records)))
    else:
        for r in records:
            offsets.append(opt_offset(s.ingest_record_offset(r)))
    return {"offsets": offsets}


def close(_req):
    global close_returned
    s = current()
    try:
        s.close()
    finally:
        with lock:
            close_returned = True
    return {}


def unacked(_req):
    s = current()
    proto = is_proto(s)
    batches = [[r.hex() if proto else r.decode("utf-8") for r in b] for b in s.get_unacked_batches()]
    return {"batches": batches}


def metrics(_req):
    m = current().metrics()
    return {
        "metrics": {
            "inflight_requests": m.inflight_requests,
            "inflight_records": m.inflight_records,
            "inflight_bytes": m.inflight_bytes,
            "last_acked_offset": m.last_acked_offset,
            "records_sent": m.records_sent,
            "records_resent": m.records_resent,
            "recoveries": m.recoveries,
            "token_fetches": m.token_fetches,
        }
    }


def wait_for_offset(req):
    offset = req.get("offset")
    current().wait_for_offset(-1 if offset is None else offset)
    return {}


def flush(_req):
    current().flush()
    return {}


def callbacks(_req):
    with lock:
        return {"acks": list(acks), "errors": list(errors), "late": late}


def headers_provider_calls(_req):
    with lock:
        return {"count": headers_calls}


HANDLERS = {
    "create_stream": create,
    "ingest": ingest,
    "ingest_concurrent": ingest_concurrent,
    "ingest_empty_batch": lambda _req: {"offsets": [opt_offset(current().ingest_records_offset([]))]},
    "ingest_raw": ingest_raw,
    "wait_for_offset": wait_for_offset,
    "flush": flush,
    "close": close,
    "is_closed": lambda _req: {"closed": current().is_closed},
    "unacked": unacked,
    "metrics": metrics,
    "callbacks": callbacks,
    "headers_provider_calls": headers_provider_calls,
    "table_schema": table_schema,
    "create_arrow_stream": create_arrow,
    "ingest_arrow": ingest_arrow,
    "arrow_unacked": arrow_unacked,
}


def error_json(e):
    if isinstance(e, ZerobusException):
        return {"code": e.code, "grpc_status": e.grpc_status, "retryable": e.retryable, "message": str(e)}
    message = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    return {"code": "INTERNAL", "grpc_status": None, "retryable": False, "message": message}


def main():
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except ValueError as e:
            sys.stderr.write("testee-python: bad request line: %s\n" % e)
            continue
        if req.get("op") == "quit":
            break
        try:
            handler = HANDLERS.get(req.get("op"))
            if handler is None:
                raise bad("unknown op %s" % json.dumps(req.get("op")))
            reply = handler(req)
            reply["ok"] = True
        except Exception as e:
            reply = {"ok": False, "error": error_json(e)}
        reply["id"] = req.get("id")
        out.write(json.dumps(reply, separators=(",", ":")) + "\n")
        out.flush()
    # Close explicitly so a stream left open by a case is shut down before the process goes.
    if stream is not None:
        try:
            stream.close()
        except Exception:
            pass


if __name__ == "__main__":
    main()
