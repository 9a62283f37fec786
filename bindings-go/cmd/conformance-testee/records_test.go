package main

import (
	"encoding/json"
	"testing"
)

// The generators follow conformance/src/records.rs; the runner checks the server's copy byte
// for byte, and these tests pin the shape.
func TestJSONRecord(t *testing.T) {
	for _, size := range []int{10, 40, 220, 10_000} {
		r := jsonRecord(7, 123, size)
		if want := max(size, len(jsonRecord(7, 123, 0))); len(r) != want {
			t.Errorf("size %d: got %d bytes, want %d", size, len(r), want)
		}
		var v struct{ Seed, Seq int }
		if err := json.Unmarshal(r, &v); err != nil || v.Seed != 7 || v.Seq != 123 {
			t.Errorf("size %d: %s does not parse: %v", size, r, err)
		}
	}
	if string(jsonRecord(1, 0, 40)) != `{"seed":1,"seq":0,"pad":"`+string(appendPad(nil, 1, 0, 13))+`"}` {
		t.Error("layout")
	}
}

func TestProtoRecord(t *testing.T) {
	for _, size := range []int{20, 220, 300, 10_000} {
		r := protoRecord(3, 9, size)
		if len(r) != size {
			t.Errorf("size %d: got %d bytes", size, len(r))
		}
		if r[0] != 0x08 || r[1] != 3 || r[2] != 0x10 || r[3] != 9 || r[4] != 0x1a {
			t.Errorf("size %d: header % x", size, r[:5])
		}
	}
}
