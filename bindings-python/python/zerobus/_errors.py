"""The exceptions every call raises. The core raises them (``zerobus._core`` imports this module),
and user code may raise them too, from a ``HeadersProvider`` for instance, to choose the code."""

from typing import Optional

__all__ = ["ZerobusException", "NonRetriableException"]


class ZerobusException(Exception):
    """A failure of a Zerobus call. Raised as is for a retryable failure (the network, the server
    briefly unavailable, the in-flight bounds); non-retryable ones raise the subclass
    ``NonRetriableException``.

    Attributes:
        code: the core's error code name, the same in every language: one of
            ``zerobus._core.ERROR_CODES`` (``"UNAVAILABLE"``, ``"INVALID_RECORD"``, ...).
        grpc_status: the gRPC status code the server answered, when there was one.
        retryable: whether trying the same call again may succeed.
    """

    code: str
    grpc_status: Optional[int]
    retryable: bool

    def __init__(
        self,
        message: str = "",
        code: str = "UNAVAILABLE",
        grpc_status: Optional[int] = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.grpc_status = grpc_status
        self.retryable = retryable

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Keeps the attributes through pickling (multiprocessing, concurrent.futures).
        return (type(self), (str(self), self.code, self.grpc_status, self.retryable))


class NonRetriableException(ZerobusException):
    """A failure that the same call will meet again: bad input, bad credentials, a closed
    stream, a missing table. Fix the cause (the message names it) rather than retrying."""

    def __init__(
        self,
        message: str = "",
        code: str = "INTERNAL",
        grpc_status: Optional[int] = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, code, grpc_status, retryable)
