"""The SDK: ``zerobus.sdk.sync``, ``zerobus.sdk.aio`` and what they share, ``zerobus.sdk.shared``."""
