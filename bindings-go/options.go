package zerobus

// RecordType is the encoding of a stream's records.
type RecordType int32

const (
	// RecordTypeUnspecified leaves the choice to the default (Proto).
	RecordTypeUnspecified RecordType = 0
	// RecordTypeProto: protocol buffer records described by TableProperties.DescriptorProto.
	RecordTypeProto RecordType = 1
	// RecordTypeJson: JSON object records, as UTF-8 text.
	RecordTypeJson RecordType = 2
)

// Defaults of the core (zerobus.h, zerobus_stream_options_new).
const (
	DefaultMaxInflightRequests      uint64 = 50_000
	DefaultMaxInflightBytes         uint64 = 64 << 20
	DefaultRecoveryTimeoutMs        uint64 = 15_000
	DefaultRecoveryBackoffMs        uint64 = 2_000
	DefaultRecoveryBackoffMaxMs     uint64 = 30_000
	DefaultRecoveryRetries          uint32 = 4
	DefaultServerLackOfAckTimeoutMs uint64 = 60_000
	DefaultFlushTimeoutMs           uint64 = 300_000
	DefaultCallbackMaxWaitTimeMs    uint64 = 5_000
)

// StreamConfigurationOptions configures a new stream. Start from
// DefaultStreamConfigurationOptions(): every field then holds its default and every value you
// set, zero included, is passed on as is (MaxInflightRequests = 0 means one call at a time,
// ServerLackOfAckTimeoutMs = 0 means never, *StreamPausedMaxWaitTimeMs = 0 means reconnect at
// once). In a struct literal not derived from DefaultStreamConfigurationOptions, a zero numeric
// field means "the default" instead, so a forgotten field can never become a zero timeout.
// Values are passed on unchecked: the library checks every option against its range when the
// stream is created (the error, CodeInvalidArgument, names the option, the value and the range).
type StreamConfigurationOptions struct {
	// Bound on unacknowledged ingest calls (default 50,000).
	MaxInflightRequests uint64
	// Bound on unacknowledged record bytes (default 64 MiB).
	MaxInflightBytes uint64
	// Reconnect and resend after retryable failures (default true).
	Recovery bool
	// Bound on each connection attempt, ms (default 15,000).
	RecoveryTimeoutMs uint64
	// Wait before the second connection attempt in a row, ms (default 2,000). The first attempt
	// after a connection that delivered acks goes at once; later waits double up to
	// RecoveryBackoffMaxMs, each plus up to a quarter at random.
	RecoveryBackoffMs uint64
	// Cap on the wait between connection attempts, ms (default 30,000).
	RecoveryBackoffMaxMs uint64
	// Connection attempts in a row without an ack before the stream fails (default 4).
	RecoveryRetries uint32
	// Reconnect when records wait this long with nothing from the server, ms (default 60,000).
	ServerLackOfAckTimeoutMs uint64
	// Bound on Flush, WaitForOffset and Close's flush, ms (default 300,000).
	FlushTimeoutMs uint64
	// Record encoding (default Proto).
	RecordType RecordType
	// After a server close signal, wait at most this long for acks before reconnecting, ms.
	// nil: the duration the server announces.
	StreamPausedMaxWaitTimeMs *uint64
	// How long Close waits for running callbacks, ms. nil: 5,000.
	CallbackMaxWaitTimeMs *uint64
	// AckCallback, when set, is called once per acknowledged offset, in order, on a library
	// thread, never after Close returns. It must not call blocking methods of the stream.
	AckCallback func(offset int64)
	// ErrorCallback, when set, is called once per offset that failed for good, in order.
	ErrorCallback func(offset int64, message string)

	// complete is true when the struct came from DefaultStreamConfigurationOptions.
	complete bool
}

// DefaultStreamConfigurationOptions returns options holding every default.
func DefaultStreamConfigurationOptions() *StreamConfigurationOptions {
	return &StreamConfigurationOptions{
		MaxInflightRequests:      DefaultMaxInflightRequests,
		MaxInflightBytes:         DefaultMaxInflightBytes,
		Recovery:                 true,
		RecoveryTimeoutMs:        DefaultRecoveryTimeoutMs,
		RecoveryBackoffMs:        DefaultRecoveryBackoffMs,
		RecoveryBackoffMaxMs:     DefaultRecoveryBackoffMaxMs,
		RecoveryRetries:          DefaultRecoveryRetries,
		ServerLackOfAckTimeoutMs: DefaultServerLackOfAckTimeoutMs,
		FlushTimeoutMs:           DefaultFlushTimeoutMs,
		RecordType:               RecordTypeProto,
		complete:                 true,
	}
}

// resolved is what is handed to the C options: for a literal, zero numeric fields become unset.
type resolvedOptions struct {
	maxInflightRequests, maxInflightBytes            *uint64
	recovery                                         *bool
	recoveryTimeoutMs, recoveryBackoffMs             *uint64
	recoveryBackoffMaxMs                             *uint64
	recoveryRetries                                  *uint32
	serverLackOfAckTimeoutMs, flushTimeoutMs         *uint64
	recordType                                       RecordType
	streamPausedMaxWaitTimeMs, callbackMaxWaitTimeMs *uint64
	onAck                                            func(int64)
	onError                                          func(int64, string)
}

func (o *StreamConfigurationOptions) resolve() resolvedOptions {
	var r resolvedOptions
	if o == nil {
		return r
	}
	u64 := func(v uint64) *uint64 {
		if v == 0 && !o.complete {
			return nil
		}
		return &v
	}
	r.maxInflightRequests = u64(o.MaxInflightRequests)
	r.maxInflightBytes = u64(o.MaxInflightBytes)
	if o.complete || o.Recovery {
		// A literal cannot tell "false" from "unset"; false is only honoured from the defaults.
		v := o.Recovery
		r.recovery = &v
	}
	r.recoveryTimeoutMs = u64(o.RecoveryTimeoutMs)
	r.recoveryBackoffMs = u64(o.RecoveryBackoffMs)
	r.recoveryBackoffMaxMs = u64(o.RecoveryBackoffMaxMs)
	if o.RecoveryRetries != 0 || o.complete {
		v := o.RecoveryRetries
		r.recoveryRetries = &v
	}
	r.serverLackOfAckTimeoutMs = u64(o.ServerLackOfAckTimeoutMs)
	r.flushTimeoutMs = u64(o.FlushTimeoutMs)
	r.recordType = o.RecordType
	if o.StreamPausedMaxWaitTimeMs != nil {
		v := *o.StreamPausedMaxWaitTimeMs
		r.streamPausedMaxWaitTimeMs = &v
	}
	if o.CallbackMaxWaitTimeMs != nil {
		v := *o.CallbackMaxWaitTimeMs
		r.callbackMaxWaitTimeMs = &v
	}
	r.onAck, r.onError = o.AckCallback, o.ErrorCallback
	return r
}
