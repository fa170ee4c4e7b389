//! The software JPEG encoder ([`SoftwareJpegEncoder`]): baseline JFIF, 4:2:0 for colour
//! frames, built on the pure-Rust `jpeg-encoder` crate. Planar I420 and packed YUYV are fed
//! to it row by row straight from the frame (no intermediate RGB or 4:4:4 picture); Gray8 is
//! encoded as a one-component JPEG; MJPEG frames are copied through untouched.
//!
//! Chosen over the `image` crate's encoder on measured speed and size (`benches/jpeg_encode.rs`).

use jpeg_encoder::{ColorType, EncodingError, ImageBuffer, JpegColorType, SamplingFactor};

use crate::video::{Encoder, Frame, PixelFormat, convert};
use crate::{HalError, HalErrorKind, HalResult};

/// Software JPEG encoder; stateless, so one instance serves every stream concurrently.
#[derive(Debug, Default, Clone, Copy)]
pub struct SoftwareJpegEncoder;

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

impl Encoder for SoftwareJpegEncoder {
    fn encode_jpeg(&self, frame: &Frame, quality: u8, out: &mut Vec<u8>) -> HalResult<()> {
        out.clear();
        if frame.format == PixelFormat::Mjpeg {
            out.extend_from_slice(&frame.data);
            return Ok(());
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::SystemTime;

    fn frame(format: PixelFormat, width: u32, height: u32, data: Vec<u8>) -> Frame {
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
