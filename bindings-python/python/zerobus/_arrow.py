"""What Arrow streams hand back as pyarrow objects. pyarrow is optional: only these need it, and
they import it when called. The core's batches and schema arrive as objects exposing the Arrow
PyCapsule interface (``__arrow_c_array__`` / ``__arrow_c_schema__``), which pyarrow imports
through the C Data interface without a copy."""

from typing import Any, List, Sequence

_MISSING = (
    "{what} returns pyarrow objects and pyarrow is not installed; install it (pip install pyarrow), "
    "or call get_unacked_ipc() for the same rows as Arrow IPC bytes"
)


def _pyarrow(what: str) -> Any:
    try:
        import pyarrow  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as e:
        raise ImportError(_MISSING.format(what=what)) from e
    return pyarrow


def record_batches(batches: Sequence[Any]) -> List[Any]:
    """``pyarrow.RecordBatch``es from the core's exported batches."""
    pa = _pyarrow("get_unacked_batches()")
    return [pa.record_batch(b) for b in batches]


def schema(exported: Any) -> Any:
    """A ``pyarrow.Schema`` from the core's exported schema."""
    return _pyarrow("ZerobusArrowStream.schema").schema(exported)
