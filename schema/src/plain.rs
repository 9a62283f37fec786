//! Finding the end of a plain run in JSON string content: the first `"`, `\` or control
//! character. Every JSON string the SDK reads or writes goes through this (the core's record
//! check, the typed encoder, the Python binding's dict writer), so it looks at 16 bytes per step.

/// The number of bytes at the start of `b` that are neither `"`, `\` nor below 0x20, i.e. the
/// index of the first byte that ends a plain run inside a JSON string (`b.len()` if none does).
#[inline]
pub fn plain_run_len(b: &[u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    let mut i = sse2::run(b);
    #[cfg(not(target_arch = "x86_64"))]
    let mut i = 0;
    while i + 8 <= b.len() {
        let word = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let hits = special_bytes(word);
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !is_special(b[i]) {
        i += 1;
    }
    i
}

#[inline]
fn is_special(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

/// High bit set in every byte of `v` that is `"`, `\` or below 0x20 (exact for the lowest such
/// byte, which is all the caller uses).
#[inline]
fn special_bytes(v: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_0x20 = v.wrapping_sub(ONES * 0x20) & !v & HIGH;
    zero(v ^ (ONES * u64::from(b'"'))) | zero(v ^ (ONES * u64::from(b'\\'))) | below_0x20
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// The plain run over whole 16-byte blocks; stops at the block holding the first special
    /// byte (returning its index) or where fewer than 16 bytes are left.
    #[inline]
    pub(super) fn run(b: &[u8]) -> usize {
        let mut i = 0;
        while i + 16 <= b.len() {
            // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics are always
            // available; the unaligned load reads b[i..i + 16], in bounds by the loop condition.
            let mask = unsafe {
                let v = _mm_loadu_si128(b.as_ptr().add(i) as *const __m128i);
                let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                // v <= 0x1f (unsigned) exactly when max(v, 0x1f) == 0x1f.
                let low = _mm_set1_epi8(0x1f);
                let control = _mm_cmpeq_epi8(_mm_max_epu8(v, low), low);
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
            };
            if mask != 0 {
                return i + mask.trailing_zeros() as usize;
            }
            i += 16;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_special_byte_at_every_position() {
        for len in 0..70 {
            for at in 0..=len {
                for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut b = vec![b'x'; len];
                    b.extend_from_slice("é€".as_bytes()); // bytes >= 0x80 are plain
                    let plain_len = b.len();
                    if at < len {
                        b[at] = special;
                        assert_eq!(plain_run_len(&b), at, "len {len} at {at} byte {special:#x}");
                    } else {
                        assert_eq!(plain_run_len(&b), plain_len);
                    }
                }
            }
        }
        assert_eq!(plain_run_len(b" !#[]~\x7f\x20"), 8);
    }
}
