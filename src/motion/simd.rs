//! The only `unsafe` code of the daemon: the SIMD versions of the detector's segment kernel
//! ([`super::kernel::scalar_segment`]) and the NEON capability check.
//!
//! - **SSE2** (x86_64, always present): 16 pixels per step. Clipping masks in bytes, Σc, Σr
//!   and the clipped count with `psadbw`, the squares and cross products with `pmaddwd` on
//!   16-bit lanes (32-bit sums), the reference update in 16-bit lanes.
//! - **AVX2** (x86_64 when CPUID reports it): 16 pixels per step, everything in 16-bit lanes
//!   (`vpblendvb` selects the clipping rule), half the instructions of SSE2 per pixel.
//! - **NEON** (ARMv7): 8 pixels per step, inline assembly (Rust 1.85 has no stable ARM NEON
//!   intrinsics). The target's baseline is VFPv3-D16 without NEON, so the block switches the
//!   assembler to NEON itself (`.fpu neon`) and only uses d0-d15. It runs only when the
//!   kernel's auxiliary vector reports `HWCAP_NEON` ([`neon_available`]).
//!
//! Why it is sound: every pointer comes from a slice of the stated length (`chunks_exact`, or
//! a length checked before the block), loads and stores are unaligned-safe (`loadu`, `vld1`
//! without alignment hints), and the NEON block runs only on a CPU that has NEON. Results are
//! the same integers as the scalar kernel (tests in `kernel.rs`, run on the host and under
//! qemu-arm). `unused_unsafe` is allowed because newer compilers made the register-only SSE2
//! intrinsics safe to call while Rust 1.85 (the ARM build's) still needs the blocks.
#![allow(unsafe_code, unused_unsafe)]

use super::grid::GRID_SIZE;
#[cfg(any(target_arch = "x86_64", target_arch = "arm"))]
use super::kernel::scalar_segment;
use super::kernel::{Band, CellMoments, SegmentMoments};

/// Whether this CPU has NEON (ARMv7: `HWCAP_NEON` in the auxiliary vector). False elsewhere.
pub(crate) fn neon_available() -> bool {
    #[cfg(all(target_arch = "arm", target_os = "linux"))]
    {
        use std::sync::OnceLock;
        static NEON: OnceLock<bool> = OnceLock::new();
        /// `HWCAP_NEON` of the Linux ARM ELF hardware capabilities.
        const HWCAP_NEON: libc::c_ulong = 1 << 12;
        // SAFETY: getauxval only reads the process's auxiliary vector.
        *NEON.get_or_init(|| unsafe { libc::getauxval(libc::AT_HWCAP) } & HWCAP_NEON != 0)
    }
    #[cfg(not(all(target_arch = "arm", target_os = "linux")))]
    {
        false
    }
}

/// Pixels one column of vector sums takes before it is reduced to 64 bits: the 32-bit lanes
/// of SSE2 (4 pixels per lane and step) and AVX2 (2) and the 16-bit clipped counters of AVX2 (1)
/// stay far from overflow.
#[cfg(target_arch = "x86_64")]
const FLUSH_PIXELS: usize = 65_536;

/// Vector sums of SSE2 steps: 255 per clipped pixel and Σc, Σr in u64 lanes (`psadbw`), Σc²,
/// Σr², Σcr in i32 lanes, and the pixels they cover.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Sse2Sums {
    pixels: u64,
    clipped: std::arch::x86_64::__m128i,
    c: std::arch::x86_64::__m128i,
    r: std::arch::x86_64::__m128i,
    cc: std::arch::x86_64::__m128i,
    rr: std::arch::x86_64::__m128i,
    cr: std::arch::x86_64::__m128i,
}

#[cfg(target_arch = "x86_64")]
impl Sse2Sums {
    fn new() -> Sse2Sums {
        // SAFETY: SSE2 is part of x86_64; register-only intrinsic.
        let zero = unsafe { std::arch::x86_64::_mm_setzero_si128() };
        Sse2Sums {
            pixels: 0,
            clipped: zero,
            c: zero,
            r: zero,
            cc: zero,
            rr: zero,
            cr: zero,
        }
    }

    /// The moments these sums hold.
    fn moments(&self) -> CellMoments {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86_64; register-only intrinsics.
        unsafe {
            let sum64 = |v: __m128i| {
                (_mm_cvtsi128_si64(v) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v))) as u64
            };
            let sum32 = |v: __m128i| {
                let v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0b01_00_11_10));
                let v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0b10_11_00_01));
                u64::from(_mm_cvtsi128_si32(v) as u32)
            };
            CellMoments {
                n: self.pixels - sum64(self.clipped) / 255,
                c: sum64(self.c),
                r: sum64(self.r),
                cc: sum32(self.cc),
                rr: sum32(self.rr),
                cr: sum32(self.cr),
            }
        }
    }
}

/// Adds the whole 16-pixel steps of a segment to `sums` (at most [`FLUSH_PIXELS`] since they
/// were reduced); returns the scalar kernel's moments of the remaining pixels.
#[cfg(target_arch = "x86_64")]
#[inline]
fn sse2_accumulate(current: &[u8], reference: &mut [u16], sums: &mut Sse2Sums) -> SegmentMoments {
    use std::arch::x86_64::*;

    use super::kernel::{CLIP_HIGH, CLIP_LOW};

    debug_assert_eq!(current.len(), reference.len());
    let mut pixels = current.chunks_exact(16);
    let mut slots = reference.chunks_exact_mut(16);
    // SAFETY: SSE2 is part of x86_64. Each load and store covers exactly one 16-byte chunk
    // of `current` or one 8-lane half of a 16-lane chunk of `reference` (unaligned access).
    unsafe {
        let zero = _mm_setzero_si128();
        let eight = _mm_set1_epi16(8);
        let high = _mm_set1_epi8(CLIP_HIGH as i8);
        let low = _mm_set1_epi8(CLIP_LOW as i8);
        let Sse2Sums {
            clipped: mut acc_clipped,
            c: mut acc_c,
            r: mut acc_r,
            cc: mut acc_cc,
            rr: mut acc_rr,
            cr: mut acc_cr,
            ..
        } = *sums;
        for (pixels, slots) in (&mut pixels).zip(&mut slots) {
            let c = _mm_loadu_si128(pixels.as_ptr().cast());
            let s_lo = _mm_loadu_si128(slots.as_ptr().cast());
            let s_hi = _mm_loadu_si128(slots.as_ptr().add(8).cast());
            // r = (stored + 8) >> 4, ≤ 255, packed to bytes.
            let r_lo = _mm_srli_epi16(_mm_add_epi16(s_lo, eight), 4);
            let r_hi = _mm_srli_epi16(_mm_add_epi16(s_hi, eight), 4);
            let r = _mm_packus_epi16(r_lo, r_hi);
            // r ≥ 128 is a negative signed byte.
            let bright = _mm_cmplt_epi8(r, zero);
            let at_high = _mm_cmpeq_epi8(_mm_max_epu8(c, high), c);
            let at_low = _mm_cmpeq_epi8(_mm_min_epu8(c, low), c);
            let clipped = _mm_or_si128(
                _mm_and_si128(bright, at_high),
                _mm_andnot_si128(bright, at_low),
            );
            let ck = _mm_andnot_si128(clipped, c);
            let rk = _mm_andnot_si128(clipped, r);
            acc_clipped = _mm_add_epi64(acc_clipped, _mm_sad_epu8(clipped, zero));
            acc_c = _mm_add_epi64(acc_c, _mm_sad_epu8(ck, zero));
            acc_r = _mm_add_epi64(acc_r, _mm_sad_epu8(rk, zero));
            let (ck_lo, ck_hi) = (_mm_unpacklo_epi8(ck, zero), _mm_unpackhi_epi8(ck, zero));
            let (rk_lo, rk_hi) = (_mm_unpacklo_epi8(rk, zero), _mm_unpackhi_epi8(rk, zero));
            acc_cc = _mm_add_epi32(
                acc_cc,
                _mm_add_epi32(_mm_madd_epi16(ck_lo, ck_lo), _mm_madd_epi16(ck_hi, ck_hi)),
            );
            acc_rr = _mm_add_epi32(
                acc_rr,
                _mm_add_epi32(_mm_madd_epi16(rk_lo, rk_lo), _mm_madd_epi16(rk_hi, rk_hi)),
            );
            acc_cr = _mm_add_epi32(
                acc_cr,
                _mm_add_epi32(_mm_madd_epi16(ck_lo, rk_lo), _mm_madd_epi16(ck_hi, rk_hi)),
            );
            // stored += ((c << 4) - stored) >> 4, wrapping i16 as in the scalar kernel.
            let t_lo = _mm_slli_epi16(_mm_unpacklo_epi8(c, zero), 4);
            let t_hi = _mm_slli_epi16(_mm_unpackhi_epi8(c, zero), 4);
            let s_lo = _mm_add_epi16(s_lo, _mm_srai_epi16(_mm_sub_epi16(t_lo, s_lo), 4));
            let s_hi = _mm_add_epi16(s_hi, _mm_srai_epi16(_mm_sub_epi16(t_hi, s_hi), 4));
            _mm_storeu_si128(slots.as_mut_ptr().cast(), s_lo);
            _mm_storeu_si128(slots.as_mut_ptr().add(8).cast(), s_hi);
        }
        *sums = Sse2Sums {
            pixels: sums.pixels + (current.len() - pixels.remainder().len()) as u64,
            clipped: acc_clipped,
            c: acc_c,
            r: acc_r,
            cc: acc_cc,
            rr: acc_rr,
            cr: acc_cr,
        };
    }
    scalar_segment(pixels.remainder(), slots.into_remainder())
}

/// SSE2 version of [`scalar_segment`]; `current` and `reference` have the same length, at
/// most [`super::kernel::MAX_SIMD_SEGMENT`].
#[cfg(target_arch = "x86_64")]
pub(crate) fn sse2_segment(current: &[u8], reference: &mut [u16]) -> SegmentMoments {
    let mut sums = Sse2Sums::new();
    let tail = sse2_accumulate(current, reference, &mut sums);
    let mut m = sums.moments().narrow();
    m.add(tail);
    m
}

/// SSE2 moments of a band of cells (see [`Band`]), summed per cell in vector registers and
/// reduced once per cell (or every [`FLUSH_PIXELS`]).
#[cfg(target_arch = "x86_64")]
pub(crate) fn sse2_band(
    band: Band<'_>,
    cols: &[usize; GRID_SIZE + 1],
    cells: &mut [CellMoments; GRID_SIZE],
) {
    let mut sums = [Sse2Sums::new(); GRID_SIZE];
    for (current, reference) in band.rows() {
        for (k, (sums, cell)) in sums.iter_mut().zip(cells.iter_mut()).enumerate() {
            let (start, end) = (cols[k], cols[k + 1]);
            let tail = sse2_accumulate(&current[start..end], &mut reference[start..end], sums);
            cell.add(tail);
            if sums.pixels as usize + (end - start) > FLUSH_PIXELS {
                cell.add_cell(sums.moments());
                *sums = Sse2Sums::new();
            }
        }
    }
    for (sums, cell) in sums.iter().zip(cells.iter_mut()) {
        cell.add_cell(sums.moments());
    }
}

/// Not x86_64: the scalar kernel.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn sse2_segment(current: &[u8], reference: &mut [u16]) -> SegmentMoments {
    super::kernel::scalar_segment(current, reference)
}

/// Not x86_64: the scalar kernel.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn sse2_band(
    band: Band<'_>,
    cols: &[usize; GRID_SIZE + 1],
    cells: &mut [CellMoments; GRID_SIZE],
) {
    super::kernel::scalar_band(band, cols, cells);
}

/// Whether this CPU has AVX2 (x86_64, checked once with CPUID). False elsewhere.
pub(crate) fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Vector sums of AVX2 steps: clipped pixels counting down in i16 lanes, Σc, Σr, Σc², Σr²,
/// Σcr in i32 lanes, and the pixels they cover.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Avx2Sums {
    pixels: u64,
    clipped: std::arch::x86_64::__m256i,
    c: std::arch::x86_64::__m256i,
    r: std::arch::x86_64::__m256i,
    cc: std::arch::x86_64::__m256i,
    rr: std::arch::x86_64::__m256i,
    cr: std::arch::x86_64::__m256i,
}

#[cfg(target_arch = "x86_64")]
impl Avx2Sums {
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn new() -> Avx2Sums {
        // SAFETY: the caller guarantees AVX2; register-only intrinsic.
        let zero = unsafe { std::arch::x86_64::_mm256_setzero_si256() };
        Avx2Sums {
            pixels: 0,
            clipped: zero,
            c: zero,
            r: zero,
            cc: zero,
            rr: zero,
            cr: zero,
        }
    }

    /// The moments these sums hold.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn moments(&self) -> CellMoments {
        use std::arch::x86_64::*;
        // SAFETY: the caller guarantees AVX2; register-only intrinsics.
        unsafe {
            let sum32 = |v: __m256i| {
                let v = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
                let v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0b01_00_11_10));
                let v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0b10_11_00_01));
                _mm_cvtsi128_si32(v) as u32
            };
            // -1 per clipped pixel in i16 lanes, widened to i32 before summing.
            let clipped =
                sum32(_mm256_madd_epi16(self.clipped, _mm256_set1_epi16(1))).wrapping_neg();
            CellMoments {
                n: self.pixels - u64::from(clipped),
                c: u64::from(sum32(self.c)),
                r: u64::from(sum32(self.r)),
                cc: u64::from(sum32(self.cc)),
                rr: u64::from(sum32(self.rr)),
                cr: u64::from(sum32(self.cr)),
            }
        }
    }
}

/// AVX2 [`sse2_accumulate`]: 16 pixels per step, all in 16-bit lanes (no byte packing, so no
/// lane shuffles).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn avx2_accumulate(
    current: &[u8],
    reference: &mut [u16],
    sums: &mut Avx2Sums,
) -> SegmentMoments {
    use std::arch::x86_64::*;

    use super::kernel::{CLIP_HIGH, CLIP_LOW};

    debug_assert_eq!(current.len(), reference.len());
    let mut pixels = current.chunks_exact(16);
    let mut slots = reference.chunks_exact_mut(16);
    // SAFETY: the caller guarantees AVX2. Each load reads exactly one 16-byte chunk of
    // `current` or one 16-lane chunk of `reference`, each store writes that chunk back.
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let eight = _mm256_set1_epi16(8);
        let above_high = _mm256_set1_epi16(i16::from(CLIP_HIGH) - 1);
        let below_low = _mm256_set1_epi16(i16::from(CLIP_LOW) + 1);
        let mid = _mm256_set1_epi16(127);
        let Avx2Sums {
            clipped: mut acc_clipped,
            c: mut acc_c,
            r: mut acc_r,
            cc: mut acc_cc,
            rr: mut acc_rr,
            cr: mut acc_cr,
            ..
        } = *sums;
        for (pixels, slots) in (&mut pixels).zip(&mut slots) {
            let c = _mm256_cvtepu8_epi16(_mm_loadu_si128(pixels.as_ptr().cast()));
            let s = _mm256_loadu_si256(slots.as_ptr().cast());
            let r = _mm256_srli_epi16(_mm256_add_epi16(s, eight), 4);
            let bright = _mm256_cmpgt_epi16(r, mid);
            let at_high = _mm256_cmpgt_epi16(c, above_high);
            let at_low = _mm256_cmpgt_epi16(below_low, c);
            // clipped = bright ? at_high : at_low
            let clipped = _mm256_blendv_epi8(at_low, at_high, bright);
            let ck = _mm256_andnot_si256(clipped, c);
            let rk = _mm256_andnot_si256(clipped, r);
            acc_clipped = _mm256_add_epi16(acc_clipped, clipped);
            acc_c = _mm256_add_epi32(acc_c, _mm256_madd_epi16(ck, ones));
            acc_r = _mm256_add_epi32(acc_r, _mm256_madd_epi16(rk, ones));
            acc_cc = _mm256_add_epi32(acc_cc, _mm256_madd_epi16(ck, ck));
            acc_rr = _mm256_add_epi32(acc_rr, _mm256_madd_epi16(rk, rk));
            acc_cr = _mm256_add_epi32(acc_cr, _mm256_madd_epi16(ck, rk));
            // stored += ((c << 4) - stored) >> 4, wrapping i16 as in the scalar kernel.
            let step = _mm256_srai_epi16(_mm256_sub_epi16(_mm256_slli_epi16(c, 4), s), 4);
            _mm256_storeu_si256(slots.as_mut_ptr().cast(), _mm256_add_epi16(s, step));
        }
        *sums = Avx2Sums {
            pixels: sums.pixels + (current.len() - pixels.remainder().len()) as u64,
            clipped: acc_clipped,
            c: acc_c,
            r: acc_r,
            cc: acc_cc,
            rr: acc_rr,
            cr: acc_cr,
        };
    }
    scalar_segment(pixels.remainder(), slots.into_remainder())
}

/// AVX2 version of [`scalar_segment`] (SSE2 when the CPU has no AVX2); `current` and
/// `reference` have the same length, at most [`super::kernel::MAX_SIMD_SEGMENT`].
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_segment(current: &[u8], reference: &mut [u16]) -> SegmentMoments {
    if !avx2_available() {
        return sse2_segment(current, reference);
    }
    // SAFETY: the CPU has AVX2 (checked above).
    unsafe {
        let mut sums = Avx2Sums::new();
        let tail = avx2_accumulate(current, reference, &mut sums);
        let mut m = sums.moments().narrow();
        m.add(tail);
        m
    }
}

/// AVX2 [`sse2_band`] (SSE2 when the CPU has no AVX2).
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_band(
    band: Band<'_>,
    cols: &[usize; GRID_SIZE + 1],
    cells: &mut [CellMoments; GRID_SIZE],
) {
    if !avx2_available() {
        return sse2_band(band, cols, cells);
    }
    // SAFETY: the CPU has AVX2 (checked above).
    unsafe { avx2_band_unchecked(band, cols, cells) }
}

/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_band_unchecked(
    band: Band<'_>,
    cols: &[usize; GRID_SIZE + 1],
    cells: &mut [CellMoments; GRID_SIZE],
) {
    // SAFETY (every block below): the caller guarantees AVX2.
    let mut sums = [unsafe { Avx2Sums::new() }; GRID_SIZE];
    for (current, reference) in band.rows() {
        for (k, (sums, cell)) in sums.iter_mut().zip(cells.iter_mut()).enumerate() {
            let (start, end) = (cols[k], cols[k + 1]);
            let tail =
                unsafe { avx2_accumulate(&current[start..end], &mut reference[start..end], sums) };
            cell.add(tail);
            if sums.pixels as usize + (end - start) > FLUSH_PIXELS {
                cell.add_cell(unsafe { sums.moments() });
                *sums = unsafe { Avx2Sums::new() };
            }
        }
    }
    for (sums, cell) in sums.iter().zip(cells.iter_mut()) {
        cell.add_cell(unsafe { sums.moments() });
    }
}

/// Not x86_64: the scalar kernel.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn avx2_segment(current: &[u8], reference: &mut [u16]) -> SegmentMoments {
    super::kernel::scalar_segment(current, reference)
}

/// Not x86_64: the scalar kernel.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn avx2_band(
    band: Band<'_>,
    cols: &[usize; GRID_SIZE + 1],
    cells: &mut [CellMoments; GRID_SIZE],
) {
    super::kernel::scalar_band(band, cols, cells);
}

/// Pixels per NEON block: its 16-bit sums of luma (2 pixels per lane and step) stay below
/// 65 536.
#[cfg(target_arch = "arm")]
const NEON_BLOCK: usize = 1024;

/// NEON version of [`scalar_segment`] (scalar when the CPU has no NEON); `current` and
/// `reference` have the same length.
#[cfg(target_arch = "arm")]
pub(crate) fn neon_segment(current: &[u8], reference: &mut [u16]) -> SegmentMoments {
    debug_assert_eq!(current.len(), reference.len());
    if !neon_available() {
        return scalar_segment(current, reference);
    }
    let mut m = SegmentMoments::default();
    for (pixels, slots) in current
        .chunks(NEON_BLOCK)
        .zip(reference.chunks_mut(NEON_BLOCK))
    {
        let steps = pixels.len() / 8;
        let vector = steps * 8;
        if steps > 0 {
            m.add(neon_block(&pixels[..vector], &mut slots[..vector]));
        }
        m.add(scalar_segment(&pixels[vector..], &mut slots[vector..]));
    }
    m
}

/// One NEON pass over a multiple of 8 pixels, at most [`NEON_BLOCK`].
#[cfg(target_arch = "arm")]
fn neon_block(pixels: &[u8], slots: &mut [u16]) -> SegmentMoments {
    assert!(
        pixels.len() == slots.len()
            && pixels.len() % 8 == 0
            && (8..=NEON_BLOCK).contains(&pixels.len())
    );
    // The accumulators as stored by the block: d8 clipped count (4 × i16, negative), d9 Σc and
    // d10 Σr (4 × u16), d11 Σcr (2 × u32), q6 Σc² and q7 Σr² (4 × u32 each).
    let mut acc = [0u32; 16];
    // SAFETY: only called when the CPU has NEON (neon_segment checks). The loop runs
    // `len / 8` times, each reading 8 bytes of `pixels` and 8 u16 of `slots` and writing those
    // 8 u16 back: exactly the slices' lengths (asserted above). `acc` has the 64 bytes the
    // final stores write. d8-d15 are callee-saved: declared clobbered, the compiler saves them.
    unsafe {
        std::arch::asm!(
            ".fpu neon",
            "vmov.i8 q4, #0",
            "vmov.i8 q5, #0",
            "vmov.i8 q6, #0",
            "vmov.i8 q7, #0",
            "vmov.i8 d1, #252",
            "2:",
            "vld1.8 {{d0}}, [{cur}]!",
            "vld1.16 {{d2, d3}}, [{slot}]",
            // r = (stored + 8) >> 4, narrowed to bytes.
            "vrshr.u16 q2, q1, #4",
            "vmovn.i16 d6, q2",
            // bright = r >= 128; at_high = c >= 252; at_low = (c >> 2) == 0, i.e. c <= 3.
            "vclt.s8 d7, d6, #0",
            "vcge.u8 d4, d0, d1",
            "vshr.u8 d5, d0, #2",
            "vceq.i8 d5, d5, #0",
            // clipped = bright ? at_high : at_low
            "vbsl d7, d4, d5",
            "vbic d4, d0, d7",
            "vbic d5, d6, d7",
            "vpadal.s8 d8, d7",
            "vpadal.u8 d9, d4",
            "vpadal.u8 d10, d5",
            "vmull.u8 q3, d4, d5",
            "vpadal.u16 d11, d6",
            "vpadal.u16 d11, d7",
            "vmull.u8 q3, d4, d4",
            "vpadal.u16 q6, q3",
            "vmull.u8 q3, d5, d5",
            "vpadal.u16 q7, q3",
            // stored += ((c << 4) - stored) >> 4 (arithmetic shift, wrapping i16).
            "vshll.u8 q2, d0, #4",
            "vsub.i16 q2, q2, q1",
            "vsra.s16 q1, q2, #4",
            "vst1.16 {{d2, d3}}, [{slot}]!",
            "subs {steps}, {steps}, #1",
            "bne 2b",
            "vst1.32 {{d8, d9, d10, d11}}, [{acc}]!",
            "vst1.32 {{d12, d13, d14, d15}}, [{acc}]",
            cur = inout(reg) pixels.as_ptr() => _,
            slot = inout(reg) slots.as_mut_ptr() => _,
            steps = inout(reg) pixels.len() / 8 => _,
            acc = inout(reg) acc.as_mut_ptr() => _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
            out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _, out("d14") _, out("d15") _,
            options(nostack),
        );
    }
    let halves = |word: u32| [word & 0xffff, word >> 16];
    let lanes16 = |words: &[u32]| -> u32 { words.iter().flat_map(|&w| halves(w)).sum() };
    let clipped: u32 = acc[0..2]
        .iter()
        .flat_map(|&w| halves(w))
        .map(|lane| u32::from((lane as u16 as i16).unsigned_abs()))
        .sum();
    SegmentMoments {
        n: pixels.len() as u32 - clipped,
        c: lanes16(&acc[2..4]),
        r: lanes16(&acc[4..6]),
        cr: acc[6] + acc[7],
        cc: acc[8..12].iter().sum(),
        rr: acc[12..16].iter().sum(),
    }
}

/// Not ARM: the scalar kernel.
#[cfg(not(target_arch = "arm"))]
pub(crate) fn neon_segment(current: &[u8], reference: &mut [u16]) -> SegmentMoments {
    super::kernel::scalar_segment(current, reference)
}
