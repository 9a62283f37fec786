// Command zerobus-bench-go is the Go binding's driver for `make bench` (bench/DRIVER.md): one
// process per run, JSON records, default options, one "RESULT records=N seconds=S" line on stdout.
// With --format taxi-arrow it reads the taxi pool directory (--pool DIR: DIR/0.arrows, 1.arrows, …,
// each an Arrow IPC stream of one batch of --batch rows), opens an Arrow stream with the schema of
// 0.arrows and passes each file's bytes as they are to IngestIPCNoCopy (the pool is never
// written), batch j%K on call j. With --format taxi it reads DIR/rows.jsonl into one buffer plus
// lengths (record k is line k%R) and passes --batch of them per IngestRecordsContiguousOffset call
// on a JSON stream; --format
// taxi-typed passes the same to IngestJSONRecordsContiguousOffset on a Proto stream created from
// the table (no descriptor: the library reads the table's schema and encodes the rows by it).
//
// `make go-bench` builds it with the build tag zerobus_release, which links
// target/release/libzerobus.a instead of the debug library `make go-test` uses.
//
//	zerobus-bench-go --mode single|nowait|batch [--format json|taxi|taxi-typed|taxi-arrow] --size BYTES --records N [--batch B] [--seconds S] [--pool DIR]
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	zerobus "github.com/databricks/zerobus-sdk-go"
)

// pool is the number of distinct records (DRIVER.md).
const pool = 1000

// nativeLib is set at link time (go.mk) to the C library's mtime, so that a rebuilt library
// relinks the driver.
var nativeLib string

type args struct {
	mode    string
	format  string // "json", "taxi", "taxi-typed" or "taxi-arrow"
	pool    string // --pool DIR (the taxi formats)
	size    int
	records int
	batch   int
	seconds float64 // 0: no cap
}

const usage = "usage: zerobus-bench-go --mode single|nowait|batch [--format json|taxi|taxi-typed|taxi-arrow] --size BYTES --records N [--batch B] [--seconds S] [--pool DIR] " +
	"(env ZEROBUS_ENDPOINT, ZEROBUS_WORKSPACE_URL, ZEROBUS_CLIENT_ID, ZEROBUS_CLIENT_SECRET, ZEROBUS_TABLE)"

func parse(argv []string) (args, error) {
	a := args{mode: "single", format: "json", size: 220, records: 100_000, batch: 1000}
	for i := 0; i < len(argv); i += 2 {
		if i+1 >= len(argv) {
			return a, fmt.Errorf("%s needs a value", argv[i])
		}
		flag, value := argv[i], argv[i+1]
		number := func() (int, error) {
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("%s %q is not a number", flag, value)
			}
			return n, nil
		}
		var err error
		switch flag {
		case "--mode":
			if value != "single" && value != "nowait" && value != "batch" {
				return a, fmt.Errorf("unknown mode %q", value)
			}
			a.mode = value
		case "--format":
			// JSON and the taxi pool's rows: proto records are for the drivers the runner names in
			// --proto-surfaces.
			if value != "json" && value != "taxi" && value != "taxi-typed" && value != "taxi-arrow" {
				return a, fmt.Errorf("--format %q: this driver takes json, taxi, taxi-typed or taxi-arrow", value)
			}
			a.format = value
		case "--pool":
			a.pool = value
		case "--size":
			a.size, err = number()
		case "--records":
			a.records, err = number()
		case "--batch":
			a.batch, err = number()
			a.batch = max(a.batch, 1)
		case "--seconds":
			a.seconds, err = strconv.ParseFloat(value, 64)
		case "--max-inflight-requests":
			// Only the published SDK's driver honours it (DRIVER.md).
		default:
			return a, fmt.Errorf("unknown option %s", flag)
		}
		if err != nil {
			return a, err
		}
	}
	if a.format != "json" {
		// The taxi formats: --size is ignored.
		switch {
		case a.mode != "batch":
			return a, fmt.Errorf("--format %s runs in --mode batch (rows per call: --batch)", a.format)
		case a.pool == "":
			return a, fmt.Errorf("--format %s needs --pool DIR", a.format)
		case a.format == "taxi-arrow" && a.records%a.batch != 0:
			// A short last call would mean slicing an IPC stream; the runner never asks for one.
			return a, fmt.Errorf("--records must be a multiple of --batch for taxi-arrow (%d, %d)", a.records, a.batch)
		}
		return a, nil
	}
	if a.size < 20 {
		return a, fmt.Errorf("--size %d is below the 20-byte minimum", a.size)
	}
	if a.mode == "batch" && pool%a.batch != 0 {
		return a, fmt.Errorf("--batch %d does not divide the pool of %d", a.batch, pool)
	}
	return a, nil
}

// records builds DRIVER.md's pool: record k is {"i":K,"p":"x…x"}, exactly size bytes.
func records(size int) [][]byte {
	out := make([][]byte, pool)
	for k := range out {
		head := `{"i":` + strconv.Itoa(k) + `,"p":"`
		r := make([]byte, 0, size)
		r = append(r, head...)
		for len(r) < size-2 {
			r = append(r, 'x')
		}
		out[k] = append(r, `"}`...)
	}
	return out
}

// arrowPool reads DIR/0.arrows, DIR/1.arrows, … until the next number is missing: each file's
// bytes, an IPC stream of one batch, as IngestIPC takes them.
func arrowPool(dir string) ([][]byte, error) {
	var out [][]byte
	for k := 0; ; k++ {
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(k)+".arrows"))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--pool %s: no 0.arrows", dir)
	}
	return out, nil
}

// jsonPool is DIR/rows.jsonl as the contiguous batch calls take it: the R lines without their
// newlines back to back in data, twice over, lengths[k] and starts[k] the length and start of
// record k (k < 2R, starts[2R] = len(data)), so that records q .. q+n of any call (q < R, n <= R)
// are one slice.
type jsonPool struct {
	data            []byte
	lengths, starts []int
	rows            int
}

func readJSONPool(dir string) (*jsonPool, error) {
	text, err := os.ReadFile(filepath.Join(dir, "rows.jsonl"))
	if err != nil {
		return nil, err
	}
	if len(text) == 0 {
		return nil, fmt.Errorf("--pool %s: rows.jsonl is empty", dir)
	}
	lines := bytes.Split(bytes.TrimSuffix(text, []byte("\n")), []byte("\n"))
	p := &jsonPool{data: make([]byte, 0, 2*len(text)), rows: len(lines)}
	for pass := 0; pass < 2; pass++ {
		for _, line := range lines {
			p.starts = append(p.starts, len(p.data))
			p.lengths = append(p.lengths, len(line))
			p.data = append(p.data, line...)
		}
	}
	p.starts = append(p.starts, len(p.data))
	return p, nil
}

func env(name string) string {
	v := os.Getenv(name)
	if v == "" {
		fail(2, "%s is not set\n%s", name, usage)
	}
	return v
}

func fail(code int, format string, a ...any) {
	fmt.Fprintf(os.Stderr, "zerobus-bench-go: "+format+"\n", a...)
	os.Exit(code)
}

func main() {
	a, err := parse(os.Args[1:])
	if err != nil {
		fail(2, "%v\n%s", err, usage)
	}
	endpoint, workspace := env("ZEROBUS_ENDPOINT"), env("ZEROBUS_WORKSPACE_URL")
	clientID, secret, table := env("ZEROBUS_CLIENT_ID"), env("ZEROBUS_CLIENT_SECRET"), env("ZEROBUS_TABLE")

	sdk, err := zerobus.NewZerobusSdk(endpoint, workspace)
	if err != nil {
		fail(1, "%v", err)
	}
	defer sdk.Free()
	switch a.format {
	case "taxi-arrow":
		runArrow(a, sdk, table, clientID, secret)
		return
	case "taxi", "taxi-typed":
		runTaxi(a, sdk, table, clientID, secret)
		return
	}
	recs := records(a.size)
	options := zerobus.DefaultStreamConfigurationOptions()
	options.RecordType = zerobus.RecordTypeJson
	stream, err := sdk.CreateStream(zerobus.TableProperties{TableName: table}, clientID, secret, options)
	if err != nil {
		fail(1, "%v", err)
	}

	start := time.Now()
	expired := deadline(a, start)
	done := 0
	switch a.mode {
	case "single":
		for j := 0; done < a.records && !expired(j); j++ {
			if _, err = stream.IngestRecordOffset(recs[j%pool]); err != nil {
				fail(1, "%v", err)
			}
			done++
		}
	case "nowait":
		for j := 0; done < a.records && !expired(j); j++ {
			if err = stream.IngestRecordNowait(recs[j%pool]); err != nil {
				fail(1, "%v", err)
			}
			done++
		}
	case "batch":
		// The pool back to back, as the contiguous batch call takes it.
		var data []byte
		lengths := make([]int, pool)
		starts := make([]int, pool+1)
		for k, r := range recs {
			starts[k] = len(data)
			lengths[k] = len(r)
			data = append(data, r...)
		}
		starts[pool] = len(data)
		// The cap is checked before every batch call: a call holds up to 1000 records, and
		// DRIVER.md asks for a check at least every 1024 records.
		for j := 0; done < a.records && !expired(0); j++ {
			n := min(a.batch, a.records-done)
			q := (j * a.batch) % pool
			if _, err = stream.IngestRecordsContiguousOffset(data[starts[q]:starts[q+n]], lengths[q:q+n]); err != nil {
				fail(1, "%v", err)
			}
			done += n
		}
	}
	finish(stream, done, start)
}

// deadline returns the --seconds check: expired(j) is true once the cap has passed, looked at when
// j is a multiple of 1024 (single records: j is the record number; batch calls pass 0).
func deadline(a args, start time.Time) func(j int) bool {
	if a.seconds <= 0 {
		return func(int) bool { return false }
	}
	limit := time.Duration(a.seconds * float64(time.Second))
	return func(j int) bool { return j%1024 == 0 && time.Since(start) >= limit }
}

// runArrow is --format taxi-arrow: an Arrow stream with the schema of 0.arrows (default options),
// then records/batch IngestIPCNoCopy calls, call j passing pool file j%K's bytes as they are.
// finish flushes (which stops the clock started at start), prints the RESULT line and closes.
func finish(stream *zerobus.ZerobusStream, done int, start time.Time) {
	if err := stream.Flush(); err != nil {
		fail(1, "%v", err)
	}
	fmt.Printf("RESULT records=%d seconds=%.6f\n", done, time.Since(start).Seconds())
	if err := stream.Close(); err != nil {
		fail(1, "%v", err)
	}
}

func runArrow(a args, sdk *zerobus.ZerobusSdk, table, clientID, secret string) {
	batches, err := arrowPool(a.pool)
	if err != nil {
		fail(1, "%v", err)
	}
	ctx := context.Background()
	stream, err := sdk.CreateArrowStream(ctx, table, batches[0], clientID, secret, zerobus.DefaultArrowStreamOptions())
	if err != nil {
		fail(1, "%v", err)
	}
	start := time.Now()
	expired := deadline(a, start)
	done := 0
	for j := 0; done < a.records && !expired(0); j++ {
		if _, err := stream.IngestIPCNoCopy(ctx, batches[j%len(batches)]); err != nil {
			fail(1, "%v", err)
		}
		done += a.batch
	}
	if err := stream.Flush(ctx); err != nil {
		fail(1, "%v", err)
	}
	fmt.Printf("RESULT records=%d seconds=%.6f\n", done, time.Since(start).Seconds())
	if err := stream.Close(); err != nil {
		fail(1, "%v", err)
	}
}

// runTaxi is --format taxi (a JSON stream, IngestRecordsContiguousOffset) and taxi-typed (a Proto
// stream created from the table, IngestJSONRecordsContiguousOffset: the library encodes the JSON
// text by the table's columns): call j passes records (j*B)%R .. +B of rows.jsonl, read before the
// stream is created and the clock starts.
func runTaxi(a args, sdk *zerobus.ZerobusSdk, table, clientID, secret string) {
	p, err := readJSONPool(a.pool)
	if err != nil {
		fail(1, "%v", err)
	}
	if a.batch > p.rows {
		fail(2, "--batch %d is above the pool's %d rows", a.batch, p.rows)
	}
	typed := a.format == "taxi-typed"
	options := zerobus.DefaultStreamConfigurationOptions()
	if typed {
		// RecordTypeProto (the default) and no descriptor: the stream is created from the table.
		options.RecordType = zerobus.RecordTypeProto
	} else {
		options.RecordType = zerobus.RecordTypeJson
	}
	stream, err := sdk.CreateStream(zerobus.TableProperties{TableName: table}, clientID, secret, options)
	if err != nil {
		fail(1, "%v", err)
	}
	start := time.Now()
	expired := deadline(a, start)
	done := 0
	// The cap is checked before every call, which is at least every 1024 records for B <= 1024
	// and what DRIVER.md asks above that.
	for j := 0; done < a.records && !expired(0); j++ {
		n := min(a.batch, a.records-done)
		q := (j * a.batch) % p.rows
		data, lengths := p.data[p.starts[q]:p.starts[q+n]], p.lengths[q:q+n]
		if typed {
			_, err = stream.IngestJSONRecordsContiguousOffset(data, lengths)
		} else {
			_, err = stream.IngestRecordsContiguousOffset(data, lengths)
		}
		if err != nil {
			fail(1, "%v", err)
		}
		done += n
	}
	finish(stream, done, start)
}
