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

/// Row `i` as one JSON line (about 500 bytes).
pub fn row(i: u64) -> String {
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
    let congestion = if i.is_multiple_of(3) { "null".to_string() } else { "2.5".to_string() };
    format!(
        concat!(
            r#"{{"vendor_id":{},"pickup_at":{},"dropoff_at":{},"passenger_count":{},"trip_distance":{:.2},"#,
            r#""rate_code_id":{},"store_and_fwd_flag":"{}","pickup_location_id":{},"dropoff_location_id":{},"#,
            r#""payment_type":{},"fare_amount":{:.2},"extra":1.0,"mta_tax":0.5,"tip_amount":{:.2},"#,
            r#""tolls_amount":{:.2},"pickup_zone":"{}","total_amount":"{:.2}","congestion_surcharge":{},"#,
            r#""airport_fee":{},"trip_id":{}}}"#
        ),
        1 + next(2),
        pickup,
        dropoff,
        1 + next(4),
        distance,
        1 + next(6),
        if next(50) == 0 { "Y" } else { "N" },
        1 + next(265),
        1 + next(265),
        1 + next(4),
        fare,
        tip,
        tolls,
        ZONES[next(ZONES.len() as u64) as usize],
        total,
        congestion,
        if next(10) == 0 { "1.75" } else { "0.0" },
        4_000_000_000u64 + i,
    )
}
