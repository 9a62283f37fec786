//! SDK and stream options as `index.js` passes them, converted to the core's. Only the number
//! conversion is checked here; ranges are the core's (`StreamConfigurationOptions::validate`).

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use zerobus_core::{ArrowStreamConfigurationOptions, IpcCompression, RecordType, StreamConfigurationOptions};

use crate::invalid;

/// SDK options as `index.js` passes them.
#[napi(object)]
pub struct NativeSdkOptions {
    /// PEM texts of CA certificates to trust besides the system roots.
    pub ca_certificates_pem: Option<Vec<Buffer>>,
    /// Appended to `user-agent`.
    pub application_name: Option<String>,
}

/// Stream options as `index.js` passes them (camelCase, every field optional; defaults and
/// ranges are the core's).
#[napi(object)]
pub struct NativeOptions {
    /// See `StreamConfigurationOptions::max_inflight_requests`.
    pub max_inflight_requests: Option<f64>,
    /// See `StreamConfigurationOptions::max_inflight_bytes`.
    pub max_inflight_bytes: Option<f64>,
    /// See `StreamConfigurationOptions::recovery`.
    pub recovery: Option<bool>,
    /// See `StreamConfigurationOptions::recovery_timeout_ms`.
    pub recovery_timeout_ms: Option<f64>,
    /// See `StreamConfigurationOptions::recovery_backoff_ms`.
    pub recovery_backoff_ms: Option<f64>,
    /// See `StreamConfigurationOptions::recovery_backoff_max_ms`.
    pub recovery_backoff_max_ms: Option<f64>,
    /// See `StreamConfigurationOptions::recovery_retries`.
    pub recovery_retries: Option<f64>,
    /// See `StreamConfigurationOptions::server_lack_of_ack_timeout_ms`.
    pub server_lack_of_ack_timeout_ms: Option<f64>,
    /// See `StreamConfigurationOptions::flush_timeout_ms`.
    pub flush_timeout_ms: Option<f64>,
    /// Wire value of the record type: 1 = PROTO, 2 = JSON.
    pub record_type: Option<i32>,
    /// See `StreamConfigurationOptions::stream_paused_max_wait_time_ms`.
    pub stream_paused_max_wait_time_ms: Option<f64>,
    /// See `StreamConfigurationOptions::callback_max_wait_time_ms`.
    pub callback_max_wait_time_ms: Option<f64>,
}

/// 2^64 as a JavaScript number: the first integer an unsigned 64-bit field cannot hold.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// A JavaScript number as the core's unsigned integer field. Only the conversion is checked here:
/// a number with no value in the field's type (negative, fractional, not finite, or too large for
/// `bits` bits) is rejected, naming the option. Whether a value is in range is
/// `StreamConfigurationOptions::validate`'s call, made once in the core for every language.
fn unsigned(name: &str, v: Option<f64>, bits: u32) -> napi::Result<Option<u64>> {
    let limit = if bits >= 64 { TWO_POW_64 } else { (1u64 << bits) as f64 };
    match v {
        None => Ok(None),
        Some(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x < limit => Ok(Some(x as u64)),
        Some(x) => Err(invalid(format!(
            "option {name} must be a non-negative integer that fits in {bits} bits, got {}",
            js_number(x)
        ))),
    }
}

/// A number as JavaScript would print it, near enough for a message.
fn js_number(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if x.abs() >= 1e21 {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

fn whole(name: &str, v: Option<f64>) -> napi::Result<Option<u64>> {
    unsigned(name, v, 64)
}

impl NativeOptions {
    pub(crate) fn to_core(&self) -> napi::Result<StreamConfigurationOptions> {
        let mut o = StreamConfigurationOptions::default();
        let size_bits = usize::BITS;
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        if let Some(v) = unsigned("maxInflightRequests", self.max_inflight_requests, size_bits)? {
            o.max_inflight_requests = size(v);
        }
        if let Some(v) = unsigned("maxInflightBytes", self.max_inflight_bytes, size_bits)? {
            o.max_inflight_bytes = size(v);
        }
        if let Some(v) = self.recovery {
            o.recovery = v;
        }
        for (name, value, slot) in [
            ("recoveryTimeoutMs", self.recovery_timeout_ms, &mut o.recovery_timeout_ms),
            ("recoveryBackoffMs", self.recovery_backoff_ms, &mut o.recovery_backoff_ms),
            ("recoveryBackoffMaxMs", self.recovery_backoff_max_ms, &mut o.recovery_backoff_max_ms),
            (
                "serverLackOfAckTimeoutMs",
                self.server_lack_of_ack_timeout_ms,
                &mut o.server_lack_of_ack_timeout_ms,
            ),
            ("flushTimeoutMs", self.flush_timeout_ms, &mut o.flush_timeout_ms),
        ] {
            if let Some(v) = whole(name, value)? {
                *slot = v;
            }
        }
        if let Some(v) = unsigned("recoveryRetries", self.recovery_retries, 32)? {
            o.recovery_retries = u32::try_from(v).unwrap_or(u32::MAX);
        }
        if let Some(v) = whole("streamPausedMaxWaitTimeMs", self.stream_paused_max_wait_time_ms)? {
            o.stream_paused_max_wait_time_ms = Some(v);
        }
        if let Some(v) = whole("callbackMaxWaitTimeMs", self.callback_max_wait_time_ms)? {
            o.callback_max_wait_time_ms = Some(v);
        }
        o.record_type = match self.record_type {
            None | Some(1) => RecordType::Proto,
            Some(2) => RecordType::Json,
            Some(other) => {
                return Err(invalid(format!(
                    "recordType {other} is neither RecordType.Proto (1) nor RecordType.Json (2)"
                )))
            }
        };
        Ok(o)
    }
}

/// Arrow stream options as `index.js` passes them (camelCase, every field optional; defaults and
/// ranges are the core's `ArrowStreamConfigurationOptions`).
#[napi(object)]
pub struct NativeArrowOptions {
    /// See `ArrowStreamConfigurationOptions::max_inflight_batches`.
    pub max_inflight_batches: Option<f64>,
    /// See `ArrowStreamConfigurationOptions::max_inflight_bytes`.
    pub max_inflight_bytes: Option<f64>,
    /// See `ArrowStreamConfigurationOptions::recovery`.
    pub recovery: Option<bool>,
    /// See `ArrowStreamConfigurationOptions::recovery_timeout_ms`.
    pub recovery_timeout_ms: Option<f64>,
    /// See `ArrowStreamConfigurationOptions::recovery_backoff_ms`.
    pub recovery_backoff_ms: Option<f64>,
    /// See `ArrowStreamConfigurationOptions::recovery_backoff_max_ms`.
    pub recovery_backoff_max_ms: Option<f64>,
    /// See `ArrowStreamConfigurationOptions::recovery_retries`.
    pub recovery_retries: Option<f64>,
    /// See `ArrowStreamConfigurationOptions::server_lack_of_ack_timeout_ms`.
    pub server_lack_of_ack_timeout_ms: Option<f64>,
    /// See `ArrowStreamConfigurationOptions::flush_timeout_ms`.
    pub flush_timeout_ms: Option<f64>,
    /// See `ArrowStreamConfigurationOptions::connection_timeout_ms`.
    pub connection_timeout_ms: Option<f64>,
    /// `none`, `lz4_frame` or `zstd` (the core's names, parsed by the core).
    pub ipc_compression: Option<String>,
    /// See `ArrowStreamConfigurationOptions::stream_paused_max_wait_time_ms`.
    pub stream_paused_max_wait_time_ms: Option<f64>,
    /// See `ArrowStreamConfigurationOptions::callback_max_wait_time_ms`.
    pub callback_max_wait_time_ms: Option<f64>,
}

impl NativeArrowOptions {
    pub(crate) fn to_core(&self) -> napi::Result<ArrowStreamConfigurationOptions> {
        let mut o = ArrowStreamConfigurationOptions::default();
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        if let Some(v) = unsigned("maxInflightBatches", self.max_inflight_batches, usize::BITS)? {
            o.max_inflight_batches = size(v);
        }
        if let Some(v) = unsigned("maxInflightBytes", self.max_inflight_bytes, usize::BITS)? {
            o.max_inflight_bytes = size(v);
        }
        if let Some(v) = self.recovery {
            o.recovery = v;
        }
        for (name, value, slot) in [
            ("recoveryTimeoutMs", self.recovery_timeout_ms, &mut o.recovery_timeout_ms),
            ("recoveryBackoffMs", self.recovery_backoff_ms, &mut o.recovery_backoff_ms),
            ("recoveryBackoffMaxMs", self.recovery_backoff_max_ms, &mut o.recovery_backoff_max_ms),
            (
                "serverLackOfAckTimeoutMs",
                self.server_lack_of_ack_timeout_ms,
                &mut o.server_lack_of_ack_timeout_ms,
            ),
            ("flushTimeoutMs", self.flush_timeout_ms, &mut o.flush_timeout_ms),
            ("connectionTimeoutMs", self.connection_timeout_ms, &mut o.connection_timeout_ms),
        ] {
            if let Some(v) = whole(name, value)? {
                *slot = v;
            }
        }
        if let Some(v) = unsigned("recoveryRetries", self.recovery_retries, 32)? {
            o.recovery_retries = u32::try_from(v).unwrap_or(u32::MAX);
        }
        if let Some(v) = whole("streamPausedMaxWaitTimeMs", self.stream_paused_max_wait_time_ms)? {
            o.stream_paused_max_wait_time_ms = Some(v);
        }
        if let Some(v) = whole("callbackMaxWaitTimeMs", self.callback_max_wait_time_ms)? {
            o.callback_max_wait_time_ms = Some(v);
        }
        if let Some(name) = &self.ipc_compression {
            // The core's message names the option `ipc_compression` and lists the names it takes.
            o.ipc_compression = name.parse::<IpcCompression>().map_err(crate::to_js_error)?;
        }
        Ok(o)
    }
}
