//! The one vector kernel of the redactor: a 64-bit mask of the `=`, `:` and `>`
//! bytes of a 64-byte block (`>` ends an XML start tag: `<password>…`). SSE2 is part of the x86-64 baseline, so no runtime
//! detection is needed; other targets use the portable loop.
#![allow(unsafe_code)]

/// Bit `j` is set when `block[j]` is `=`, `:` or `>`.
#[inline]
pub(crate) fn anchor_mask(block: &[u8; 64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        // SAFETY: SSE2 is always available on x86_64. Each load reads 16 bytes at
        // offset 16*k < 64 of a 64-byte array (unaligned loads are allowed).
        unsafe {
            let eq = _mm_set1_epi8(b'=' as i8);
            let colon = _mm_set1_epi8(b':' as i8);
            let gt = _mm_set1_epi8(b'>' as i8);
            let mut mask = 0u64;
            for k in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast::<__m128i>());
                let hit = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, eq), _mm_cmpeq_epi8(v, colon)),
                    _mm_cmpeq_epi8(v, gt),
                );
                mask |= u64::from(_mm_movemask_epi8(hit) as u16) << (16 * k);
            }
            mask
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut mask = 0u64;
        for (j, &b) in block.iter().enumerate() {
            mask |= u64::from((b == b'=') | (b == b':') | (b == b'>')) << j;
        }
        mask
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mask_matches_scalar() {
        let mut block = [b'a'; 64];
        for (j, b) in block.iter_mut().enumerate() {
            if j % 7 == 0 {
                *b = b'=';
            } else if j % 11 == 0 {
                *b = b':';
            } else if j % 5 == 0 {
                *b = b'=' + 128;
            } else if j % 13 == 0 {
                *b = b'>';
            }
        }
        let mut want = 0u64;
        for (j, &b) in block.iter().enumerate() {
            if b == b'=' || b == b':' || b == b'>' {
                want |= 1 << j;
            }
        }
        assert_eq!(super::anchor_mask(&block), want);
    }
}
