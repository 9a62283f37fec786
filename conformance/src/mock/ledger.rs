//! The ledger: how many times each generated record (seed, seq) reached a table, so a chaos run
//! proves what arrived (missing, duplicated) without keeping payloads. Records follow
//! `conformance/TESTEE.md`: JSON `{"seed":S,"seq":I,…}` or proto fields 1 (seed) and 2 (seq).

use std::collections::HashMap;

/// Counts per generated record of one table.
#[derive(Default)]
pub(crate) struct Ledger {
    /// seed → count per seq.
    counts: HashMap<u64, Vec<u32>>,
    /// Records that are not generated records.
    unparsed: u64,
}

/// What a ledger holds for one seed over `0..count`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerReport {
    /// Records of the range that arrived at least once.
    pub distinct: u64,
    /// Records of the range that never arrived.
    pub missing: u64,
    /// The first few missing seqs, for messages.
    pub first_missing: Vec<u64>,
    /// Extra arrivals of records of the range (at-least-once delivery after reconnects).
    pub duplicates: u64,
    /// Arrivals of this seed outside the range.
    pub outside: u64,
    /// Records of the table that are not generated records.
    pub unparsed: u64,
}

impl Ledger {
    pub fn add(&mut self, record: &[u8]) {
        match ids(record) {
            Some((seed, seq)) => {
                let counts = self.counts.entry(seed).or_default();
                let i = seq as usize;
                if counts.len() <= i {
                    counts.resize(i + 1, 0);
                }
                counts[i] += 1;
            }
            None => self.unparsed += 1,
        }
    }

    pub fn report(&self, seed: u64, count: u64) -> LedgerReport {
        let mut r = LedgerReport { unparsed: self.unparsed, ..Default::default() };
        let counts = self.counts.get(&seed).map(Vec::as_slice).unwrap_or_default();
        for seq in 0..count {
            match counts.get(seq as usize).copied().unwrap_or(0) {
                0 => {
                    r.missing += 1;
                    if r.first_missing.len() < 5 {
                        r.first_missing.push(seq);
                    }
                }
                n => {
                    r.distinct += 1;
                    r.duplicates += u64::from(n - 1);
                }
            }
        }
        r.outside = counts.iter().skip(count as usize).map(|&n| u64::from(n)).sum();
        r
    }
}

/// (seed, seq) of a generated record, JSON or proto.
fn ids(record: &[u8]) -> Option<(u64, u64)> {
    if record.first() == Some(&b'{') {
        let rest = record.strip_prefix(b"{\"seed\":")?;
        let (seed, rest) = number(rest)?;
        let rest = rest.strip_prefix(b",\"seq\":")?;
        let (seq, _) = number(rest)?;
        return Some((seed, seq));
    }
    let mut buf = record;
    let (mut seed, mut seq) = (None, None);
    while !buf.is_empty() && (seed.is_none() || seq.is_none()) {
        match prost::encoding::decode_varint(&mut buf).ok()? {
            0x08 => seed = Some(prost::encoding::decode_varint(&mut buf).ok()?),
            0x10 => seq = Some(prost::encoding::decode_varint(&mut buf).ok()?),
            _ => return None,
        }
    }
    Some((seed?, seq?))
}

fn number(s: &[u8]) -> Option<(u64, &[u8])> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let n = std::str::from_utf8(&s[..digits]).ok()?.parse().ok()?;
    Some((n, &s[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{json_record, proto_record};

    #[test]
    fn counts_generated_records_of_both_kinds() {
        let mut l = Ledger::default();
        for seq in [0, 1, 1, 3] {
            l.add(json_record(7, seq, 80).as_bytes());
        }
        l.add(&proto_record(8, 0, 40));
        l.add(b"{\"other\":1}");
        let r = l.report(7, 4);
        assert_eq!((r.distinct, r.missing, r.duplicates, r.unparsed), (3, 1, 1, 1));
        assert_eq!(r.first_missing, vec![2]);
        assert_eq!(l.report(8, 1).distinct, 1);
        assert_eq!(l.report(7, 2).outside, 1);
    }
}
