//! On-screen display and privacy masks burned into pictures: text in a small built-in 5×7
//! bitmap font drawn on the luma plane over a dark box, and black rectangles on I420 frames.
//! Pure functions over byte slices: no I/O, no allocation.

use crate::{HalError, HalErrorKind, HalResult};

/// Luma of the OSD text (video white).
pub const TEXT_LUMA: u8 = 235;
/// Luma of the box behind the OSD text and of privacy masks (video black).
pub const BLACK_LUMA: u8 = 16;
/// Chroma of neutral grey/black.
pub const NEUTRAL_CHROMA: u8 = 128;

const GLYPH_WIDTH: u32 = 5;
const GLYPH_HEIGHT: u32 = 7;
/// Horizontal advance of one character cell (glyph plus one column of spacing), unscaled.
const CELL_WIDTH: u32 = GLYPH_WIDTH + 1;
/// Padding of the dark box around the text, unscaled.
const PADDING: u32 = 1;

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Rect {
    /// The rectangle spanning two corners given in any order (as setOsdMaskArea's x1,y1,x2,y2).
    pub fn from_corners(x1: u32, y1: u32, x2: u32, y2: u32) -> Rect {
        Rect {
            x: x1.min(x2),
            y: y1.min(y2),
            width: x1.abs_diff(x2),
            height: y1.abs_diff(y2),
        }
    }

    /// This rectangle cut to a `width`×`height` picture.
    pub fn clip(self, width: u32, height: u32) -> Rect {
        let x = self.x.min(width);
        let y = self.y.min(height);
        Rect {
            x,
            y,
            width: self.width.min(width - x),
            height: self.height.min(height - y),
        }
    }

    /// No pixel inside.
    pub fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }
}

/// The 5×7 glyph of `c` (bit 4 = leftmost column); unknown characters draw as '?'.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        ' ' => [0x00; 7],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

/// Size in pixels of the box [`draw_text`] paints for `text` at `scale` (before clipping),
/// so the caller can place it (e.g. in a corner).
pub fn text_box_size(text: &str, scale: u32) -> (u32, u32) {
    let scale = scale.max(1);
    let chars = text.chars().count() as u32;
    let width = (chars * CELL_WIDTH + 2 * PADDING).saturating_sub(1) * scale;
    let height = (GLYPH_HEIGHT + 2 * PADDING) * scale;
    (width, height)
}

fn plane_too_short(what: &str) -> HalError {
    HalError::new(
        HalErrorKind::InvalidArgument,
        format!("{what}: buffer smaller than the picture"),
    )
}

/// Draws `text` with its top-left box corner at (`x`, `y`) on a `width`×`height` luma plane:
/// a dark box ([`BLACK_LUMA`]) with white glyphs ([`TEXT_LUMA`]) magnified `scale` times
/// (1 = 5×7 pixel glyphs). Clipped to the picture; returns the rectangle written.
pub fn draw_text(
    luma: &mut [u8],
    width: u32,
    height: u32,
    x: u32,
    y: u32,
    text: &str,
    scale: u32,
) -> HalResult<Rect> {
    let w = width as usize;
    if luma.len() < w * height as usize {
        return Err(plane_too_short("OSD text"));
    }
    let scale = scale.max(1);
    let (box_w, box_h) = text_box_size(text, scale);
    let area = Rect {
        x,
        y,
        width: box_w,
        height: box_h,
    }
    .clip(width, height);
    if area.is_empty() {
        return Ok(area);
    }
    for row in area.y..area.y + area.height {
        let start = row as usize * w + area.x as usize;
        luma[start..start + area.width as usize].fill(BLACK_LUMA);
    }
    let origin_x = x + PADDING * scale;
    let origin_y = y + PADDING * scale;
    for (index, c) in text.chars().enumerate() {
        let cell_x = origin_x + index as u32 * CELL_WIDTH * scale;
        if cell_x >= width {
            break;
        }
        for (glyph_row, bits) in glyph(c).iter().enumerate() {
            for glyph_col in 0..GLYPH_WIDTH {
                if bits & (0x10 >> glyph_col) == 0 {
                    continue;
                }
                let px = cell_x + glyph_col * scale;
                let py = origin_y + glyph_row as u32 * scale;
                for dy in 0..scale {
                    let row = py + dy;
                    if row >= area.y + area.height {
                        break;
                    }
                    let end = (px + scale).min(area.x + area.width);
                    if px >= end {
                        continue;
                    }
                    let start = row as usize * w;
                    luma[start + px as usize..start + end as usize].fill(TEXT_LUMA);
                }
            }
        }
    }
    Ok(area)
}

/// Blacks out `rect` (clipped) of a `width`×`height` I420 picture: Y = 16, U = V = 128 (the
/// chroma samples the rectangle touches).
pub fn black_rect(i420: &mut [u8], width: u32, height: u32, rect: Rect) -> HalResult<()> {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = super::convert::i420_chroma_size(w, h);
    let (y_plane, u_plane, v_plane) =
        super::convert::i420_planes_mut(i420, w, h).ok_or_else(|| plane_too_short("mask"))?;
    let rect = rect.clip(width, height);
    if rect.is_empty() {
        return Ok(());
    }
    let (rx, ry, rw, rh) = (
        rect.x as usize,
        rect.y as usize,
        rect.width as usize,
        rect.height as usize,
    );
    for row in ry..ry + rh {
        y_plane[row * w + rx..row * w + rx + rw].fill(BLACK_LUMA);
    }
    let (cx0, cx1) = (rx / 2, ((rx + rw).div_ceil(2)).min(cw));
    let (cy0, cy1) = (ry / 2, ((ry + rh).div_ceil(2)).min(ch));
    for row in cy0..cy1 {
        u_plane[row * cw + cx0..row * cw + cx1].fill(NEUTRAL_CHROMA);
        v_plane[row * cw + cx0..row * cw + cx1].fill(NEUTRAL_CHROMA);
    }
    Ok(())
}

/// Blacks out `rect` (clipped) of a Gray8 picture.
pub fn black_rect_gray(luma: &mut [u8], width: u32, height: u32, rect: Rect) -> HalResult<()> {
    let w = width as usize;
    if luma.len() < w * height as usize {
        return Err(plane_too_short("mask"));
    }
    let rect = rect.clip(width, height);
    for row in rect.y..rect.y + rect.height {
        let start = row as usize * w + rect.x as usize;
        luma[start..start + rect.width as usize].fill(BLACK_LUMA);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::convert::i420_len;

    fn region_changed(before: &[u8], after: &[u8], width: usize) -> (usize, usize, Rect) {
        // Bounding box of changed pixels and the count of changed pixels.
        let (mut x0, mut y0, mut x1, mut y1, mut count) = (usize::MAX, usize::MAX, 0, 0, 0);
        for (i, (a, b)) in before.iter().zip(after).enumerate() {
            if a != b {
                count += 1;
                let (x, y) = (i % width, i / width);
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
        }
        let rect = if count == 0 {
            Rect::default()
        } else {
            Rect::from_corners(x0 as u32, y0 as u32, x1 as u32 + 1, y1 as u32 + 1)
        };
        (count, before.len(), rect)
    }

    #[test]
    fn test_draw_text_changes_pixels_only_inside_its_box() {
        let (w, h) = (200u32, 90u32);
        let before = vec![100u8; (w * h) as usize];
        let mut after = before.clone();
        let area = draw_text(&mut after, w, h, 10, 20, "12:34:56 CAM-1", 2).expect("draw");
        let (count, _, changed) = region_changed(&before, &after, w as usize);
        assert!(count > 0);
        assert_eq!(changed, area);
        assert_eq!(
            area,
            Rect {
                x: 10,
                y: 20,
                width: text_box_size("12:34:56 CAM-1", 2).0,
                height: 18
            }
        );
        // Both the white glyphs and the dark box are present.
        assert!(after.contains(&TEXT_LUMA));
        assert!(after.contains(&BLACK_LUMA));
    }

    #[test]
    fn test_draw_text_different_strings_draw_different_pixels() {
        let (w, h) = (80u32, 20u32);
        let mut a = vec![100u8; (w * h) as usize];
        let mut b = a.clone();
        draw_text(&mut a, w, h, 0, 0, "10:00:01", 1).expect("draw");
        draw_text(&mut b, w, h, 0, 0, "10:00:02", 1).expect("draw");
        assert_ne!(a, b);
    }

    #[test]
    fn test_draw_text_past_the_edge_is_clipped() {
        let (w, h) = (40u32, 10u32);
        let mut luma = vec![100u8; (w * h) as usize];
        let area = draw_text(&mut luma, w, h, 30, 5, "LONG TEXT", 3).expect("draw");
        assert_eq!(
            area,
            Rect {
                x: 30,
                y: 5,
                width: 10,
                height: 5
            }
        );
        let outside = draw_text(&mut luma, w, h, 50, 50, "X", 1).expect("draw");
        assert!(outside.is_empty());
    }

    #[test]
    fn test_draw_text_short_plane_is_rejected() {
        let err = draw_text(&mut [0u8; 10], 10, 10, 0, 0, "A", 1).expect_err("short");
        assert_eq!(err.kind(), HalErrorKind::InvalidArgument);
    }

    #[test]
    fn test_black_rect_masked_area_is_black_and_rest_untouched() {
        let (w, h) = (64u32, 48u32);
        let mut frame = vec![200u8; i420_len(w as usize, h as usize)];
        let rect = Rect::from_corners(40, 30, 10, 8);
        black_rect(&mut frame, w, h, rect).expect("mask");
        for row in 0..h {
            for col in 0..w {
                let inside = (10..40).contains(&col) && (8..30).contains(&row);
                let y = frame[(row * w + col) as usize];
                assert_eq!(y, if inside { BLACK_LUMA } else { 200 }, "at {col},{row}");
            }
        }
        let (cw, luma_len) = (w as usize / 2, (w * h) as usize);
        let chroma_len = cw * h as usize / 2;
        for (plane_start, _) in [(luma_len, 'u'), (luma_len + chroma_len, 'v')] {
            // Chroma sample (10, 8) covers luma (20..22, 16..18): inside.
            assert_eq!(frame[plane_start + 8 * cw + 10], NEUTRAL_CHROMA);
            assert_eq!(frame[plane_start + 2 * cw + 2], 200);
        }
    }

    #[test]
    fn test_black_rect_outside_picture_changes_nothing() {
        let mut frame = vec![200u8; i420_len(16, 16)];
        black_rect(
            &mut frame,
            16,
            16,
            Rect {
                x: 20,
                y: 0,
                width: 5,
                height: 5,
            },
        )
        .expect("mask");
        assert!(frame.iter().all(|&b| b == 200));
    }

    #[test]
    fn test_black_rect_gray_blacks_rect() {
        let mut luma = vec![200u8; 16];
        black_rect_gray(
            &mut luma,
            4,
            4,
            Rect {
                x: 1,
                y: 1,
                width: 2,
                height: 2,
            },
        )
        .expect("mask");
        assert_eq!(luma.iter().filter(|&&b| b == BLACK_LUMA).count(), 4);
        assert_eq!(luma[5], BLACK_LUMA);
    }
}
