//! Fault scripts: what the mock server does wrong on purpose. Scripts are plain data so that
//! conformance cases can carry them as JSON.

use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;

/// Everything the server should do wrong until the next `set_faults` or `reset`.
///
/// ```
/// use zerobus_conformance::mock::FaultScript;
/// let script: FaultScript = serde_json::from_str(r#"{
///     "streams": [{"connection": 1, "kind": "drop_after", "messages": 3}],
///     "ack_delay_ms": 20,
///     "token": {"reject_next": 1}
/// }"#).unwrap();
/// assert_eq!(script.streams.len(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultScript {
    /// Per-connection faults; each applies to one connection (1-based `EphemeralStream` call
    /// index since the last `set_faults`/`reset`) or to every connection.
    pub streams: Vec<StreamFault>,
    /// Delay every ack by this long; acks stay in order.
    pub ack_delay_ms: u64,
    /// Token endpoint faults.
    pub token: TokenFaults,
    /// Per-stream quota: the server reads slower, like the real service's limits.
    pub rate_limit: Option<RateLimit>,
}

/// One stream fault and the connection it applies to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StreamFault {
    /// 1-based connection index; `None` applies the fault to every connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<u32>,
    /// What to do.
    #[serde(flatten)]
    pub action: StreamAction,
}

// serde cannot combine `flatten` with `deny_unknown_fields`, so split the map by hand: take
// `connection`, hand the rest to the internally tagged action, which rejects unknown fields.
impl<'de> Deserialize<'de> for StreamFault {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let connection = match map.remove("connection") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(u32::deserialize(v).map_err(D::Error::custom)?),
        };
        let action = StreamAction::deserialize(serde_json::Value::Object(map)).map_err(D::Error::custom)?;
        Ok(StreamFault { connection, action })
    }
}

/// What the server does on a connection. Message counts are ingest messages (`ingest_record` or
/// `ingest_record_batch`), not counting `create_stream`; `0` means right after the stream opens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StreamAction {
    /// Answer `create_stream` with this status (after the request passed validation).
    CreateStatus {
        /// Status to answer with.
        code: GrpcCode,
    },
    /// After N messages (stored and acked) end the call with this status.
    StatusAfter {
        /// Messages to accept first.
        messages: u64,
        /// Status to end with; `OK` is a clean server end of stream.
        code: GrpcCode,
    },
    /// After N messages (stored and acked) end the call abruptly with
    /// `UNAVAILABLE "connection dropped"`.
    DropAfter {
        /// Messages to accept first.
        messages: u64,
    },
    /// Store but never ack messages after the first N (0 = never ack).
    WithholdAcksAfter {
        /// Messages to ack normally.
        messages: u64,
    },
    /// After N messages send `CloseStreamSignal{duration}`, keep acking, and end the call with OK
    /// once the duration has passed.
    CloseSignalAfter {
        /// Messages to accept before the signal.
        messages: u64,
        /// Announced duration, and how long until the server ends the call.
        duration_ms: u64,
    },
    /// Arrow streams only: after N record batches, forget the last `unacked_rows` rows received
    /// (they are not stored), ack the rest (`ack_up_to_records`), and end the call abruptly with
    /// `UNAVAILABLE`: the client must resend from its first unacked row, which may sit inside a
    /// batch.
    PartialAckAfter {
        /// Record batches to accept first.
        messages: u64,
        /// Rows at the end of what arrived that are left unacked (and unstored).
        unacked_rows: u64,
    },
}

/// Token endpoint faults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenFaults {
    /// Answer the next N token requests `401 {"error":"invalid_client"}`.
    pub reject_next: u32,
    /// Answer the next N token requests `503`.
    pub fail_next: u32,
    /// Answer every token request this late.
    pub delay_ms: u64,
    /// `expires_in` of issued tokens, overriding the server config.
    pub lifetime_secs: Option<u64>,
    /// After this many ingest messages on the first connection, revoke that connection's token
    /// and end the call with UNAUTHENTICATED; a newly issued token works again.
    pub invalidate_after_messages: Option<u64>,
    /// End a live call with UNAUTHENTICATED at its first ingest message after its token
    /// expired (a server that checks tokens on open only never does this).
    pub expire_live_streams: bool,
}

/// Per-stream throughput quota.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    /// Records per second.
    pub records_per_sec: Option<u64>,
    /// Record payload bytes per second.
    pub bytes_per_sec: Option<u64>,
}

/// A gRPC status code, spelled as the canonical upper-case name (`"UNAVAILABLE"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum GrpcCode {
    Ok,
    Cancelled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

impl From<GrpcCode> for tonic::Code {
    fn from(code: GrpcCode) -> tonic::Code {
        use tonic::Code as C;
        match code {
            GrpcCode::Ok => C::Ok,
            GrpcCode::Cancelled => C::Cancelled,
            GrpcCode::Unknown => C::Unknown,
            GrpcCode::InvalidArgument => C::InvalidArgument,
            GrpcCode::DeadlineExceeded => C::DeadlineExceeded,
            GrpcCode::NotFound => C::NotFound,
            GrpcCode::AlreadyExists => C::AlreadyExists,
            GrpcCode::PermissionDenied => C::PermissionDenied,
            GrpcCode::ResourceExhausted => C::ResourceExhausted,
            GrpcCode::FailedPrecondition => C::FailedPrecondition,
            GrpcCode::Aborted => C::Aborted,
            GrpcCode::OutOfRange => C::OutOfRange,
            GrpcCode::Unimplemented => C::Unimplemented,
            GrpcCode::Internal => C::Internal,
            GrpcCode::Unavailable => C::Unavailable,
            GrpcCode::DataLoss => C::DataLoss,
            GrpcCode::Unauthenticated => C::Unauthenticated,
        }
    }
}

/// The faults of one connection, resolved once when the call arrives so that the hot path
/// compares integers instead of walking the script.
#[derive(Debug, Default)]
pub(crate) struct ConnFaults {
    pub create_status: Option<tonic::Code>,
    pub status_after: Option<(u64, tonic::Code)>,
    pub drop_after: Option<u64>,
    pub withhold_after: Option<u64>,
    pub close_after: Option<(u64, Duration)>,
    pub partial_ack_after: Option<(u64, u64)>,
    pub invalidate_after: Option<u64>,
    pub expire_live: bool,
    pub ack_delay: Option<Duration>,
    pub records_per_sec: Option<u64>,
    pub bytes_per_sec: Option<u64>,
}

impl ConnFaults {
    /// Resolves `script` for connection `index`; of several faults of one kind the first in
    /// script order wins.
    pub fn resolve(script: &FaultScript, index: u32) -> ConnFaults {
        let mut f = ConnFaults {
            ack_delay: (script.ack_delay_ms > 0).then(|| Duration::from_millis(script.ack_delay_ms)),
            invalidate_after: if index == 1 { script.token.invalidate_after_messages } else { None },
            expire_live: script.token.expire_live_streams,
            ..ConnFaults::default()
        };
        if let Some(rate) = &script.rate_limit {
            f.records_per_sec = rate.records_per_sec.filter(|&r| r > 0);
            f.bytes_per_sec = rate.bytes_per_sec.filter(|&b| b > 0);
        }
        for fault in &script.streams {
            if fault.connection.is_some_and(|c| c != index) {
                continue;
            }
            match fault.action {
                StreamAction::CreateStatus { code } => {
                    f.create_status.get_or_insert(code.into());
                }
                StreamAction::StatusAfter { messages, code } => {
                    f.status_after.get_or_insert((messages, code.into()));
                }
                StreamAction::DropAfter { messages } => {
                    f.drop_after.get_or_insert(messages);
                }
                StreamAction::WithholdAcksAfter { messages } => {
                    f.withhold_after.get_or_insert(messages);
                }
                StreamAction::CloseSignalAfter { messages, duration_ms } => {
                    f.close_after.get_or_insert((messages, Duration::from_millis(duration_ms)));
                }
                StreamAction::PartialAckAfter { messages, unacked_rows } => {
                    f.partial_ack_after.get_or_insert((messages, unacked_rows));
                }
            }
        }
        f
    }
}

/// How a call ends by script once `messages` ingest messages were accepted; the record and the
/// Flight services map it to their own outcomes.
pub(crate) enum ScriptedEnd {
    /// The server ends the call cleanly (`status_after` with OK).
    Clean(String),
    /// The server ends the call with this status.
    Status(tonic::Status),
    /// The connection's token is revoked and the call ends `UNAUTHENTICATED`.
    RevokeToken(tonic::Status),
}

impl ConnFaults {
    /// The scripted end due after `messages` messages, if any (status, drop, token revocation).
    pub fn end_after(&self, messages: u64) -> Option<ScriptedEnd> {
        if let Some((n, code)) = self.status_after {
            if n == messages {
                return Some(if code == tonic::Code::Ok {
                    ScriptedEnd::Clean(format!("stream ended after {n} messages (scripted)"))
                } else {
                    ScriptedEnd::Status(tonic::Status::new(
                        code,
                        format!("stream failed after {n} messages (scripted fault)"),
                    ))
                });
            }
        }
        if self.drop_after == Some(messages) {
            return Some(ScriptedEnd::Status(tonic::Status::unavailable("connection dropped")));
        }
        if self.invalidate_after == Some(messages) {
            return Some(ScriptedEnd::RevokeToken(tonic::Status::unauthenticated(
                "access token revoked (scripted fault)",
            )));
        }
        None
    }
}
