//! The software JPEG encoder ([`SoftwareJpegEncoder`]): baseline JFIF, 4:2:0 for colour
//! frames. With the `turbojpeg` feature (the device build, `linux` turns it on) it is
//! libjpeg-turbo with its SIMD (SSE2/AVX2 on x86_64, NEON on ARM, checked at run time),
//! built from source by `turbojpeg-sys` ([`TurboJpegEncoder`]); otherwise, and as the
//! benchmark's reference, the pure-Rust `jpeg-encoder` crate ([`PureRustJpegEncoder`]).
//! Planar I420 goes to either as planes straight from the frame (no RGB or 4:4:4 picture);
//! YUYV is fed row by row to `jpeg-encoder` and converted to I420 in a reused per-thread buffer
//! for libjpeg-turbo; Gray8 is encoded as a one-component JPEG; MJPEG frames are copied
//! through untouched.
//!
//! Measured in `benches/jpeg_encode.rs` (`scripts/bench.sh` prints both side by side).

use jpeg_encoder::{ColorType, EncodingError, ImageBuffer, JpegColorType, SamplingFactor};

use crate::video::{Encoder, Frame, PixelFormat, convert};
use crate::{HalError, HalErrorKind, HalResult};

/// The HAL's software JPEG encoder: [`TurboJpegEncoder`] when built with the `turbojpeg`
/// feature, else [`PureRustJpegEncoder`]. One instance serves every stream concurrently.
#[derive(Debug, Default, Clone, Copy)]
pub struct SoftwareJpegEncoder;

impl SoftwareJpegEncoder {
    /// Which library encodes ("libjpeg-turbo" or "jpeg-encoder"), for logs and benchmarks.
    pub const LIBRARY: &'static str = if cfg!(feature = "turbojpeg") {
        "libjpeg-turbo"
    } else {
        "jpeg-encoder"
    };
}

impl Encoder for SoftwareJpegEncoder {
    fn encode_jpeg(&self, frame: &Frame, quality: u8, out: &mut Vec<u8>) -> HalResult<()> {
        #[cfg(feature = "turbojpeg")]
        {
            TurboJpegEncoder.encode_jpeg(frame, quality, out)
        }
        #[cfg(not(feature = "turbojpeg"))]
        {
            PureRustJpegEncoder.encode_jpeg(frame, quality, out)
        }
    }
}

/// The pure-Rust encoder (`jpeg-encoder`); stateless.
#[derive(Debug, Default, Clone, Copy)]
pub struct PureRustJpegEncoder;

/// An I420 picture seen as the YCbCr rows the encoder asks for (chroma repeated to full
/// resolution; the encoder's 2×2 subsampling averages it back to the original samples).
struct I420Rows<'a> {
    y: &'a [u8],
    u: &'a [u8],
    v: &'a [u8],
    width: u16,
    height: u16,
}

impl ImageBuffer for I420Rows<'_> {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, row: u16, buffers: &mut [Vec<u8>; 4]) {
        let w = usize::from(self.width);
        let cw = w.div_ceil(2);
        let row = usize::from(row);
        let y_row = &self.y[row * w..(row + 1) * w];
        let c = (row / 2) * cw;
        let (u_row, v_row) = (&self.u[c..c + cw], &self.v[c..c + cw]);
        buffers[0].extend_from_slice(y_row);
        let [_, u_out, v_out, _] = buffers;
        for (plane, out) in [(u_row, u_out), (v_row, v_out)] {
            out.reserve(w);
            for &sample in &plane[..w / 2] {
                out.extend_from_slice(&[sample, sample]);
            }
            if w % 2 == 1 {
                out.push(plane[w / 2]);
            }
        }
    }
}

/// A packed YUYV picture seen as YCbCr rows.
struct YuyvRows<'a> {
    data: &'a [u8],
    width: u16,
    height: u16,
}

impl ImageBuffer for YuyvRows<'_> {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, row: u16, buffers: &mut [Vec<u8>; 4]) {
        let stride = usize::from(self.width) * 2;
        let row = usize::from(row);
        for quad in self.data[row * stride..(row + 1) * stride].chunks_exact(4) {
            buffers[0].push(quad[0]);
            buffers[0].push(quad[2]);
            buffers[1].push(quad[1]);
            buffers[1].push(quad[1]);
            buffers[2].push(quad[3]);
            buffers[2].push(quad[3]);
        }
    }
}

fn encode_error(err: EncodingError) -> HalError {
    HalError::new(HalErrorKind::Io, format!("JPEG encoding: {err}"))
}

fn invalid(what: impl Into<String>) -> HalError {
    HalError::new(HalErrorKind::InvalidArgument, what)
}

/// What a frame needs before encoding: its size and the bytes its pixels take.
struct Checked {
    width: u16,
    height: u16,
    needed: usize,
}

/// Checks quality and geometry; `None` for an MJPEG frame, which is copied into `out`.
fn check(frame: &Frame, quality: u8, out: &mut Vec<u8>) -> HalResult<Option<Checked>> {
    out.clear();
    if frame.format == PixelFormat::Mjpeg {
        out.extend_from_slice(&frame.data);
        return Ok(None);
    }
    if !(1..=100).contains(&quality) {
        return Err(invalid(format!("JPEG quality {quality} outside 1..=100")));
    }
    let (width, height) = match (u16::try_from(frame.width), u16::try_from(frame.height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => (w, h),
        _ => {
            return Err(invalid(format!(
                "JPEG picture size {}x{} outside 1..=65535",
                frame.width, frame.height
            )));
        }
    };
    let (w, h) = (usize::from(width), usize::from(height));
    let needed = match frame.format {
        PixelFormat::Gray8 => w * h,
        PixelFormat::I420 => convert::i420_len(w, h),
        PixelFormat::Yuyv if w % 2 == 0 => w * h * 2,
        PixelFormat::Yuyv => return Err(invalid("YUYV frame with an odd width")),
        PixelFormat::Mjpeg => 0,
    };
    if frame.data.len() < needed {
        return Err(invalid(format!(
            "{:?} frame of {}x{} has {} bytes, needs {needed}",
            frame.format,
            w,
            h,
            frame.data.len()
        )));
    }
    Ok(Some(Checked {
        width,
        height,
        needed,
    }))
}

impl Encoder for PureRustJpegEncoder {
    fn encode_jpeg(&self, frame: &Frame, quality: u8, out: &mut Vec<u8>) -> HalResult<()> {
        let Some(Checked {
            width,
            height,
            needed,
        }) = check(frame, quality, out)?
        else {
            return Ok(());
        };
        let (w, h) = (usize::from(width), usize::from(height));
        // Baseline JPEG of a camera picture is a fraction of the raw size; reserve once so a
        // reused `out` stops growing after the first frames.
        out.reserve(needed / 4);
        let mut encoder = jpeg_encoder::Encoder::new(&mut *out, quality);
        encoder.set_sampling_factor(SamplingFactor::F_2_2);
        match frame.format {
            PixelFormat::Gray8 => encoder
                .encode(&frame.data[..needed], width, height, ColorType::Luma)
                .map_err(encode_error),
            PixelFormat::I420 => {
                let (cw, ch) = convert::i420_chroma_size(w, h);
                let (y, chroma) = frame.data.split_at(w * h);
                let (u, v) = chroma.split_at(cw * ch);
                encoder
                    .encode_image(I420Rows {
                        y,
                        u,
                        v: &v[..cw * ch],
                        width,
                        height,
                    })
                    .map_err(encode_error)
            }
            PixelFormat::Yuyv => encoder
                .encode_image(YuyvRows {
                    data: &frame.data[..needed],
                    width,
                    height,
                })
                .map_err(encode_error),
            PixelFormat::Mjpeg => Ok(()),
        }
    }
}

/// libjpeg-turbo through the `turbojpeg` crate. Each thread that encodes keeps one TurboJPEG
/// compressor and one YUYV conversion buffer, so a capture loop allocates nothing per frame
/// once `out` has grown to the worst-case JPEG size.
#[cfg(feature = "turbojpeg")]
#[derive(Debug, Default, Clone, Copy)]
pub struct TurboJpegEncoder;

#[cfg(feature = "turbojpeg")]
fn turbo_error(err: turbojpeg::Error) -> HalError {
    HalError::new(
        HalErrorKind::Io,
        format!("JPEG encoding (libjpeg-turbo): {err}"),
    )
}

/// One thread's TurboJPEG compressor and its reused buffers.
#[cfg(feature = "turbojpeg")]
struct TurboState {
    compressor: turbojpeg::Compressor,
    /// YUYV converted to I420.
    converted: Vec<u8>,
    /// An odd-sized I420 picture padded to even dimensions (TurboJPEG reads whole 2×2 blocks).
    padded: Vec<u8>,
}

/// Copies the I420 picture `src` (`width`×`height`) into `out` with the luma plane padded to
/// even dimensions by repeating the last column and row; returns the padded luma width. The
/// chroma planes (already rounded up) are copied as they are.
#[cfg(feature = "turbojpeg")]
fn pad_i420(src: &[u8], width: usize, height: usize, out: &mut Vec<u8>) -> usize {
    let (pw, ph) = (width.next_multiple_of(2), height.next_multiple_of(2));
    out.clear();
    for row in src[..width * height].chunks_exact(width) {
        out.extend_from_slice(row);
        if pw > width {
            out.push(row[width - 1]);
        }
    }
    if ph > height {
        out.extend_from_within(out.len() - pw..);
    }
    out.extend_from_slice(&src[width * height..convert::i420_len(width, height)]);
    pw
}

#[cfg(feature = "turbojpeg")]
thread_local! {
    /// This thread's compressor and YUYV→I420 buffer.
    static TURBO: std::cell::RefCell<Option<TurboState>> = const { std::cell::RefCell::new(None) };
}

#[cfg(feature = "turbojpeg")]
impl Encoder for TurboJpegEncoder {
    fn encode_jpeg(&self, frame: &Frame, quality: u8, out: &mut Vec<u8>) -> HalResult<()> {
        use turbojpeg::{Image, Subsamp, YuvPlanesImage};

        let Some(Checked {
            width,
            height,
            needed,
        }) = check(frame, quality, out)?
        else {
            return Ok(());
        };
        let (w, h) = (usize::from(width), usize::from(height));
        TURBO.with_borrow_mut(|slot| {
            if slot.is_none() {
                *slot = Some(TurboState {
                    compressor: turbojpeg::Compressor::new().map_err(turbo_error)?,
                    converted: Vec::new(),
                    padded: Vec::new(),
                });
            }
            let Some(TurboState {
                compressor,
                converted,
                padded,
            }) = slot.as_mut()
            else {
                return Err(HalError::new(HalErrorKind::Io, "no TurboJPEG compressor"));
            };
            compressor
                .set_quality(i32::from(quality))
                .map_err(turbo_error)?;
            let subsamp = if frame.format == PixelFormat::Gray8 {
                Subsamp::Gray
            } else {
                Subsamp::Sub2x2
            };
            compressor.set_subsamp(subsamp).map_err(turbo_error)?;
            // The worst-case size, written in place; `out` keeps its capacity between frames.
            out.resize(compressor.buf_len(w, h).map_err(turbo_error)?, 0);
            let planar: &[u8] = match frame.format {
                PixelFormat::Gray8 => {
                    let image = Image {
                        pixels: &frame.data[..needed],
                        width: w,
                        pitch: w,
                        height: h,
                        format: turbojpeg::PixelFormat::GRAY,
                    };
                    let len = compressor
                        .compress_to_slice(image, out)
                        .map_err(turbo_error)?;
                    out.truncate(len);
                    return Ok(());
                }
                PixelFormat::I420 => &frame.data[..needed],
                PixelFormat::Yuyv => {
                    converted.resize(convert::i420_len(w, h), 0);
                    convert::yuyv_to_i420(&frame.data, w * 2, w, h, converted)?;
                    converted
                }
                PixelFormat::Mjpeg => return Ok(()),
            };
            let (cw, ch) = convert::i420_chroma_size(w, h);
            let (planar, y_stride, y_rows) = if w % 2 == 1 || h % 2 == 1 {
                let pw = pad_i420(planar, w, h, padded);
                (&padded[..], pw, h.next_multiple_of(2))
            } else {
                (planar, w, h)
            };
            let (y_plane, chroma) = planar.split_at(y_stride * y_rows);
            let (u_plane, v_plane) = chroma.split_at(cw * ch);
            let image = YuvPlanesImage {
                y_plane,
                u_plane,
                v_plane,
                width: w,
                height: h,
                y_stride,
                u_stride: cw,
                v_stride: cw,
                subsamp,
            };
            let len = compressor
                .compress_yuv_planes_to_slice(&image, out)
                .map_err(turbo_error)?;
            out.truncate(len);
            Ok(())
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::SystemTime;

    /// A frame of `format` holding `data` (the JPEG tests' and the M2M JPEG encoder's).
    pub(crate) fn frame(format: PixelFormat, width: u32, height: u32, data: Vec<u8>) -> Frame {
        Frame {
            width,
            height,
            format,
            data: Arc::from(data),
            sequence: 1,
            captured: SystemTime::now(),
        }
    }

    /// Decodes with a real decoder; returns (width, height, mean luma).
    fn decode_luma(jpeg: &[u8]) -> (usize, usize, f64) {
        use zune_jpeg::zune_core::bytestream::ZCursor;
        use zune_jpeg::zune_core::colorspace::ColorSpace;
        use zune_jpeg::zune_core::options::DecoderOptions;
        let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
        let pixels = decoder.decode().expect("decode");
        let (w, h) = decoder.dimensions().expect("dimensions");
        let mean = pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / pixels.len() as f64;
        (w, h, mean)
    }

    fn gradient_i420(w: usize, h: usize, luma: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        let mut data = vec![128u8; convert::i420_len(w, h)];
        for y in 0..h {
            for x in 0..w {
                data[y * w + x] = luma(x, y);
            }
        }
        data
    }

    #[test]
    fn test_encode_i420_decodes_to_same_size_and_mean_luma() {
        let (w, h) = (64usize, 48usize);
        let data = gradient_i420(w, h, |x, y| (40 + x + y) as u8);
        let expected_mean =
            data[..w * h].iter().map(|&p| f64::from(p)).sum::<f64>() / (w * h) as f64;
        let mut out = Vec::new();
        SoftwareJpegEncoder
            .encode_jpeg(&frame(PixelFormat::I420, 64, 48, data), 90, &mut out)
            .expect("encode");
        assert_eq!(&out[..2], &[0xFF, 0xD8]);
        let (dw, dh, mean) = decode_luma(&out);
        assert_eq!((dw, dh), (w, h));
        assert!(
            (mean - expected_mean).abs() < 2.0,
            "{mean} vs {expected_mean}"
        );
    }

    #[test]
    fn test_encode_odd_size_i420_decodes() {
        let (w, h) = (33usize, 17usize);
        let data = gradient_i420(w, h, |_, _| 150);
        let mut out = Vec::new();
        SoftwareJpegEncoder
            .encode_jpeg(&frame(PixelFormat::I420, 33, 17, data), 80, &mut out)
            .expect("encode");
        let (dw, dh, mean) = decode_luma(&out);
        assert_eq!((dw, dh), (w, h));
        assert!((mean - 150.0).abs() < 2.0);
    }

    #[test]
    fn test_encode_gray8_and_yuyv_decode_to_their_luma() {
        let mut out = Vec::new();
        SoftwareJpegEncoder
            .encode_jpeg(
                &frame(PixelFormat::Gray8, 32, 16, vec![60; 512]),
                75,
                &mut out,
            )
            .expect("gray");
        let (w, h, mean) = decode_luma(&out);
        assert_eq!((w, h), (32, 16));
        assert!((mean - 60.0).abs() < 2.0);
        let yuyv: Vec<u8> = std::iter::repeat_n([200u8, 128, 200, 128], 32 * 16 / 2)
            .flatten()
            .collect();
        SoftwareJpegEncoder
            .encode_jpeg(&frame(PixelFormat::Yuyv, 32, 16, yuyv), 75, &mut out)
            .expect("yuyv");
        let (w, h, mean) = decode_luma(&out);
        assert_eq!((w, h), (32, 16));
        assert!((mean - 200.0).abs() < 2.0);
    }

    #[test]
    fn test_encode_odd_height_yuyv_and_odd_gray_decode() {
        let (w, h) = (34usize, 17usize);
        let yuyv: Vec<u8> = std::iter::repeat_n([90u8, 128, 90, 128], w * h / 2)
            .flatten()
            .collect();
        let mut out = Vec::new();
        SoftwareJpegEncoder
            .encode_jpeg(&frame(PixelFormat::Yuyv, 34, 17, yuyv), 80, &mut out)
            .expect("yuyv");
        let (dw, dh, mean) = decode_luma(&out);
        assert_eq!((dw, dh), (w, h));
        assert!((mean - 90.0).abs() < 2.0, "{mean}");
        SoftwareJpegEncoder
            .encode_jpeg(&frame(PixelFormat::Gray8, 7, 5, vec![30; 35]), 80, &mut out)
            .expect("gray");
        let (dw, dh, mean) = decode_luma(&out);
        assert_eq!((dw, dh), (7, 5));
        assert!((mean - 30.0).abs() < 2.0, "{mean}");
    }

    /// Both libraries encode the same picture to the same luma (within JPEG error).
    #[cfg(feature = "turbojpeg")]
    #[test]
    fn test_turbo_and_pure_rust_encoders_agree() {
        let (w, h) = (96usize, 64usize);
        let data = gradient_i420(w, h, |x, y| (30 + 2 * x + y) as u8);
        let f = frame(PixelFormat::I420, 96, 64, data);
        let (mut turbo, mut pure) = (Vec::new(), Vec::new());
        TurboJpegEncoder
            .encode_jpeg(&f, 85, &mut turbo)
            .expect("turbo");
        PureRustJpegEncoder
            .encode_jpeg(&f, 85, &mut pure)
            .expect("pure");
        let (a, b) = (decode_luma(&turbo), decode_luma(&pure));
        assert_eq!((a.0, a.1), (b.0, b.1));
        assert!((a.2 - b.2).abs() < 1.0, "{a:?} vs {b:?}");
    }

    #[test]
    fn test_encode_mjpeg_passes_bytes_through() {
        let jpeg = vec![0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9];
        let mut out = vec![9; 100];
        SoftwareJpegEncoder
            .encode_jpeg(&frame(PixelFormat::Mjpeg, 8, 8, jpeg.clone()), 50, &mut out)
            .expect("copy");
        assert_eq!(out, jpeg);
    }

    #[test]
    fn test_encode_quality_changes_size_and_bad_quality_is_rejected() {
        let (w, h) = (128usize, 96usize);
        let data = gradient_i420(w, h, |x, y| ((x * 7) ^ (y * 13)) as u8);
        let f = frame(PixelFormat::I420, 128, 96, data);
        let (mut low, mut high) = (Vec::new(), Vec::new());
        SoftwareJpegEncoder
            .encode_jpeg(&f, 10, &mut low)
            .expect("q10");
        SoftwareJpegEncoder
            .encode_jpeg(&f, 95, &mut high)
            .expect("q95");
        assert!(
            low.len() < high.len() / 2,
            "{} vs {}",
            low.len(),
            high.len()
        );
        for bad in [0u8, 101] {
            let err = SoftwareJpegEncoder
                .encode_jpeg(&f, bad, &mut low)
                .expect_err("bad");
            assert_eq!(err.kind(), HalErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn test_encode_short_frame_is_rejected() {
        let mut out = Vec::new();
        let err = SoftwareJpegEncoder
            .encode_jpeg(
                &frame(PixelFormat::I420, 64, 48, vec![0; 100]),
                50,
                &mut out,
            )
            .expect_err("short");
        assert_eq!(err.kind(), HalErrorKind::InvalidArgument);
    }

    #[test]
    fn test_encode_reused_buffer_does_not_grow() {
        let (w, h) = (160usize, 120usize);
        let data = gradient_i420(w, h, |x, y| ((x * 3) ^ y) as u8);
        let f = frame(PixelFormat::I420, 160, 120, data);
        let mut out = Vec::new();
        SoftwareJpegEncoder
            .encode_jpeg(&f, 80, &mut out)
            .expect("first");
        let capacity = out.capacity();
        for _ in 0..10 {
            SoftwareJpegEncoder
                .encode_jpeg(&f, 80, &mut out)
                .expect("again");
        }
        assert_eq!(out.capacity(), capacity);
    }
}
