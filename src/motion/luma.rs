//! Luma planes for the detector from what capture delivers: a box-filtered downscale of a Y
//! plane (when only the main stream exists) and the Y samples of packed YUYV, both into a
//! caller-owned buffer that is reused from frame to frame (no allocation once it is large
//! enough).

/// The integer downscale factor that brings `width` to at most `target_width` (1 when it
/// already fits; 0 targets are treated as 1).
pub fn factor_for_width(width: usize, target_width: usize) -> usize {
    width.div_ceil(target_width.max(1)).max(1)
}

/// Averages `factor`×`factor` blocks of the Y plane (`width`×`height`, rows `stride` bytes
/// apart) into `out`; returns the new width and height, or `None` when the geometry does not
/// fit `src` or the factor is 0. Edge pixels that do not fill a block are dropped.
pub fn downscale_luma(
    src: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    factor: usize,
    out: &mut Vec<u8>,
) -> Option<(usize, usize)> {
    if factor == 0 || stride < width || height == 0 {
        return None;
    }
    let needed = stride.checked_mul(height - 1)?.checked_add(width)?;
    if src.len() < needed {
        return None;
    }
    let (out_width, out_height) = (width / factor, height / factor);
    out.clear();
    out.resize(out_width * out_height, 0);
    if factor == 1 {
        for (y, row) in out.chunks_exact_mut(out_width.max(1)).enumerate() {
            row.copy_from_slice(&src[y * stride..y * stride + out_width]);
        }
        return Some((out_width, out_height));
    }
    let area = (factor * factor) as u32;
    for (out_y, out_row) in out.chunks_exact_mut(out_width.max(1)).enumerate() {
        for (out_x, pixel) in out_row.iter_mut().enumerate() {
            let mut sum = 0u32;
            for y in out_y * factor..(out_y + 1) * factor {
                let start = y * stride + out_x * factor;
                sum += src[start..start + factor]
                    .iter()
                    .map(|&p| u32::from(p))
                    .sum::<u32>();
            }
            // The mean of bytes is a byte.
            *pixel = ((sum + area / 2) / area) as u8;
        }
    }
    Some((out_width, out_height))
}

/// The Y samples of a packed YUYV (Y0 U Y1 V) frame, rows `stride` bytes apart, averaged
/// over `factor`×`factor` blocks into `out`; returns the new width and height.
pub fn yuyv_luma(
    src: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    factor: usize,
    out: &mut Vec<u8>,
) -> Option<(usize, usize)> {
    let row_bytes = width.checked_mul(2)?;
    if factor == 0 || stride < row_bytes || height == 0 {
        return None;
    }
    let needed = stride.checked_mul(height - 1)?.checked_add(row_bytes)?;
    if src.len() < needed {
        return None;
    }
    let (out_width, out_height) = (width / factor, height / factor);
    out.clear();
    out.resize(out_width * out_height, 0);
    let area = (factor * factor) as u32;
    for (out_y, out_row) in out.chunks_exact_mut(out_width.max(1)).enumerate() {
        for (out_x, pixel) in out_row.iter_mut().enumerate() {
            let mut sum = 0u32;
            for y in out_y * factor..(out_y + 1) * factor {
                let row = &src[y * stride..y * stride + row_bytes];
                let block = &row[out_x * factor * 2..(out_x + 1) * factor * 2];
                sum += block.iter().step_by(2).map(|&p| u32::from(p)).sum::<u32>();
            }
            // The mean of bytes is a byte.
            *pixel = ((sum + area / 2) / area) as u8;
        }
    }
    Some((out_width, out_height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_factor_for_width_reaches_target() {
        assert_eq!(factor_for_width(1280, 320), 4);
        assert_eq!(factor_for_width(1280, 400), 4);
        assert_eq!(factor_for_width(640, 400), 2);
        assert_eq!(factor_for_width(320, 400), 1);
        assert_eq!(factor_for_width(320, 0), 320);
    }

    #[test]
    fn test_downscale_luma_averages_blocks_and_honours_stride() {
        // 4×2 picture, stride 6 (2 padding bytes of 255 per row).
        let src = [10, 20, 30, 50, 255, 255, 30, 40, 70, 90];
        let mut out = Vec::new();
        assert_eq!(downscale_luma(&src, 4, 2, 6, 2, &mut out), Some((2, 1)));
        assert_eq!(out, vec![25, 60]);
        assert_eq!(downscale_luma(&src, 4, 2, 6, 1, &mut out), Some((4, 2)));
        assert_eq!(out, vec![10, 20, 30, 50, 30, 40, 70, 90]);
        assert_eq!(
            downscale_luma(&src, 4, 3, 6, 2, &mut out),
            None,
            "too short"
        );
        assert_eq!(downscale_luma(&src, 4, 2, 6, 0, &mut out), None);
    }

    #[test]
    fn test_yuyv_luma_skips_chroma() {
        // 4×2 YUYV: Y values 10,20,30,40 / 50,60,70,80, chroma 128.
        let src = [
            10, 128, 20, 128, 30, 128, 40, 128, //
            50, 128, 60, 128, 70, 128, 80, 128,
        ];
        let mut out = Vec::new();
        assert_eq!(yuyv_luma(&src, 4, 2, 8, 1, &mut out), Some((4, 2)));
        assert_eq!(out, vec![10, 20, 30, 40, 50, 60, 70, 80]);
        assert_eq!(yuyv_luma(&src, 4, 2, 8, 2, &mut out), Some((2, 1)));
        assert_eq!(out, vec![35, 55]);
        assert_eq!(
            yuyv_luma(&src, 4, 2, 7, 1, &mut out),
            None,
            "stride < 2·width"
        );
    }

    #[test]
    fn test_downscale_luma_reuses_buffer_capacity() {
        let src = vec![100u8; 64 * 48];
        let mut out = Vec::new();
        downscale_luma(&src, 64, 48, 64, 2, &mut out).unwrap();
        let capacity = out.capacity();
        let pointer = out.as_ptr();
        downscale_luma(&src, 64, 48, 64, 2, &mut out).unwrap();
        assert_eq!((out.capacity(), out.as_ptr()), (capacity, pointer));
        assert!(out.iter().all(|&p| p == 100));
    }
}
