//! Which implementation of the per-pixel work runs ([`Kernel`]): the scalar reference of
//! [`super::kernel`] or one of the SIMD kernels of [`super::simd`], picked by hardware
//! capability. It sits above both so that they need not import each other both ways.

use super::grid::GRID_SIZE;
use super::kernel::{Band, CellMoments, MAX_SIMD_SEGMENT, SegmentMoments, scalar_segment};
use super::simd;

/// Which implementation of the per-pixel work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// [`scalar_segment`], every CPU.
    Scalar,
    /// SSE2 (x86_64 baseline).
    Sse2,
    /// AVX2 (x86_64 when CPUID reports it).
    Avx2,
    /// NEON (ARMv7 with the NEON unit, checked in the ELF hardware capabilities).
    Neon,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Kernel {
        if simd::avx2_available() {
            Kernel::Avx2
        } else if cfg!(target_arch = "x86_64") {
            Kernel::Sse2
        } else if simd::neon_available() {
            Kernel::Neon
        } else {
            Kernel::Scalar
        }
    }

    /// Every kernel this CPU runs, the scalar reference first (for tests and benchmarks).
    pub fn available() -> Vec<Kernel> {
        let mut kernels = vec![Kernel::Scalar];
        if cfg!(target_arch = "x86_64") {
            kernels.push(Kernel::Sse2);
        }
        if Kernel::detect() != *kernels.last().expect("scalar") {
            kernels.push(Kernel::detect());
        }
        kernels
    }

    /// A short name for logs and benchmark output.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Sse2 => "sse2",
            Kernel::Avx2 => "avx2",
            Kernel::Neon => "neon",
        }
    }

    /// Adds to `cells` the moments of each of the band's cells (cell k spans columns
    /// `cols[k]..cols[k + 1]`) and updates the band's reference: what [`Kernel::segment`] on
    /// every row segment gives, with the SIMD sums kept per cell across rows.
    pub(crate) fn band(
        self,
        band: Band<'_>,
        cols: &[usize; GRID_SIZE + 1],
        cells: &mut [CellMoments; GRID_SIZE],
    ) {
        let widest = cols.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        match self {
            Kernel::Sse2 if widest <= MAX_SIMD_SEGMENT => simd::sse2_band(band, cols, cells),
            Kernel::Avx2 if widest <= MAX_SIMD_SEGMENT => simd::avx2_band(band, cols, cells),
            _ => {
                for (current, reference) in band.rows() {
                    for (k, cell) in cells.iter_mut().enumerate() {
                        let (start, end) = (cols[k], cols[k + 1]);
                        cell.add(self.segment(&current[start..end], &mut reference[start..end]));
                    }
                }
            }
        }
    }

    /// [`scalar_segment`] computed by this kernel (the same result, bit for bit). A kernel
    /// this CPU does not run falls back to the scalar one.
    pub(crate) fn segment(self, current: &[u8], reference: &mut [u16]) -> SegmentMoments {
        let len = current.len().min(reference.len());
        let (current, reference) = (&current[..len], &mut reference[..len]);
        if len > MAX_SIMD_SEGMENT {
            return scalar_segment(current, reference);
        }
        match self {
            Kernel::Scalar => scalar_segment(current, reference),
            Kernel::Sse2 => simd::sse2_segment(current, reference),
            Kernel::Avx2 => simd::avx2_segment(current, reference),
            Kernel::Neon => simd::neon_segment(current, reference),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::tests::cases;

    #[test]
    fn test_kernels_match_scalar_bit_for_bit() {
        let kernels = Kernel::available();
        // On x86_64 the SSE2 kernel always exists; under qemu-arm the emulated CPU has NEON.
        if cfg!(any(target_arch = "x86_64", target_arch = "arm")) {
            assert!(kernels.len() >= 2, "no SIMD kernel detected: {kernels:?}");
        }
        for &kernel in &kernels {
            // Every length around the vector widths, and cell widths of real frames.
            let lengths = (0..70).chain([127, 128, 129, 192, 384, 1023, 1024, 1025, 4100]);
            for (seed, len) in lengths.enumerate() {
                let (current, mut expected_ref) = cases(len, 0x9e37_79b9 ^ seed as u32);
                let mut got_ref = expected_ref.clone();
                // Run several frames so the references evolve.
                for frame in 0..3u8 {
                    let shifted: Vec<u8> = current
                        .iter()
                        .map(|&c| c.wrapping_add(frame * 37))
                        .collect();
                    let expected = scalar_segment(&shifted, &mut expected_ref);
                    let got = kernel.segment(&shifted, &mut got_ref);
                    assert_eq!(
                        got, expected,
                        "{kernel:?} moments, length {len}, frame {frame}"
                    );
                    assert_eq!(got_ref, expected_ref, "{kernel:?} reference, length {len}");
                }
            }
        }
    }

    #[test]
    fn test_kernel_bands_match_scalar_segments() {
        // A band of 13 rows, 203 pixels wide in a 211-byte stride, uneven cells.
        let (width, stride, rows) = (203usize, 211usize, 13usize);
        let cols: [usize; GRID_SIZE + 1] = std::array::from_fn(|k| k * width / GRID_SIZE);
        let (data, _) = cases(stride * (rows + 2), 7);
        let (_, reference) = cases(width * rows, 11);
        for &kernel in &Kernel::available() {
            let mut expected_ref = reference.clone();
            let mut expected = [CellMoments::default(); GRID_SIZE];
            for (i, row) in expected_ref.chunks_exact_mut(width).enumerate() {
                let current = &data[(2 + i) * stride..][..width];
                for (k, cell) in expected.iter_mut().enumerate() {
                    let (start, end) = (cols[k], cols[k + 1]);
                    cell.add(scalar_segment(&current[start..end], &mut row[start..end]));
                }
            }
            let mut got_ref = reference.clone();
            let mut got = [CellMoments::default(); GRID_SIZE];
            let band = Band {
                data: &data,
                stride,
                first_row: 2,
                width,
                reference: &mut got_ref,
            };
            kernel.band(band, &cols, &mut got);
            assert_eq!(got, expected, "{kernel:?}");
            assert_eq!(got_ref, expected_ref, "{kernel:?}");
        }
    }

    #[test]
    fn test_kernels_extreme_segments_match_scalar() {
        for &kernel in &Kernel::available() {
            // Largest moments: all 255 over bright-but-unclipped references, and all 254 over a
            // dark reference (kept: the clip-high rule needs a bright reference).
            for (c, r) in [
                (255u8, 2032u16),
                (254, 2000),
                (251, 4080),
                (4, 0),
                (3, 2047),
            ] {
                let len = 4096 + 15;
                let current = vec![c; len];
                let mut expected_ref = vec![r; len];
                let mut got_ref = expected_ref.clone();
                let expected = scalar_segment(&current, &mut expected_ref);
                assert_eq!(
                    kernel.segment(&current, &mut got_ref),
                    expected,
                    "{kernel:?} {c}/{r}"
                );
                assert_eq!(got_ref, expected_ref);
            }
        }
    }

    #[test]
    fn test_segment_ignores_extra_reference() {
        let mut reference = vec![100u16; 40];
        let m = Kernel::detect().segment(&[50u8; 33], &mut reference);
        assert_eq!(m.n, 33);
        assert_eq!(reference[33..], [100u16; 7]);
    }
}
