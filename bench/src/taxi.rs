//! Taxi-trip-shaped rows for the typed-encoding benchmark: a 20-column table (ints, doubles,
//! strings, timestamps, a decimal, a nullable column) and deterministic JSON lines for it, in
//! the value forms every JSON → proto encoder takes (timestamps as integer µs, the decimal as a
//! string), so ours and prost-reflect encode the same text.

/// The table the typed runs declare on the server and stream to.
pub const TABLE: &str = "bench.default.taxi_trips";

/// Its definition, as `zerobus serve --table` takes it.
pub const DEFINITION: &str =
    "bench.default.taxi_trips(vendor_id INT NOT NULL, pickup_at TIMESTAMP NOT NULL, \
     dropoff_at TIMESTAMP NOT NULL, passenger_count SMALLINT, trip_distance DOUBLE, rate_code_id INT, \
     store_and_fwd_flag STRING, pickup_location_id INT, dropoff_location_id INT, payment_type INT, \
     fare_amount DOUBLE, extra DOUBLE, mta_tax DOUBLE, tip_amount DOUBLE, tolls_amount DOUBLE, \
     pickup_zone STRING, total_amount DECIMAL(10,2), congestion_surcharge DOUBLE, airport_fee DOUBLE, \
     trip_id BIGINT NOT NULL)";

const ZONES: [&str; 6] = [
    "Upper East Side North",
    "JFK Airport",
    "Midtown Center",
    "East Village",
    "LaGuardia Airport",
    "Times Sq/Theatre District",
];

/// The values of row `i`, drawn from a generator seeded by `i`.
struct Trip {
    vendor_id: i32,
    pickup: i64,
    dropoff: i64,
    passenger_count: i16,
    distance: f64,
    rate_code_id: i32,
    store_and_fwd_flag: &'static str,
    pickup_location_id: i32,
    dropoff_location_id: i32,
    payment_type: i32,
    fare: f64,
    tip: f64,
    tolls: f64,
    zone: &'static str,
    total: f64,
    congestion: Option<f64>,
    airport_fee: f64,
    trip_id: i64,
}

fn trip(i: u64) -> Trip {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let pickup = 1_704_067_200_000_000u64 + i * 1_000_000 + next(1_000_000);
    let dropoff = pickup + 60_000_000 + next(3_600_000_000);
    let distance = next(3000) as f64 / 100.0;
    let fare = 3.0 + distance * 2.5;
    let tip = next(2000) as f64 / 100.0;
    let tolls = if next(5) == 0 { 6.94 } else { 0.0 };
    let total = fare + 1.0 + 0.5 + tip + tolls + 1.0;
    // The draws below keep the order the JSON rows have always used.
    let vendor_id = 1 + next(2) as i32;
    let passenger_count = 1 + next(4) as i16;
    let rate_code_id = 1 + next(6) as i32;
    let store_and_fwd_flag = if next(50) == 0 { "Y" } else { "N" };
    let pickup_location_id = 1 + next(265) as i32;
    let dropoff_location_id = 1 + next(265) as i32;
    let payment_type = 1 + next(4) as i32;
    let zone = ZONES[next(ZONES.len() as u64) as usize];
    let airport_fee = if next(10) == 0 { 1.75 } else { 0.0 };
    Trip {
        vendor_id,
        pickup: pickup as i64,
        dropoff: dropoff as i64,
        passenger_count,
        distance,
        rate_code_id,
        store_and_fwd_flag,
        pickup_location_id,
        dropoff_location_id,
        payment_type,
        fare,
        tip,
        tolls,
        zone,
        total,
        congestion: if i.is_multiple_of(3) { None } else { Some(2.5) },
        airport_fee,
        trip_id: 4_000_000_000 + i as i64,
    }
}

/// Row `i` as one JSON line (about 500 bytes).
pub fn row(i: u64) -> String {
    let t = trip(i);
    let congestion = t.congestion.map_or("null".to_string(), |c| format!("{c:.1}"));
    format!(
        concat!(
            r#"{{"vendor_id":{},"pickup_at":{},"dropoff_at":{},"passenger_count":{},"trip_distance":{:.2},"#,
            r#""rate_code_id":{},"store_and_fwd_flag":"{}","pickup_location_id":{},"dropoff_location_id":{},"#,
            r#""payment_type":{},"fare_amount":{:.2},"extra":1.0,"mta_tax":0.5,"tip_amount":{:.2},"#,
            r#""tolls_amount":{:.2},"pickup_zone":"{}","total_amount":"{:.2}","congestion_surcharge":{},"#,
            r#""airport_fee":{},"trip_id":{}}}"#
        ),
        t.vendor_id,
        t.pickup,
        t.dropoff,
        t.passenger_count,
        t.distance,
        t.rate_code_id,
        t.store_and_fwd_flag,
        t.pickup_location_id,
        t.dropoff_location_id,
        t.payment_type,
        t.fare,
        t.tip,
        t.tolls,
        t.zone,
        t.total,
        congestion,
        if t.airport_fee > 0.0 { "1.75" } else { "0.0" },
        t.trip_id,
    )
}

/// The mean length of a row's JSON text in bytes (over the first 1,000 rows).
pub fn mean_row_bytes() -> usize {
    (0..1000).map(|i| row(i).len()).sum::<usize>() / 1000
}

/// The table's Arrow schema, as PROTOCOL.md §9 maps it (the decimal as text).
pub fn arrow_schema() -> zerobus_core::ArrowSchemaRef {
    let table = zerobus_core::schema::parse_table(DEFINITION).expect("the taxi definition parses");
    std::sync::Arc::new(zerobus_core::schema::arrow_schema(&table))
}

/// Rows `start..start + rows` as one record batch of [`arrow_schema`]: the same values as
/// [`row`] gives as JSON.
pub fn arrow_batch(start: u64, rows: usize) -> zerobus_core::RecordBatch {
    use std::sync::Arc;
    use zerobus_core::arrow_array::{
        ArrayRef, Float64Array, Int16Array, Int32Array, Int64Array, LargeStringArray,
        TimestampMicrosecondArray,
    };
    let trips: Vec<Trip> = (start..start + rows as u64).map(trip).collect();
    let int = |f: fn(&Trip) -> i32| Arc::new(Int32Array::from_iter_values(trips.iter().map(f))) as ArrayRef;
    let dbl = |f: fn(&Trip) -> f64| Arc::new(Float64Array::from_iter_values(trips.iter().map(f))) as ArrayRef;
    let ts = |f: fn(&Trip) -> i64| {
        Arc::new(TimestampMicrosecondArray::from_iter_values(trips.iter().map(f)).with_timezone("UTC"))
            as ArrayRef
    };
    let text = |f: fn(&Trip) -> String| {
        Arc::new(LargeStringArray::from_iter_values(trips.iter().map(f))) as ArrayRef
    };
    let columns = vec![
        int(|t| t.vendor_id),
        ts(|t| t.pickup),
        ts(|t| t.dropoff),
        Arc::new(Int16Array::from_iter_values(trips.iter().map(|t| t.passenger_count))) as ArrayRef,
        dbl(|t| (t.distance * 100.0).round() / 100.0),
        int(|t| t.rate_code_id),
        text(|t| t.store_and_fwd_flag.to_owned()),
        int(|t| t.pickup_location_id),
        int(|t| t.dropoff_location_id),
        int(|t| t.payment_type),
        dbl(|t| (t.fare * 100.0).round() / 100.0),
        dbl(|_| 1.0),
        dbl(|_| 0.5),
        dbl(|t| t.tip),
        dbl(|t| t.tolls),
        text(|t| t.zone.to_owned()),
        text(|t| format!("{:.2}", t.total)),
        Arc::new(Float64Array::from(trips.iter().map(|t| t.congestion).collect::<Vec<_>>())) as ArrayRef,
        dbl(|t| t.airport_fee),
        Arc::new(Int64Array::from_iter_values(trips.iter().map(|t| t.trip_id))) as ArrayRef,
    ];
    zerobus_core::RecordBatch::try_new(arrow_schema(), columns).expect("taxi columns match the schema")
}

/// Batches in the pool a driver cycles through (`bench/DRIVER.md`, "Taxi rows from the pool").
pub const POOL_BATCHES: usize = 4;

/// The untimed warm-up of `--format taxi-arrow` in the Rust and JVM drivers (`bench/DRIVER.md`):
/// this many rows, or this long, whichever ends first.
pub const ARROW_WARMUP_ROWS: usize = 10_000_000;
pub const ARROW_WARMUP: std::time::Duration = std::time::Duration::from_millis(3_000);

/// Writes the pool directory of `bench/DRIVER.md`: `0.arrows` … one IPC stream per batch of
/// `rows` rows (batch `j` = rows `j*rows ..`), and `rows.jsonl` with the same rows as JSON lines.
pub fn write_pool(dir: &std::path::Path, rows: usize) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let schema = arrow_schema();
    for j in 0..POOL_BATCHES {
        let batch = arrow_batch((j * rows) as u64, rows);
        let file = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{j}.arrows")))?);
        let mut writer = zerobus_core::arrow_ipc::writer::StreamWriter::try_new(file, &schema)
            .map_err(std::io::Error::other)?;
        writer.write(&batch).map_err(std::io::Error::other)?;
        writer.finish().map_err(std::io::Error::other)?;
    }
    let mut lines = std::io::BufWriter::new(std::fs::File::create(dir.join("rows.jsonl"))?);
    for k in 0..(POOL_BATCHES * rows) as u64 {
        writeln!(lines, "{}", row(k))?;
    }
    lines.flush()
}
