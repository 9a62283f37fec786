package main

import (
	"bytes"
	"io"
	"strconv"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// jsonRecord is conformance/src/records.rs json_record: {"seed":S,"seq":I,"pad":"…"} padded
// with letters to exactly size bytes (never shorter than the record without padding).
func jsonRecord(seed, index uint64, size int) []byte {
	head := `{"seed":` + strconv.FormatUint(seed, 10) + `,"seq":` + strconv.FormatUint(index, 10) + `,"pad":"`
	const tail = `"}`
	padLen := max(size-len(head)-len(tail), 0)
	out := make([]byte, 0, len(head)+padLen+len(tail))
	out = append(out, head...)
	out = appendPad(out, seed, index, padLen)
	return append(out, tail...)
}

// protoRecord is records.rs proto_record: field 1 seed, field 2 seq (varints), field 3 the pad,
// as long as possible while the encoding is at most size bytes.
func protoRecord(seed, index uint64, size int) []byte {
	out := make([]byte, 0, size+8)
	out = append(out, 0x08)
	out = appendVarint(out, seed)
	out = append(out, 0x10)
	out = appendVarint(out, index)
	fixed := len(out) + 1
	padLen := max(size-(fixed+1), 0)
	for padLen > 0 && fixed+varintLen(uint64(padLen))+padLen > size {
		padLen--
	}
	out = append(out, 0x1a)
	out = appendVarint(out, uint64(padLen))
	return appendPad(out, seed, index, padLen)
}

func appendPad(out []byte, seed, index uint64, n int) []byte {
	x := seed*0x9E3779B97F4A7C15 + index + 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		out = append(out, byte('a'+x%26))
	}
	return out
}

func appendVarint(out []byte, v uint64) []byte {
	for v >= 0x80 {
		out = append(out, byte(v)|0x80)
		v >>= 7
	}
	return append(out, byte(v))
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
