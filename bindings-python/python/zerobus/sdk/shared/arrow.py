"""The published SDK's import path for the Arrow stream options
(``zerobus.sdk.shared.arrow``); the same classes as ``zerobus.sdk.shared``. pyarrow is not
needed to import this or to ingest: any Arrow data with the PyCapsule interface is taken."""

from zerobus.sdk.shared import ArrowStreamConfigurationOptions, IPCCompression, IpcCompression

__all__ = ["ArrowStreamConfigurationOptions", "IPCCompression", "IpcCompression"]
