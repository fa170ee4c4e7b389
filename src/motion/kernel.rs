//! The detector's per-pixel work: the moments of one row segment of the current frame against
//! the reference, and the reference update, in one pass ([`scalar_segment`]; [`super::dispatch::Kernel`] picks the fastest implementation).
//!
//! [`scalar_segment`] is the reference definition. The SIMD kernels of [`super::simd`] (SSE2
//! on x86_64, where it is the baseline, and AVX2 where CPUID reports it; NEON on ARMv7 when the CPU reports it, since Debian's
//! armhf baseline does not guarantee NEON) compute exactly the same integers: every moment is a
//! sum of integers, so the order of the additions does not matter, and the reference update is
//! the same wrapping `i16` arithmetic. Tests compare them with the scalar kernel bit for bit.
//!
//! Per pixel and frame the kernel reads the current luma once and the reference once (and
//! writes the reference once): 2 reads per pixel, nothing allocated.

use super::grid::GRID_SIZE;

/// Shift of the reference update: the reference moves 1/2^shift towards each frame.
pub(crate) const REFERENCE_SHIFT: u32 = 4;

/// Current luma at or above this, over a reference at or above mid-grey, is clipped.
pub(crate) const CLIP_HIGH: u8 = 252;

/// Current luma at or below this, over a reference below mid-grey, is clipped.
pub(crate) const CLIP_LOW: u8 = 3;

/// Longest segment the SIMD kernels take (their 32-bit lanes cannot overflow below it);
/// longer ones (a frame over 655 360 pixels wide) use the scalar kernel.
pub(crate) const MAX_SIMD_SEGMENT: usize = 65_536;

/// Moments of one row segment (a cell's part of one row) over its kept (unclipped) pixels:
/// count, Σc, Σr, Σc², Σr², Σcr with `c` the current luma and `r` the reference rounded to
/// luma. u32 holds them for segments up to 66 051 pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SegmentMoments {
    pub n: u32,
    pub c: u32,
    pub r: u32,
    pub cc: u32,
    pub rr: u32,
    pub cr: u32,
}

impl SegmentMoments {
    /// Adds the moments of a following part of the same segment.
    pub fn add(&mut self, other: SegmentMoments) {
        self.n += other.n;
        self.c += other.c;
        self.r += other.r;
        self.cc += other.cc;
        self.rr += other.rr;
        self.cr += other.cr;
    }
}

/// Moments of one cell (or any run of segments), in 64 bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CellMoments {
    pub n: u64,
    pub c: u64,
    pub r: u64,
    pub cc: u64,
    pub rr: u64,
    pub cr: u64,
}

impl CellMoments {
    /// Adds a segment's moments.
    pub fn add(&mut self, s: SegmentMoments) {
        self.n += u64::from(s.n);
        self.c += u64::from(s.c);
        self.r += u64::from(s.r);
        self.cc += u64::from(s.cc);
        self.rr += u64::from(s.rr);
        self.cr += u64::from(s.cr);
    }

    /// Adds another run's moments.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub fn add_cell(&mut self, m: CellMoments) {
        self.n += m.n;
        self.c += m.c;
        self.r += m.r;
        self.cc += m.cc;
        self.rr += m.rr;
        self.cr += m.cr;
    }

    /// As segment moments (the sums of at most one segment, which fit u32).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub fn narrow(self) -> SegmentMoments {
        SegmentMoments {
            n: self.n as u32,
            c: self.c as u32,
            r: self.r as u32,
            cc: self.cc as u32,
            rr: self.rr as u32,
            cr: self.cr as u32,
        }
    }
}

/// One band of grid cells (one grid row): frame rows `first_row..` of `width` pixels, rows
/// `stride` bytes apart in `data`, and their reference rows (`reference` holds `width` values
/// per row, as many rows as the band has).
pub(crate) struct Band<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub first_row: usize,
    pub width: usize,
    pub reference: &'a mut [u16],
}

impl<'a> Band<'a> {
    /// Each frame row with its reference row.
    pub fn rows(self) -> impl Iterator<Item = (&'a [u8], &'a mut [u16])> {
        let Band {
            data,
            stride,
            first_row,
            width,
            reference,
        } = self;
        reference
            .chunks_exact_mut(width.max(1))
            .enumerate()
            .map(move |(i, reference)| (&data[(first_row + i) * stride..][..width], reference))
    }
}

/// The reference definition: moments of `current` against `reference` (luma·16 per pixel),
/// and the reference moved 1/16 of the way towards `current`. Pairs past the shorter slice
/// are ignored.
pub(crate) fn scalar_segment(current: &[u8], reference: &mut [u16]) -> SegmentMoments {
    let mut m = SegmentMoments::default();
    for (&c, slot) in current.iter().zip(reference.iter_mut()) {
        let stored = *slot;
        // Reference luma rounded to 0..=255 (stored ≤ 255·16).
        let r = (stored + 8) >> REFERENCE_SHIFT;
        let c16 = u16::from(c);
        // Clipped pixels leave the lighting model: saturated where the reference was bright
        // already, or crushed to black where it was dark. Branch-free (0 or 1).
        let r_bright = u16::from(r >= 128);
        let clipped =
            (u16::from(c >= CLIP_HIGH) & r_bright) | (u16::from(c <= CLIP_LOW) & (1 - r_bright));
        let keep = 1 - clipped;
        let (ck, rk) = (c16 * keep, r * keep);
        m.n += u32::from(keep);
        m.c += u32::from(ck);
        m.r += u32::from(rk);
        // u8·u8 fits u16.
        m.cc += u32::from(ck * ck);
        m.rr += u32::from(rk * rk);
        m.cr += u32::from(ck * rk);
        // Running average in i16: both terms are ≤ 4080, the difference fits.
        let target = (c16 << REFERENCE_SHIFT) as i16;
        let old = stored as i16;
        *slot = (old + ((target - old) >> REFERENCE_SHIFT)) as u16;
    }
    m
}

/// Copies a row into the reference (learning, blanking).
pub(crate) fn learn_row(current: &[u8], reference: &mut [u16]) {
    for (&c, slot) in current.iter().zip(reference.iter_mut()) {
        *slot = u16::from(c) << REFERENCE_SHIFT;
    }
}

/// [`scalar_segment`] over every row segment of a band: what the SIMD band kernels compute,
/// and their fallback where the CPU lacks them.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub(crate) fn scalar_band(
    band: Band<'_>,
    cols: &[usize; GRID_SIZE + 1],
    cells: &mut [CellMoments; GRID_SIZE],
) {
    for (current, reference) in band.rows() {
        for (k, cell) in cells.iter_mut().enumerate() {
            let (start, end) = (cols[k], cols[k + 1]);
            cell.add(scalar_segment(
                &current[start..end],
                &mut reference[start..end],
            ));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Deterministic xorshift32.
    pub(crate) fn noise(seed: &mut u32) -> u32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        *seed
    }

    /// Current rows and references that cover every clipping case: luma near 0 and 255 over
    /// dark and bright references, references at the rounding edges, random texture.
    pub(crate) fn cases(len: usize, seed: u32) -> (Vec<u8>, Vec<u16>) {
        let mut s = seed;
        let edges = [0u8, 1, 2, 3, 4, 5, 127, 128, 250, 251, 252, 253, 254, 255];
        let current = (0..len)
            .map(|i| match noise(&mut s) % 3 {
                0 => edges[i % edges.len()],
                _ => noise(&mut s) as u8,
            })
            .collect();
        let reference = (0..len)
            .map(|i| match noise(&mut s) % 4 {
                // Around the mid-grey rounding edge: 127.5·16 = 2040.
                0 => 2030 + (i % 20) as u16,
                1 => [0, 7, 8, 4072, 4079, 4080][i % 6],
                _ => (noise(&mut s) % 4081) as u16,
            })
            .collect();
        (current, reference)
    }

    #[test]
    fn test_scalar_segment_clipping_rules() {
        // Bright reference (128): 252 is clipped, 251 kept; dark reference (127): 3 clipped.
        let mut reference = vec![128 << 4, 128 << 4, 127 << 4, 127 << 4];
        let m = scalar_segment(&[252, 251, 3, 4], &mut reference);
        assert_eq!(m.n, 2);
        assert_eq!(m.c, 251 + 4);
        assert_eq!(m.r, 128 + 127);
        assert_eq!(m.cr, 251 * 128 + 4 * 127);
        // Every reference moved 1/16 of the way towards its pixel.
        assert_eq!(reference, vec![2172, 2171, 1908, 1909]);
    }
}
