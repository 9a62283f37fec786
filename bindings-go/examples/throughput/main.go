// Command throughput measures records/s through the Go binding against `zerobus serve`
// (ZEROBUS_* environment as printed by the server): -batch 1000 uses IngestRecordsOffset,
// -batch 1 uses IngestRecordOffset. Records are 220-byte JSON objects by default, generated
// before the clock starts; the time runs from the first ingest to the end of Flush.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	zerobus "github.com/databricks/zerobus-sdk-go"
)

func record(i, size int) []byte {
	head := `{"seed":1,"seq":` + strconv.Itoa(i) + `,"pad":"`
	out := make([]byte, 0, size)
	out = append(out, head...)
	for len(out) < size-2 {
		out = append(out, byte('a'+(i+len(out))%26))
	}
	return append(out, `"}`...)
}

func main() {
	n := flag.Int("n", 200_000, "records")
	size := flag.Int("size", 220, "bytes per record")
	batch := flag.Int("batch", 1000, "records per call (1: IngestRecordOffset)")
	table := flag.String("table", "main.default.events", "table")
	flag.Parse()
	sdk, err := zerobus.NewZerobusSdk(os.Getenv("ZEROBUS_ENDPOINT"), os.Getenv("ZEROBUS_WORKSPACE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer sdk.Free()
	options := zerobus.DefaultStreamConfigurationOptions()
	options.RecordType = zerobus.RecordTypeJson
	stream, err := sdk.CreateStream(zerobus.TableProperties{TableName: *table},
		os.Getenv("ZEROBUS_CLIENT_ID"), os.Getenv("ZEROBUS_CLIENT_SECRET"), options)
	if err != nil {
		log.Fatal(err)
	}
	defer stream.Close()
	records := make([][]byte, *n)
	for i := range records {
		records[i] = record(i, *size)
	}
	start := time.Now()
	for i := 0; i < *n; i += *batch {
		end := min(i+*batch, *n)
		if *batch == 1 {
			_, err = stream.IngestRecordOffset(records[i])
		} else {
			_, err = stream.IngestRecordsOffset(records[i:end])
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	if err := stream.Flush(); err != nil {
		log.Fatal(err)
	}
	elapsed := time.Since(start)
	fmt.Printf("go batch=%d: %d records of %d bytes in %.3fs = %.0f records/s\n",
		*batch, *n, len(records[0]), elapsed.Seconds(), float64(*n)/elapsed.Seconds())
}
