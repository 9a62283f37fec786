package zerobus

import (
	"errors"
	"testing"
)

func TestDefaultsPassZerosThrough(t *testing.T) {
	o := DefaultStreamConfigurationOptions()
	o.MaxInflightRequests = 0
	o.ServerLackOfAckTimeoutMs = 0
	o.Recovery = false
	o.RecoveryRetries = 0
	zero := uint64(0)
	o.StreamPausedMaxWaitTimeMs = &zero
	r := o.resolve()
	if r.maxInflightRequests == nil || *r.maxInflightRequests != 0 {
		t.Error("MaxInflightRequests = 0 must be passed on")
	}
	if r.serverLackOfAckTimeoutMs == nil || *r.serverLackOfAckTimeoutMs != 0 {
		t.Error("ServerLackOfAckTimeoutMs = 0 must be passed on")
	}
	if r.recovery == nil || *r.recovery {
		t.Error("Recovery = false must be passed on")
	}
	if r.recoveryRetries == nil || *r.recoveryRetries != 0 {
		t.Error("RecoveryRetries = 0 must be passed on")
	}
	if r.streamPausedMaxWaitTimeMs == nil || *r.streamPausedMaxWaitTimeMs != 0 {
		t.Error("StreamPausedMaxWaitTimeMs = &0 must be passed on")
	}
	if r.flushTimeoutMs == nil || *r.flushTimeoutMs != DefaultFlushTimeoutMs {
		t.Error("defaults are carried")
	}
	if r.recoveryBackoffMaxMs == nil || *r.recoveryBackoffMaxMs != DefaultRecoveryBackoffMaxMs {
		t.Error("RecoveryBackoffMaxMs default is carried")
	}
	o.RecoveryBackoffMaxMs = 0
	if r := o.resolve(); r.recoveryBackoffMaxMs == nil || *r.recoveryBackoffMaxMs != 0 {
		t.Error("RecoveryBackoffMaxMs = 0 from the defaults must be passed on")
	}
	if r.callbackMaxWaitTimeMs != nil {
		t.Error("nil pointer options stay unset")
	}
	// A copy keeps the "complete" property.
	c := *o
	if c.resolve().maxInflightRequests == nil {
		t.Error("copied defaults lost completeness")
	}
}

func TestLiteralZerosMeanDefault(t *testing.T) {
	r := (&StreamConfigurationOptions{RecordType: RecordTypeJson, FlushTimeoutMs: 5}).resolve()
	if r.maxInflightRequests != nil || r.recoveryTimeoutMs != nil || r.recovery != nil || r.recoveryRetries != nil ||
		r.recoveryBackoffMaxMs != nil {
		t.Error("zero fields of a literal must stay unset")
	}
	if r := (&StreamConfigurationOptions{RecoveryBackoffMaxMs: 7}).resolve(); r.recoveryBackoffMaxMs == nil || *r.recoveryBackoffMaxMs != 7 {
		t.Error("RecoveryBackoffMaxMs of a literal is passed on")
	}
	if r.flushTimeoutMs == nil || *r.flushTimeoutMs != 5 || r.recordType != RecordTypeJson {
		t.Error("set fields of a literal are passed on")
	}
	if r := (*StreamConfigurationOptions)(nil).resolve(); r.flushTimeoutMs != nil || r.recordType != 0 {
		t.Error("nil options are all defaults")
	}
}

func TestCOptionsValidation(t *testing.T) {
	o := DefaultStreamConfigurationOptions()
	o.RecordType = RecordType(7)
	_, err := newCOptions(o.resolve())
	if !errors.Is(err, CodeInvalidArgument) {
		t.Fatalf("bad record type: got %v, want INVALID_ARGUMENT", err)
	}
	co, err := newCOptions(DefaultStreamConfigurationOptions().resolve())
	if err != nil {
		t.Fatal(err)
	}
	freeCOptions(co)
}

// Callback state lives behind a cgo.Handle the library owns and releases exactly once.
func TestCallbackHandleReleasedWithOptions(t *testing.T) {
	waitForHandles(t, 0)
	const before = 0
	o := DefaultStreamConfigurationOptions()
	o.AckCallback = func(int64) {}
	co, err := newCOptions(o.resolve())
	if err != nil {
		t.Fatal(err)
	}
	if got := liveHandles.Load(); got != before+1 {
		t.Fatalf("live handles %d, want %d", got, before+1)
	}
	freeCOptions(co)
	if got := liveHandles.Load(); got != before {
		t.Fatalf("live handles after free %d, want %d", got, before)
	}
	// A failing option after the callback was set still releases it.
	o.RecordType = RecordType(9)
	if _, err := newCOptions(o.resolve()); err == nil {
		t.Fatal("expected an error")
	}
	if got := liveHandles.Load(); got != before {
		t.Fatalf("live handles after a failed build %d, want %d", got, before)
	}
}

func TestBatchPacking(t *testing.T) {
	for _, c := range []struct {
		in   any
		json bool // JSON text: the JSON calls
	}{
		{[][]byte{[]byte("ab"), {}, []byte("cde")}, false},
		{[]string{"ab", "", "cde"}, true},
		{[]any{"ab", []byte{}, []byte("cde")}, true}, // a string in it: a JSON text batch
		{[]any{[]byte("ab"), []byte{}, []byte("cde")}, false},
	} {
		b, err := packBatch(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if string(b.data) != "abcde" || len(b.lens) != 3 || b.lens[0] != 2 || b.lens[1] != 0 || b.lens[2] != 3 {
			t.Errorf("%T packed as %q %v", c.in, b.data, b.lens)
		}
		if b.json != c.json {
			t.Errorf("%#v: json %v, want %v", c.in, b.json, c.json)
		}
		b.release()
	}
	// A pooled batch does not keep the kind of its last use.
	b, _ := packBatch([]string{"x"})
	b.release()
	if b, _ := packBatch([][]byte{[]byte("x")}); b.json {
		t.Error("a [][]byte batch after a []string one is JSON")
	}
	for _, c := range []struct {
		in   any
		json bool
	}{{"{}", true}, {[]byte("{}"), false}} {
		if _, _, json, err := recordArg(c.in); err != nil || json != c.json {
			t.Errorf("recordArg(%T) json %v, %v; want %v", c.in, json, err, c.json)
		}
	}
	if _, err := packBatch([]int{1}); !errors.Is(err, CodeInvalidArgument) {
		t.Errorf("bad batch type: %v", err)
	}
	if _, err := packBatch([]any{1}); !errors.Is(err, CodeInvalidArgument) {
		t.Errorf("bad record type: %v", err)
	}
	if _, _, _, err := recordArg(3); !errors.Is(err, CodeInvalidArgument) {
		t.Errorf("bad single record: %v", err)
	}
}
