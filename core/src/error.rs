//! One closed list of error codes for every surface of the SDK.
//!
//! Bindings render [`ErrorCode`] idiomatically (Go `Code()`, JS `err.code`, Java `getCode()`) and
//! the conformance runner compares codes by their [`ErrorCode::as_str`] name, so a code means the
//! same thing in every language. Each code's doc says what the caller should do.

use std::fmt;

/// What went wrong, as a closed list. The names are part of the cross-language contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The call itself is wrong: a bad table name, option, URL or record type for this stream.
    /// Fix the call; retrying it unchanged fails again.
    InvalidArgument,
    /// A record does not fit the stream: malformed JSON, a value that does not match the proto
    /// descriptor, proto bytes on a JSON stream. Fix or drop the record; the stream is unaffected.
    InvalidRecord,
    /// One ingest call carries more than 10,420,224 bytes of records. Split it; nothing was sent.
    RecordTooLarge,
    /// The non-blocking `try_` form found the in-flight bound reached. Wait for acks (or call the
    /// blocking form) and try again; nothing was queued.
    QueueFull,
    /// The stream was closed by the caller. Create a new stream to ingest more.
    StreamClosed,
    /// A flush, wait or connection attempt did not finish in its time bound. Records stay queued
    /// (flush/wait) and may still be acknowledged; retrying the wait is safe.
    Timeout,
    /// Credentials were rejected: the token endpoint refused the client id/secret, or the server
    /// refused the token twice. Fix the credentials; not retryable.
    Unauthenticated,
    /// The credentials are valid but lack the privileges for this table. Grant them; not retryable.
    PermissionDenied,
    /// The table (or the service path) does not exist. Check the name; not retryable.
    NotFound,
    /// The server or the network could not be reached or dropped the stream, and recovery (if on)
    /// ran out of retries. Retryable: re-ingest `get_unacked_batches()` on a new stream.
    Unavailable,
    /// The server answered with a gRPC status not covered above; see `grpc_status()`.
    /// Retryable or not as `is_retryable()` says.
    ServerError,
    /// The server broke the protocol (an ack below the last one or above what was sent, a missing
    /// create response). Not retryable; report it.
    ProtocolError,
    /// The token endpoint failed (5xx, unreachable, slow) past the retry budget. Retryable.
    TokenEndpointError,
    /// A bug in the SDK or a panic in a callback that was contained. Report it.
    Internal,
}

impl ErrorCode {
    /// The stable, cross-language name of the code (`"INVALID_ARGUMENT"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::InvalidRecord => "INVALID_RECORD",
            ErrorCode::RecordTooLarge => "RECORD_TOO_LARGE",
            ErrorCode::QueueFull => "QUEUE_FULL",
            ErrorCode::StreamClosed => "STREAM_CLOSED",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::ServerError => "SERVER_ERROR",
            ErrorCode::ProtocolError => "PROTOCOL_ERROR",
            ErrorCode::TokenEndpointError => "TOKEN_ENDPOINT_ERROR",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// Every code, in declaration order (bindings generate their constants from this).
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::InvalidArgument,
        ErrorCode::InvalidRecord,
        ErrorCode::RecordTooLarge,
        ErrorCode::QueueFull,
        ErrorCode::StreamClosed,
        ErrorCode::Timeout,
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::NotFound,
        ErrorCode::Unavailable,
        ErrorCode::ServerError,
        ErrorCode::ProtocolError,
        ErrorCode::TokenEndpointError,
        ErrorCode::Internal,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An SDK error: a [`ErrorCode`], a message for people, and the server's gRPC status code when
/// the server answered. Messages never contain tokens or secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZerobusError {
    code: ErrorCode,
    grpc_status: Option<i32>,
    message: String,
}

/// Result alias used throughout the SDK.
pub type ZerobusResult<T> = Result<T, ZerobusError>;

impl ZerobusError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ZerobusError { code, grpc_status: None, message: message.into() }
    }

    /// An error carrying the server's gRPC status code.
    pub fn with_grpc(code: ErrorCode, grpc_status: i32, message: impl Into<String>) -> Self {
        ZerobusError { code, grpc_status: Some(grpc_status), message: message.into() }
    }

    /// What went wrong, as a code from the closed list.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The gRPC status code the server answered with, if the error came from the server.
    pub fn grpc_status(&self) -> Option<i32> {
        self.grpc_status
    }

    /// The human-readable message (no secrets, no tokens).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the same operation may succeed later (on this stream after recovery, or on a new
    /// stream with the same records). Follows PROTOCOL.md §5: INVALID_ARGUMENT, UNAUTHENTICATED,
    /// PERMISSION_DENIED, OUT_OF_RANGE, UNIMPLEMENTED and NOT_FOUND from the server are final.
    pub fn is_retryable(&self) -> bool {
        match self.code {
            ErrorCode::Unavailable
            | ErrorCode::Timeout
            | ErrorCode::QueueFull
            | ErrorCode::TokenEndpointError => true,
            ErrorCode::ServerError => self.grpc_status.is_none_or(grpc_code_is_retryable),
            _ => false,
        }
    }

    /// Prefixes the message with context, keeping code and status.
    pub(crate) fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    pub(crate) fn invalid_record(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRecord, message)
    }

    pub(crate) fn closed() -> Self {
        Self::new(ErrorCode::StreamClosed, "the stream is closed; create a new stream to ingest more")
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// Maps a gRPC status from the server to our code list.
    pub(crate) fn from_status(status: &tonic::Status) -> Self {
        use tonic::Code;
        let code = match status.code() {
            Code::InvalidArgument | Code::OutOfRange => ErrorCode::InvalidArgument,
            Code::Unauthenticated => ErrorCode::Unauthenticated,
            Code::PermissionDenied => ErrorCode::PermissionDenied,
            Code::NotFound | Code::Unimplemented => ErrorCode::NotFound,
            Code::Unavailable => ErrorCode::Unavailable,
            Code::DeadlineExceeded => ErrorCode::Timeout,
            _ => ErrorCode::ServerError,
        };
        let detail = status.message();
        let message = if detail.is_empty() {
            format!("server answered {:?}", status.code())
        } else {
            format!("server answered {:?}: {detail}", status.code())
        };
        Self::with_grpc(code, status.code() as i32, message)
    }
}

/// Whether a gRPC status code from the server is worth a reconnect (PROTOCOL.md §5).
pub(crate) fn grpc_code_is_retryable(code: i32) -> bool {
    use tonic::Code;
    !matches!(
        Code::from(code),
        Code::InvalidArgument
            | Code::Unauthenticated
            | Code::PermissionDenied
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::NotFound
    )
}

impl fmt::Display for ZerobusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ZerobusError {}
