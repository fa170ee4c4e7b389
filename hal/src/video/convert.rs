//! Pixel-format conversion and orientation: YUYV and NV12 to planar I420, nearest-neighbour
//! plane scaling, and the software mirror/flip the daemon applies when a device has no
//! HFLIP/VFLIP control. Pure functions over byte slices, no I/O, no allocation unless a
//! function returns a new [`Frame`].

use std::sync::Arc;

use crate::video::{Frame, PixelFormat};
use crate::{HalError, HalErrorKind, HalResult};

/// Width and height of the chroma planes of an I420 picture of `width`×`height` (rounded up).
pub fn i420_chroma_size(width: usize, height: usize) -> (usize, usize) {
    (width.div_ceil(2), height.div_ceil(2))
}

/// Bytes of an I420 picture of `width`×`height`.
pub fn i420_len(width: usize, height: usize) -> usize {
    let (cw, ch) = i420_chroma_size(width, height);
    width * height + 2 * cw * ch
}

/// Splits an I420 buffer into its Y, U and V planes. `None` when `data` is too short.
pub fn i420_planes_mut(
    data: &mut [u8],
    width: usize,
    height: usize,
) -> Option<(&mut [u8], &mut [u8], &mut [u8])> {
    let (cw, ch) = i420_chroma_size(width, height);
    let luma_len = width * height;
    let chroma_len = cw * ch;
    let data = data.get_mut(..luma_len + 2 * chroma_len)?;
    let (y, rest) = data.split_at_mut(luma_len);
    let (u, v) = rest.split_at_mut(chroma_len);
    Some((y, u, v))
}

fn too_short(what: &str) -> HalError {
    HalError::new(
        HalErrorKind::InvalidArgument,
        format!("{what}: buffer too short for the picture size"),
    )
}

/// Converts packed YUYV 4:2:2 (`src_stride` bytes per row) into I420 in `dst`. Chroma of two
/// source rows is averaged into one I420 chroma row.
pub fn yuyv_to_i420(
    src: &[u8],
    src_stride: usize,
    width: usize,
    height: usize,
    dst: &mut [u8],
) -> HalResult<()> {
    if width % 2 != 0
        || src_stride < width * 2
        || src.len() < src_stride * (height.max(1) - 1) + width * 2
    {
        return Err(too_short("YUYV to I420"));
    }
    let (y_plane, u_plane, v_plane) =
        i420_planes_mut(dst, width, height).ok_or_else(|| too_short("YUYV to I420"))?;
    let cw = width / 2;
    for row in 0..height {
        let src_row = &src[row * src_stride..row * src_stride + width * 2];
        let y_row = &mut y_plane[row * width..(row + 1) * width];
        for (pair, y_out) in src_row.chunks_exact(4).zip(y_row.chunks_exact_mut(2)) {
            y_out[0] = pair[0];
            y_out[1] = pair[2];
        }
    }
    for crow in 0..height.div_ceil(2) {
        let top = crow * 2;
        let bottom = (top + 1).min(height - 1);
        let top_row = &src[top * src_stride..top * src_stride + width * 2];
        let bottom_row = &src[bottom * src_stride..bottom * src_stride + width * 2];
        let u_row = &mut u_plane[crow * cw..(crow + 1) * cw];
        let v_row = &mut v_plane[crow * cw..(crow + 1) * cw];
        for (i, (a, b)) in top_row
            .chunks_exact(4)
            .zip(bottom_row.chunks_exact(4))
            .enumerate()
        {
            u_row[i] = (u16::from(a[1]) + u16::from(b[1])).div_ceil(2) as u8;
            v_row[i] = (u16::from(a[3]) + u16::from(b[3])).div_ceil(2) as u8;
        }
    }
    Ok(())
}

/// Converts NV12 (Y plane, then interleaved UV at half resolution; `src_stride` bytes per row
/// in both planes) into I420 in `dst`.
pub fn nv12_to_i420(
    src: &[u8],
    src_stride: usize,
    width: usize,
    height: usize,
    dst: &mut [u8],
) -> HalResult<()> {
    let (cw, ch) = i420_chroma_size(width, height);
    if src_stride < width || src.len() < src_stride * height + src_stride * (ch.max(1) - 1) + cw * 2
    {
        return Err(too_short("NV12 to I420"));
    }
    let (y_plane, u_plane, v_plane) =
        i420_planes_mut(dst, width, height).ok_or_else(|| too_short("NV12 to I420"))?;
    for row in 0..height {
        y_plane[row * width..(row + 1) * width]
            .copy_from_slice(&src[row * src_stride..row * src_stride + width]);
    }
    let uv = &src[src_stride * height..];
    for crow in 0..ch {
        let uv_row = &uv[crow * src_stride..crow * src_stride + cw * 2];
        for (i, pair) in uv_row.chunks_exact(2).enumerate() {
            u_plane[crow * cw + i] = pair[0];
            v_plane[crow * cw + i] = pair[1];
        }
    }
    Ok(())
}

/// Copies a plane with row padding (`src_stride` ≥ `width`) into a tightly packed one.
pub fn copy_plane(
    src: &[u8],
    src_stride: usize,
    width: usize,
    height: usize,
    dst: &mut [u8],
) -> HalResult<()> {
    if src_stride < width
        || src.len() < src_stride * (height.max(1) - 1) + width
        || dst.len() < width * height
    {
        return Err(too_short("plane copy"));
    }
    for row in 0..height {
        dst[row * width..(row + 1) * width]
            .copy_from_slice(&src[row * src_stride..row * src_stride + width]);
    }
    Ok(())
}

/// Scales one plane with nearest-neighbour sampling, shifting the source by
/// (`offset_x`, `offset_y`) pixels of the source with wrap-around (used to pan a scene).
#[allow(clippy::too_many_arguments)]
pub fn scale_plane_nearest(
    src: &[u8],
    src_width: usize,
    src_height: usize,
    dst: &mut [u8],
    dst_width: usize,
    dst_height: usize,
    offset_x: i64,
    offset_y: i64,
) {
    if src_width == 0 || src_height == 0 || src.len() < src_width * src_height {
        return;
    }
    let sw = src_width as i64;
    let sh = src_height as i64;
    for (row, dst_row) in dst.chunks_exact_mut(dst_width).take(dst_height).enumerate() {
        let sy = ((row * src_height / dst_height) as i64 + offset_y).rem_euclid(sh) as usize;
        let src_row = &src[sy * src_width..(sy + 1) * src_width];
        for (col, px) in dst_row.iter_mut().enumerate() {
            let sx = ((col * src_width / dst_width) as i64 + offset_x).rem_euclid(sw) as usize;
            *px = src_row[sx];
        }
    }
}

/// Mirrors a plane left-right in place.
pub fn mirror_plane(plane: &mut [u8], width: usize, height: usize) {
    if width == 0 {
        return;
    }
    for row in plane.chunks_exact_mut(width).take(height) {
        row.reverse();
    }
}

/// Flips a plane upside down in place.
pub fn flip_plane(plane: &mut [u8], width: usize, height: usize) {
    let plane = match plane.get_mut(..width * height) {
        Some(p) => p,
        None => return,
    };
    for top in 0..height / 2 {
        let bottom = height - 1 - top;
        let (upper, lower) = plane.split_at_mut(bottom * width);
        upper[top * width..(top + 1) * width].swap_with_slice(&mut lower[..width]);
    }
}

/// Mirrors (left-right) and/or flips (upside down) a planar picture in place: I420 (all three
/// planes) or Gray8.
pub fn orient_in_place(
    data: &mut [u8],
    format: PixelFormat,
    width: usize,
    height: usize,
    mirror: bool,
    flip: bool,
) -> HalResult<()> {
    match format {
        PixelFormat::I420 => {
            let (cw, ch) = i420_chroma_size(width, height);
            let (y, u, v) =
                i420_planes_mut(data, width, height).ok_or_else(|| too_short("orientation"))?;
            for (plane, w, h) in [(y, width, height), (u, cw, ch), (v, cw, ch)] {
                if mirror {
                    mirror_plane(plane, w, h);
                }
                if flip {
                    flip_plane(plane, w, h);
                }
            }
            Ok(())
        }
        PixelFormat::Gray8 => {
            let plane = data
                .get_mut(..width * height)
                .ok_or_else(|| too_short("orientation"))?;
            if mirror {
                mirror_plane(plane, width, height);
            }
            if flip {
                flip_plane(plane, width, height);
            }
            Ok(())
        }
        PixelFormat::Yuyv | PixelFormat::Mjpeg => Err(HalError::new(
            HalErrorKind::NotSupported,
            "software mirror/flip needs a planar frame (I420 or Gray8)",
        )),
    }
}

/// The software mirror/flip for a device without HFLIP/VFLIP controls: a new frame (one
/// allocation) with the picture mirrored and/or flipped. Returns the same frame (no copy) when
/// neither is asked for.
pub fn orient_frame(frame: &Frame, mirror: bool, flip: bool) -> HalResult<Frame> {
    if !mirror && !flip {
        return Ok(frame.clone());
    }
    let mut data = frame.data.to_vec();
    orient_in_place(
        &mut data,
        frame.format,
        frame.width as usize,
        frame.height as usize,
        mirror,
        flip,
    )?;
    Ok(Frame {
        data: Arc::from(data),
        ..frame.clone()
    })
}

/// Corrects radial (barrel) lens distortion of one plane, nearest neighbour: each output
/// pixel at normalised radius `r` from the centre (1 = half the diagonal) takes the source
/// pixel at radius `r · (1 + k·r²)`. `k` > 0 pulls a barrel-distorted picture straight; the
/// corners that fall outside the source are black (`fill`).
pub fn undistort_plane(
    src: &[u8],
    dst: &mut [u8],
    width: usize,
    height: usize,
    k: f32,
    fill: u8,
) -> HalResult<()> {
    if src.len() < width * height || dst.len() < width * height {
        return Err(HalError::new(
            HalErrorKind::InvalidArgument,
            "plane shorter than its size",
        ));
    }
    let (cx, cy) = ((width as f32 - 1.0) / 2.0, (height as f32 - 1.0) / 2.0);
    let norm = 1.0 / (cx * cx + cy * cy).max(1.0);
    for y in 0..height {
        let dy = y as f32 - cy;
        let dy2 = dy * dy * norm;
        let row = &mut dst[y * width..(y + 1) * width];
        for (x, out) in row.iter_mut().enumerate() {
            let dx = x as f32 - cx;
            let scale = 1.0 + k * (dx * dx * norm + dy2);
            let sx = (cx + dx * scale).round();
            let sy = (cy + dy * scale).round();
            *out = if sx >= 0.0 && sy >= 0.0 && (sx as usize) < width && (sy as usize) < height {
                src[sy as usize * width + sx as usize]
            } else {
                fill
            };
        }
    }
    Ok(())
}

/// [`undistort_plane`] over a whole I420 or Gray8 frame into a new one (`k` = 0: the frame
/// itself). Packed or compressed frames are refused.
pub fn undistort_frame(frame: &Frame, k: f32) -> HalResult<Frame> {
    if k == 0.0 {
        return Ok(frame.clone());
    }
    let (w, h) = (frame.width as usize, frame.height as usize);
    let mut data = vec![0u8; frame.data.len()];
    match frame.format {
        PixelFormat::Gray8 => undistort_plane(&frame.data, &mut data, w, h, k, 0)?,
        PixelFormat::I420 => {
            if frame.data.len() < i420_len(w, h) {
                return Err(HalError::new(
                    HalErrorKind::InvalidArgument,
                    "I420 frame shorter than its size",
                ));
            }
            let (cw, ch) = i420_chroma_size(w, h);
            let (sy, srest) = frame.data.split_at(w * h);
            let (su, sv) = srest.split_at(cw * ch);
            let (dy, drest) = data.split_at_mut(w * h);
            let (du, dv) = drest.split_at_mut(cw * ch);
            undistort_plane(sy, dy, w, h, k, 0)?;
            undistort_plane(su, du, cw, ch, k, 128)?;
            undistort_plane(sv, dv, cw, ch, k, 128)?;
        }
        PixelFormat::Yuyv | PixelFormat::Mjpeg => {
            return Err(HalError::new(
                HalErrorKind::NotSupported,
                "lens correction needs planar frames",
            ));
        }
    }
    Ok(Frame {
        data: Arc::from(data),
        ..frame.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn test_yuyv_to_i420_known_pixels_land_in_planes() {
        // 4x2 picture: row 0 Y=10,20,30,40 U=100,110 V=200,210; row 1 Y=50.. U=102,112 V=202,212
        let src = [
            10, 100, 20, 200, 30, 110, 40, 210, //
            50, 102, 60, 202, 70, 112, 80, 212,
        ];
        let mut dst = vec![0u8; i420_len(4, 2)];
        yuyv_to_i420(&src, 8, 4, 2, &mut dst).expect("convert");
        assert_eq!(&dst[..8], &[10, 20, 30, 40, 50, 60, 70, 80]);
        assert_eq!(&dst[8..10], &[101, 111]);
        assert_eq!(&dst[10..12], &[201, 211]);
    }

    #[test]
    fn test_yuyv_to_i420_short_source_is_rejected() {
        let mut dst = vec![0u8; i420_len(4, 2)];
        let err = yuyv_to_i420(&[0u8; 8], 8, 4, 2, &mut dst).expect_err("short");
        assert_eq!(err.kind(), HalErrorKind::InvalidArgument);
    }

    #[test]
    fn test_nv12_to_i420_deinterleaves_chroma() {
        let mut src = vec![7u8; 4 * 2];
        src.extend_from_slice(&[1, 2, 3, 4]);
        let mut dst = vec![0u8; i420_len(4, 2)];
        nv12_to_i420(&src, 4, 4, 2, &mut dst).expect("convert");
        assert_eq!(&dst[8..], &[1, 3, 2, 4]);
    }

    #[test]
    fn test_orient_frame_mirror_reverses_rows_of_every_plane() {
        let (w, h) = (4usize, 2usize);
        let data: Vec<u8> = (0..i420_len(w, h) as u8).collect();
        let frame = Frame {
            width: w as u32,
            height: h as u32,
            format: PixelFormat::I420,
            data: Arc::from(data),
            sequence: 1,
            captured: SystemTime::now(),
        };
        let mirrored = orient_frame(&frame, true, false).expect("mirror");
        assert_eq!(&mirrored.data[..4], &[3, 2, 1, 0]);
        assert_eq!(&mirrored.data[4..8], &[7, 6, 5, 4]);
        assert_eq!(&mirrored.data[8..10], &[9, 8]);
        assert_eq!(&mirrored.data[10..12], &[11, 10]);
        let flipped = orient_frame(&frame, false, true).expect("flip");
        assert_eq!(&flipped.data[..8], &[4, 5, 6, 7, 0, 1, 2, 3]);
        let unchanged = orient_frame(&frame, false, false).expect("none");
        assert!(Arc::ptr_eq(&unchanged.data, &frame.data));
    }

    #[test]
    fn test_orient_in_place_mjpeg_is_not_supported() {
        let err = orient_in_place(&mut [0u8; 4], PixelFormat::Mjpeg, 2, 2, true, false)
            .expect_err("mjpeg");
        assert_eq!(err.kind(), HalErrorKind::NotSupported);
    }

    #[test]
    fn test_scale_plane_nearest_doubles_and_wraps_offset() {
        let src = [1u8, 2, 3, 4];
        let mut dst = [0u8; 16];
        scale_plane_nearest(&src, 2, 2, &mut dst, 4, 4, 0, 0);
        assert_eq!(&dst[..4], &[1, 1, 2, 2]);
        assert_eq!(&dst[12..], &[3, 3, 4, 4]);
        scale_plane_nearest(&src, 2, 2, &mut dst, 4, 4, 1, 0);
        assert_eq!(&dst[..4], &[2, 2, 1, 1]);
    }

    #[test]
    fn test_undistort_pulls_a_barrel_bent_line_straight_and_keeps_the_centre() {
        // A vertical line at x = 12 of a 64x48 picture, bent outwards at mid height as a
        // barrel lens shows it: correction maps every row's sample back onto one column.
        let (w, h) = (64usize, 48usize);
        let k = 1.0f32;
        let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
        let norm = 1.0 / (cx * cx + cy * cy);
        let mut src = vec![0u8; w * h];
        let straight_x = 12usize;
        let dx = straight_x as f32 - cx;
        let mut columns = std::collections::BTreeSet::new();
        let mut inside = Vec::new();
        for y in 0..h {
            let dy = y as f32 - cy;
            let scale = 1.0 + k * (dx * dx * norm + dy * dy * norm);
            let sx = (cx + dx * scale).round();
            let sy = (cy + dy * scale).round();
            if sx >= 0.0 && sy >= 0.0 && (sy as usize) < h {
                let sx = sx as usize;
                let sy = sy as usize;
                src[sy * w + sx] = 255;
                columns.insert(sx);
                inside.push(y);
            }
        }
        assert!(columns.len() > 2, "the line is bent in the source");
        let mut dst = vec![0u8; w * h];
        undistort_plane(&src, &mut dst, w, h, k, 0).unwrap();
        assert!(inside.len() > h / 2);
        for y in 0..h {
            let want = if inside.contains(&y) { 255 } else { 0 };
            assert_eq!(dst[y * w + straight_x], want, "row {y}");
        }
        // No correction: the picture as it was.
        let mut same = vec![0u8; w * h];
        undistort_plane(&src, &mut same, w, h, 0.0, 0).unwrap();
        assert_eq!(same, src);
        assert!(undistort_plane(&src[..10], &mut dst, w, h, k, 0).is_err());
    }
}
