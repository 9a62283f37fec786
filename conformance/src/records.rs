//! Deterministic test records, generated from (seed, index, size) on both sides of the pipe so
//! that large cases carry no payload between the runner and a testee, and the server's copy can be
//! checked byte for byte. Every testee language implements the same two functions; the rules are
//! written in `conformance/TESTEE.md`.

/// JSON record `index` of a case: `{"seed":S,"seq":I,"pad":"…"}`, padded with lowercase letters
/// to exactly `size` bytes (never shorter than the record without padding).
pub fn json_record(seed: u64, index: u64, size: usize) -> String {
    let head = format!("{{\"seed\":{seed},\"seq\":{index},\"pad\":\"");
    let tail = "\"}";
    let pad_len = size.saturating_sub(head.len() + tail.len());
    let mut out = String::with_capacity(head.len() + pad_len + tail.len());
    out.push_str(&head);
    push_pad(&mut out, seed, index, pad_len);
    out.push_str(tail);
    out
}

/// Proto record `index` of a case, encoded as message [`RECORD_DESCRIPTOR`] describes:
/// field 1 `seed` (int64, varint), field 2 `seq` (int64, varint), field 3 `pad` (string), with
/// `pad` long enough that the encoding is exactly `size` bytes where that is possible.
pub fn proto_record(seed: u64, index: u64, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 8);
    out.push(0x08);
    put_varint(&mut out, seed);
    out.push(0x10);
    put_varint(&mut out, index);
    let fixed = out.len() + 1; // + key byte of field 3
                               // The length prefix grows with the pad, so pick the largest pad that still fits `size`.
    let mut pad_len = size.saturating_sub(fixed + 1);
    while pad_len > 0 && fixed + varint_len(pad_len as u64) + pad_len > size {
        pad_len -= 1;
    }
    out.push(0x1a);
    put_varint(&mut out, pad_len as u64);
    let mut pad = String::with_capacity(pad_len);
    push_pad(&mut pad, seed, index, pad_len);
    out.extend_from_slice(pad.as_bytes());
    out
}

/// Name of the message the proto records use.
pub const RECORD_MESSAGE_NAME: &str = "ConformanceRecord";

/// The serialized `google.protobuf.DescriptorProto` of proto records:
/// `message ConformanceRecord { required int64 seed = 1; required int64 seq = 2; optional string pad = 3; }`.
pub fn record_descriptor() -> prost_types::DescriptorProto {
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{DescriptorProto, FieldDescriptorProto};
    let field = |name: &str, number: i32, label: Label, ty: Type| FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(label as i32),
        r#type: Some(ty as i32),
        ..Default::default()
    };
    DescriptorProto {
        name: Some(RECORD_MESSAGE_NAME.into()),
        field: vec![
            field("seed", 1, Label::Required, Type::Int64),
            field("seq", 2, Label::Required, Type::Int64),
            field("pad", 3, Label::Optional, Type::String),
        ],
        ..Default::default()
    }
}

/// Padding: a xorshift64 stream seeded from (seed, index), each step mapped to `a`..=`z`.
/// Appends the pad of record (seed, index), `len` letters.
pub fn push_pad(out: &mut String, seed: u64, index: u64, len: usize) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(index).wrapping_add(1);
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push((b'a' + (x % 26) as u8) as char);
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn json_records_have_the_requested_size_and_parse() {
        for size in [10, 40, 220, 10_000] {
            let r = json_record(7, 123, size);
            assert_eq!(r.len(), size.max(json_record(7, 123, 0).len()));
            let v: serde_json::Value = serde_json::from_str(&r).unwrap();
            assert_eq!(v["seq"], 123);
        }
        assert_ne!(json_record(1, 1, 100), json_record(1, 2, 100));
    }

    #[test]
    fn proto_records_decode_and_have_the_requested_size() {
        #[derive(Clone, PartialEq, prost::Message)]
        struct Rec {
            #[prost(int64, required, tag = "1")]
            seed: i64,
            #[prost(int64, required, tag = "2")]
            seq: i64,
            #[prost(string, optional, tag = "3")]
            pad: Option<String>,
        }
        for size in [20, 220, 300, 10_000] {
            let bytes = proto_record(3, 9, size);
            assert_eq!(bytes.len(), size);
            let rec = Rec::decode(bytes.as_slice()).unwrap();
            assert_eq!((rec.seed, rec.seq), (3, 9));
        }
    }
}
