// Command ingest streams JSON records into a Zerobus table and prints how many were
// acknowledged. Run it against a local server:
//
//	target/debug/zerobus serve          # prints ZEROBUS_* settings; export them, then:
//	cd bindings-go && go run ./examples/ingest
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync/atomic"
	"time"

	zerobus "github.com/databricks/zerobus-sdk-go"
)

func env(name string) string {
	v := os.Getenv(name)
	if v == "" {
		log.Fatalf("%s is not set (start `zerobus serve` and export the ZEROBUS_* lines it prints)", name)
	}
	return v
}

func main() {
	table := os.Getenv("ZEROBUS_TABLE")
	if table == "" {
		table = "main.default.events"
	}
	sdk, err := zerobus.NewZerobusSdk(env("ZEROBUS_ENDPOINT"), env("ZEROBUS_WORKSPACE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer sdk.Free()

	var acked atomic.Int64 // highest acknowledged offset + 1 = acknowledged ingest calls
	options := zerobus.DefaultStreamConfigurationOptions()
	options.RecordType = zerobus.RecordTypeJson
	options.AckCallback = func(offset int64) { acked.Store(offset + 1) }
	options.ErrorCallback = func(offset int64, message string) { log.Printf("offset %d failed: %s", offset, message) }

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := sdk.CreateStreamContext(ctx, zerobus.TableProperties{TableName: table},
		env("ZEROBUS_CLIENT_ID"), env("ZEROBUS_CLIENT_SECRET"), options)
	if err != nil {
		log.Fatal(err)
	}
	defer stream.Close()

	// One record per call, with its offset.
	for i := range 10 {
		if _, err := stream.IngestRecordOffsetContext(ctx, fmt.Sprintf(`{"id":%d,"kind":"single"}`, i)); err != nil {
			log.Fatal(err)
		}
	}
	// 1,000 records per call: one cgo crossing, one offset.
	records := 0
	for b := range 10 {
		batch := make([]string, 1000)
		for i := range batch {
			batch[i] = fmt.Sprintf(`{"id":%d,"kind":"batch"}`, b*1000+i)
		}
		if _, err := stream.IngestRecordsOffsetContext(ctx, batch); err != nil {
			var zerr *zerobus.Error
			if errors.As(err, &zerr) && zerr.Retryable() {
				log.Fatalf("retryable failure (%s): re-ingest stream.GetUnackedBatches() on a new stream", zerr.Code())
			}
			log.Fatal(err)
		}
		records += len(batch)
	}
	if err := stream.FlushContext(ctx); err != nil {
		log.Fatal(err)
	}
	if err := stream.Close(); err != nil {
		log.Fatal(err)
	}
	m, err := stream.Metrics()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("acked %d records in %d calls (last offset %d) into %s\n", records+10, acked.Load(), m.LastAckedOffset, table)
}
