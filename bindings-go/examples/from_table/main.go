// Command from_table ingests typed records into a table from JSON text, with no .proto and no
// descriptor: it prints the table's columns, opens a stream "from the table" (the library reads
// the table's schema and encodes JSON text by its columns) and ingests a record and a batch. Run
// it against a local server that declares the table:
//
//	target/debug/zerobus serve --table 'main.default.air_quality(device_name STRING NOT NULL,
//	    temp INT, humidity BIGINT, at TIMESTAMP, tags ARRAY<STRING>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>)'
//	# export the ZEROBUS_* lines it prints, then:
//	cd bindings-go && go run ./examples/from_table
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	zerobus "github.com/databricks/zerobus-sdk-go"
)

const table = "main.default.air_quality"

func env(name string) string {
	v := os.Getenv(name)
	if v == "" {
		log.Fatalf("%s is not set (start `zerobus serve` and export the ZEROBUS_* lines it prints)", name)
	}
	return v
}

func main() {
	id, secret := env("ZEROBUS_CLIENT_ID"), env("ZEROBUS_CLIENT_SECRET")
	sdk, err := zerobus.NewZerobusSdk(env("ZEROBUS_ENDPOINT"), env("ZEROBUS_WORKSPACE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer sdk.Free()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The table's columns, as Unity Catalog describes them.
	schema, err := sdk.GetTableSchemaContext(ctx, table, id, secret)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range schema.Columns {
		fmt.Printf("column %d: %s %s (nullable: %v)\n", c.Position, c.Name, c.Type, c.Nullable)
	}

	// A Proto stream (the default) with no DescriptorProto: created from the table.
	stream, err := sdk.CreateStreamContext(ctx, zerobus.TableProperties{TableName: table}, id, secret, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer stream.Close()

	// Strings are JSON text, encoded by the table's columns in the library.
	if _, err := stream.IngestRecordOffsetContext(ctx,
		`{"device_name":"sensor-1","temp":21,"at":"2026-01-02T03:04:05Z","tags":["roof"],"loc":{"lat":52.52,"lon":13.40}}`); err != nil {
		log.Fatal(err)
	}
	last, err := stream.IngestRecordsOffsetContext(ctx, []string{
		`{"device_name":"sensor-2","humidity":40}`,
		`{"device_name":"sensor-3","at":1767323045000000}`,
	})
	if err != nil {
		log.Fatal(err)
	}
	// A record that does not fit the columns fails its call only, naming the column.
	_, err = stream.IngestRecordOffsetContext(ctx, `{"device_name":"sensor-4","loc":{"lat":"north"}}`)
	var zerr *zerobus.Error
	if errors.As(err, &zerr) && zerr.Code() == zerobus.CodeInvalidRecord {
		fmt.Println("rejected:", zerr.Message())
	}
	if err := stream.WaitForOffsetContext(ctx, last); err != nil {
		log.Fatal(err)
	}
	m, err := stream.Metrics()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("acked %d records in %d calls into %s\n", m.RecordsSent, m.LastAckedOffset+1, table)
}
