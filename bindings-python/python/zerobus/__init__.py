"""Zerobus Ingest SDK for Python, on the shared Rust core.

The import paths are the published package's (``databricks-zerobus-ingest-sdk``), so code ports
by changing the dependency only:

- ``zerobus.sdk.sync``: ``ZerobusSdk`` and its blocking ``ZerobusStream``;
- ``zerobus.sdk.aio``: the same with awaitables;
- ``zerobus.sdk.shared``: ``TableProperties``, ``StreamConfigurationOptions``, ``RecordType``,
  ``AckCallback``, ``HeadersProvider``, ``ZerobusException`` and ``NonRetriableException``.
"""

from zerobus._core import VERSION as __version__

__all__ = ["__version__"]
