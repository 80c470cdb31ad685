//! The vector kernels of the redactor's anchor scan: a 64-bit mask of the `=`, `:`
//! and `>` bytes of a 64-byte block (`>` ends an XML start tag: `<password>…`), SSE2,
//! part of the x86-64 baseline; and the same mask narrowed to the anchors the scan's
//! first look may accept ([`candidate_masks`], AVX-512BW, detected at run time). Other
//! targets use the portable loop.
#![allow(unsafe_code)]

/// Tests set this to run the scalar path a CPU without AVX-512BW takes (the
/// output must not change, so other tests running meanwhile are unaffected).
#[cfg(test)]
pub(crate) static FORCE_SCALAR: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

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

/// Nibble tables of [`candidate_masks`]' credential-ending test (see there).
pub(crate) struct EndingNibbles {
    first_lo: [u8; 16],
    first_hi: [u8; 16],
    second_lo: [u8; 16],
    second_hi: [u8; 16],
}

/// Builds the tables from the ending pairs (lowercase letters): the second letter of
/// a pair gets a class (at most 8, the last ones sharing one), the first letter the
/// bit of every class it pairs with; a byte belongs to a class when both its low and
/// its high nibble carry the class bit. After case folding (`| 0x20`), every pair
/// (in any case) has a common bit, so the test is a superset of the exact pair set.
pub(crate) const fn ending_nibbles(pairs: &[&[u8; 2]]) -> EndingNibbles {
    let mut t = EndingNibbles {
        first_lo: [0; 16],
        first_hi: [0; 16],
        second_lo: [0; 16],
        second_hi: [0; 16],
    };
    let mut seconds = [0u8; 64];
    let mut n_seconds = 0;
    let mut i = 0;
    while i < pairs.len() {
        let (a, b) = (pairs[i][0], pairs[i][1]);
        let mut c = 0;
        while c < n_seconds && seconds[c] != b {
            c += 1;
        }
        if c == n_seconds {
            seconds[n_seconds] = b;
            n_seconds += 1;
        }
        let bit = 1u8 << if c < 7 { c } else { 7 };
        t.first_lo[(a & 15) as usize] |= bit;
        t.first_hi[(a >> 4) as usize] |= bit;
        t.second_lo[(b & 15) as usize] |= bit;
        t.second_hi[(b >> 4) as usize] |= bit;
        i += 1;
    }
    t
}

/// Whether this CPU runs [`candidate_masks`] (checked once per pass by the caller).
/// It needs AVX-512BW: with 16-byte vectors (SSSE3) the test costs more
/// instructions than the scalar look it saves (measured: the whole redaction 33%
/// slower), with 64-byte vectors and mask registers about a quarter of that.
#[inline]
pub(crate) fn has_candidate_mask() -> bool {
    #[cfg(test)]
    if FORCE_SCALAR.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    cpu_has_avx512bw()
}

#[inline]
fn cpu_has_avx512bw() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// For the `out.len()` 64-byte blocks starting at `buf[i]`: bit `j` of `out[k]` is
/// set when `buf[i + 64k + j]` is an anchor that the redactor's branch-free first
/// look (`rules::quick_candidate`) may accept — a superset of it, computed for the
/// whole block at once, so the scalar look runs on a few percent of the anchors
/// instead of all of them. The look reads the three bytes before an anchor and the
/// one after, so this needs `3 <= i` and `i + 64 * out.len() + 1 <= buf.len()`, and
/// only runs where [`has_candidate_mask`] said so (it panics otherwise).
#[inline]
pub(crate) fn candidate_masks(buf: &[u8], i: usize, t: &EndingNibbles, out: &mut [u64]) {
    assert!(
        i >= 3 && i + 64 * out.len() < buf.len(),
        "candidate_masks bounds"
    );
    #[cfg(target_arch = "x86_64")]
    {
        assert!(cpu_has_avx512bw(), "candidate_masks needs AVX-512BW");
        // SAFETY: AVX-512BW is present (checked just above), and the bounds checked
        // above keep every load inside `buf`.
        unsafe { candidate_masks_avx512(buf, i, t, out) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = t;
        for (k, m) in out.iter_mut().enumerate() {
            let at = i + 64 * k;
            let block: &[u8; 64] = buf[at..at + 64].try_into().expect("64-byte block");
            *m = anchor_mask(block);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
unsafe fn candidate_masks_avx512(buf: &[u8], i: usize, t: &EndingNibbles, out: &mut [u64]) {
    use std::arch::x86_64::{
        __m128i, __m512i, _mm512_and_si512, _mm512_broadcast_i32x4, _mm512_cmpeq_epi8_mask,
        _mm512_loadu_si512, _mm512_or_si512, _mm512_set1_epi8, _mm512_shuffle_epi8,
        _mm512_srli_epi16, _mm512_test_epi8_mask, _mm_loadu_si128,
    };
    // SAFETY (whole body): block k's five loads read 64 bytes at
    // `i + 64k - 3 ..= i + 64k + 1`, inside `buf` by the caller's bounds; each table
    // load reads one 16-byte array.
    unsafe {
        let tbl =
            |a: &[u8; 16]| _mm512_broadcast_i32x4(_mm_loadu_si128(a.as_ptr().cast::<__m128i>()));
        let (flo, fhi) = (tbl(&t.first_lo), tbl(&t.first_hi));
        let (slo, shi) = (tbl(&t.second_lo), tbl(&t.second_hi));
        let nib = _mm512_set1_epi8(0x0f);
        let fold = _mm512_set1_epi8(0x20);
        let eq = |v: __m512i, b: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b as i8));
        // Case-folded low and high nibbles of each byte.
        let nibbles = |x: __m512i| {
            let f = _mm512_or_si512(x, fold);
            (
                _mm512_and_si512(f, nib),
                _mm512_and_si512(_mm512_srli_epi16(f, 4), nib),
            )
        };
        let class = |lo: __m512i, hi: __m512i, l: __m512i, h: __m512i| {
            _mm512_and_si512(_mm512_shuffle_epi8(lo, l), _mm512_shuffle_epi8(hi, h))
        };
        for (k, m) in out.iter_mut().enumerate() {
            let p = buf.as_ptr().add(i + 64 * k);
            let ld = |off: isize| _mm512_loadu_si512(p.offset(off).cast::<__m512i>());
            let v = ld(0);
            let is_eq = eq(v, b'=');
            let is_colon = eq(v, b':');
            let is_gt = eq(v, b'>');
            let anchor = is_eq | is_colon | is_gt;
            if anchor == 0 {
                *m = 0;
                continue;
            }
            let (p1, p2, p3) = (ld(-1), ld(-2), ld(-3));
            let ((l1, h1), (l2, h2), (l3, h3)) = (nibbles(p1), nibbles(p2), nibbles(p3));
            // `(p2, p1)` and `(p3, p2)` may end a credential word.
            let e21 = _mm512_test_epi8_mask(class(flo, fhi, l2, h2), class(slo, shi, l1, h1));
            let e32 = _mm512_test_epi8_mask(class(flo, fhi, l3, h3), class(slo, shi, l2, h2));
            let url = is_colon & eq(ld(1), b'/');
            let space = eq(p1, b' ') | eq(p1, b'\t');
            let quote = eq(p1, b'"') | eq(p1, b'\'');
            let escaped = quote & eq(p2, b'\\');
            let op =
                is_eq & (eq(p1, b':') | eq(p1, b'?') | eq(p1, b'.') | eq(p1, b'+') | eq(p1, b'|'));
            let any = url | space | escaped | op | (quote & e32);
            *m = anchor & ((!is_gt & any) | e21);
        }
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
