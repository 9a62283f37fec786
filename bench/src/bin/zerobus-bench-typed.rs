//! Typed encoding, one core: JSON lines of the taxi-shaped table → proto bytes, with our typed
//! encoder (`zerobus_schema::TypedEncoder`, one pass over the text) and with prost-reflect's
//! JSON → `DynamicMessage` → encode, on the same lines. Prints
//! `RESULT input_mb=… ours_mb_per_cpu_s=… peer_mb_per_cpu_s=…` (MB of JSON input per CPU second,
//! best of the rounds) after checking that both give the same messages.
//!
//! Usage: `zerobus-bench-typed [--records N] [--rounds R]`.

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use zerobus_bench::taxi;
use zerobus_core::schema::{file_descriptor_set, parse_table, TypedEncoder};

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes one `rusage` we own; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn peer_encode(desc: &MessageDescriptor, line: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_str(line);
    let msg = DynamicMessage::deserialize(desc.clone(), &mut de).map_err(|e| e.to_string())?;
    msg.encode(out).map_err(|e| e.to_string())
}

/// Best MB per CPU second over `rounds` passes of `encode` over every line.
fn measure(lines: &[String], rounds: usize, mut encode: impl FnMut(&str, &mut Vec<u8>)) -> f64 {
    let input: usize = lines.iter().map(String::len).sum();
    let mut out = Vec::with_capacity(input);
    let mut best = 0f64;
    for _ in 0..rounds {
        out.clear();
        let before = cpu_seconds();
        for line in lines {
            encode(line, &mut out);
        }
        let cpu = (cpu_seconds() - before).max(1e-6);
        std::hint::black_box(&out);
        best = best.max(input as f64 / 1e6 / cpu);
    }
    best
}

fn main() {
    let mut records = 100_000u64;
    let mut rounds = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--records", Some(v)) => records = v,
            ("--rounds", Some(v)) => rounds = v.max(1) as usize,
            _ => {
                eprintln!("usage: zerobus-bench-typed [--records N] [--rounds R]");
                std::process::exit(2);
            }
        }
    }
    let table = parse_table(taxi::DEFINITION).expect("the taxi definition parses");
    let encoder = TypedEncoder::new(&table).expect("the taxi table maps to proto");
    let pool = DescriptorPool::from_file_descriptor_set(file_descriptor_set(&table).expect("maps"))
        .expect("the taxi descriptor set is valid");
    let desc = pool.get_message_by_name(&table.name).expect("the record message is in the set");
    let lines: Vec<String> = (0..records).map(taxi::row).collect();

    // Both must give the same message for every line before their speeds mean anything.
    for (i, line) in lines.iter().enumerate().take(1000) {
        let (mut ours, mut peer) = (Vec::new(), Vec::new());
        encoder.encode(line, &mut ours).unwrap_or_else(|e| panic!("ours, row {i}: {e}"));
        peer_encode(&desc, line, &mut peer).unwrap_or_else(|e| panic!("prost-reflect, row {i}: {e}"));
        let ours_decoded = DynamicMessage::decode(desc.clone(), ours.as_slice()).expect("ours decodes");
        if ours_decoded.encode_to_vec() != peer {
            eprintln!("zerobus-bench-typed: row {i} differs between the encoders: {line}");
            std::process::exit(1);
        }
    }

    let ours = measure(&lines, rounds, |line, out| {
        encoder.encode(line, out).expect("checked above");
    });
    let peer = measure(&lines, rounds, |line, out| {
        peer_encode(&desc, line, out).expect("checked above");
    });
    let input: usize = lines.iter().map(String::len).sum();
    println!(
        "RESULT records={records} input_mb={:.1} ours_mb_per_cpu_s={ours:.1} peer_mb_per_cpu_s={peer:.1}",
        input as f64 / 1e6
    );
}
