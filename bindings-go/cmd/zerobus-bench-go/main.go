// Command zerobus-bench-go is the Go binding's driver for `make bench` (bench/DRIVER.md): one
// process per run, JSON records, default options, one "RESULT records=N seconds=S" line on stdout.
//
// `make go-bench` builds it with the build tag zerobus_release, which links
// target/release/libzerobus.a instead of the debug library `make go-test` uses.
//
//	zerobus-bench-go --mode single|nowait|batch [--format json] --size BYTES --records N [--batch B] [--seconds S]
package main

import (
	"fmt"
	"os"
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
	size    int
	records int
	batch   int
	seconds float64 // 0: no cap
}

const usage = "usage: zerobus-bench-go --mode single|nowait|batch [--format json] --size BYTES --records N [--batch B] [--seconds S] " +
	"(env ZEROBUS_ENDPOINT, ZEROBUS_WORKSPACE_URL, ZEROBUS_CLIENT_ID, ZEROBUS_CLIENT_SECRET, ZEROBUS_TABLE)"

func parse(argv []string) (args, error) {
	a := args{mode: "single", size: 220, records: 100_000, batch: 1000}
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
			// JSON only: proto records are for the drivers the runner names in --proto-surfaces.
			if value != "json" {
				return a, fmt.Errorf("--format %q: this driver takes json only", value)
			}
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
	recs := records(a.size)

	sdk, err := zerobus.NewZerobusSdk(endpoint, workspace)
	if err != nil {
		fail(1, "%v", err)
	}
	defer sdk.Free()
	options := zerobus.DefaultStreamConfigurationOptions()
	options.RecordType = zerobus.RecordTypeJson
	stream, err := sdk.CreateStream(zerobus.TableProperties{TableName: table}, clientID, secret, options)
	if err != nil {
		fail(1, "%v", err)
	}

	var limit time.Duration
	if a.seconds > 0 {
		limit = time.Duration(a.seconds * float64(time.Second))
	}
	start := time.Now()
	expired := func(j int) bool { return limit > 0 && j%1024 == 0 && time.Since(start) >= limit }
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
		for j := 0; done < a.records && !expired(j); j++ {
			n := min(a.batch, a.records-done)
			q := (j * a.batch) % pool
			if _, err = stream.IngestRecordsContiguousOffset(data[starts[q]:starts[q+n]], lengths[q:q+n]); err != nil {
				fail(1, "%v", err)
			}
			done += n
		}
	}
	if err := stream.Flush(); err != nil {
		fail(1, "%v", err)
	}
	fmt.Printf("RESULT records=%d seconds=%.6f\n", done, time.Since(start).Seconds())
	if err := stream.Close(); err != nil {
		fail(1, "%v", err)
	}
}
