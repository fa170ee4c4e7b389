//! Simulated camera sensor ([`SimVideo`]): a deterministic synthetic scene (textured brick
//! wall over a left-to-right light gradient, a bouncing orange disc, a drifting blue square
//! and a running clock / frame counter), or a YUV4MPEG2 file played in a loop when the board
//! file sets `[video] scene`. Frames come out as I420 at the configured size, paced at the
//! configured rate, after a small "ISP" that applies the image controls the way a sensor
//! does: brightness and contrast through a luma curve, hue and saturation on the chroma
//! planes, sharpness as blur / unsharp mask, mirror and flip, and flicker bands when the
//! anti-flicker setting does not match the mains frequency of the (simulated) room lights.
//!
//! Other simulated devices move the picture with [`SimVideo::set_view`] (the PTZ motor), and
//! tests inject capture failures with [`SimVideo::fail_next_frames`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::board::BoardSpec;
use crate::video::convert::{i420_chroma_size, i420_len, orient_in_place, scale_plane_nearest};
use crate::video::overlay::draw_text;
use crate::video::y4m::{Y4mColorspace, Y4mReader};
use crate::video::{CaptureConfig, Frame, ImageControl, PixelFormat, VideoSource};
use crate::{HalError, HalErrorKind, HalResult};

/// The software JPEG encoder the simulated board uses (it lives in [`crate::video::jpeg`]).
pub use crate::video::jpeg::SoftwareJpegEncoder;

/// Horizontal field of view of the simulated lens: panning this many degrees moves the scene
/// by one picture width.
pub const HORIZONTAL_FOV_DEGREES: f32 = 60.0;
/// Vertical field of view of the simulated lens.
pub const VERTICAL_FOV_DEGREES: f32 = 40.0;

/// Largest frame rate the simulated sensor accepts.
pub const MAX_FPS: u32 = 60;

/// The synthetic scene is laid out on a reference canvas of this size, then sampled at the
/// configured resolution, so every resolution shows the same picture.
const REF_WIDTH: i32 = 1280;
const REF_HEIGHT: i32 = 720;

/// The image settings in force on the simulated sensor (guide values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorSettings {
    /// 0..=100, 50 neutral.
    pub brightness: i32,
    /// 0..=100, 50 neutral.
    pub contrast: i32,
    /// 0..=100, 50 neutral.
    pub hue: i32,
    /// 0..=100, 50 neutral; 0 is grey.
    pub saturation: i32,
    /// 0..=100, 50 neutral; below blurs, above sharpens.
    pub sharpness: i32,
    /// Left-right mirror.
    pub mirror: bool,
    /// Upside-down flip.
    pub flip: bool,
    /// Anti-flicker setting: 0 = 60 Hz, 1 = 50 Hz.
    pub power_line_frequency: i32,
}

impl SensorSettings {
    fn neutral(mains_hz: u32) -> SensorSettings {
        SensorSettings {
            brightness: 50,
            contrast: 50,
            hue: 50,
            saturation: 50,
            sharpness: 50,
            mirror: false,
            flip: false,
            power_line_frequency: i32::from(mains_hz == 50),
        }
    }
}

enum SceneSource {
    Synthetic,
    Recorded(Box<Y4mReader>),
}

struct State {
    config: CaptureConfig,
    max_size: (u32, u32),
    sequence: u64,
    next_due: Instant,
    settings: SensorSettings,
    /// Pan and tilt of the view in degrees.
    view: (f32, f32),
    failures_pending: u32,
    mains_hz: u32,
    source: SceneSource,
    /// The picture being produced (I420), reused across frames.
    canvas: Vec<u8>,
    /// Scratch plane for the sharpness filter, reused across frames.
    scratch: Vec<u8>,
    /// Scene coordinate of each output column / row, reused across frames.
    columns: Vec<i32>,
    rows: Vec<i32>,
}

/// Where the simulated camera points, asked before each frame (the PTZ motor's position).
type ViewSource = Box<dyn Fn() -> (f32, f32) + Send + Sync>;

/// The simulated sensor.
pub struct SimVideo {
    state: Mutex<State>,
    follow: Mutex<Option<ViewSource>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimVideo {
    /// Opens the simulated sensor at VGA, 15 fps; plays the board's `[video] scene` y4m file
    /// when one is set (a missing or unreadable file fails here, at start-up).
    pub fn open(board: &BoardSpec) -> HalResult<SimVideo> {
        let source = match &board.video.scene {
            Some(path) => SceneSource::Recorded(Box::new(Y4mReader::open(&board.resolve(path))?)),
            None => SceneSource::Synthetic,
        };
        let mains_hz = board.defaults.mains_hz;
        Ok(SimVideo {
            follow: Mutex::new(None),
            state: Mutex::new(State {
                config: CaptureConfig {
                    width: 640.min(board.video.max_width & !1),
                    height: 480.min(board.video.max_height & !1),
                    fps: 15,
                },
                max_size: (board.video.max_width, board.video.max_height),
                sequence: 0,
                next_due: Instant::now(),
                settings: SensorSettings::neutral(mains_hz),
                view: (0.0, 0.0),
                failures_pending: 0,
                mains_hz,
                source,
                canvas: Vec::new(),
                scratch: Vec::new(),
                columns: Vec::new(),
                rows: Vec::new(),
            }),
        })
    }

    /// Points the simulated camera: the scene moves by one picture width per
    /// [`HORIZONTAL_FOV_DEGREES`] of pan and one height per [`VERTICAL_FOV_DEGREES`] of tilt
    /// (positive pan looks right, positive tilt looks down). Takes effect on the next frame.
    pub fn set_view(&self, pan_degrees: f32, tilt_degrees: f32) {
        lock(&self.state).view = (pan_degrees, tilt_degrees);
    }

    /// Makes every frame look where `view` says (pan, tilt in degrees from home), so the
    /// picture moves with the simulated PTZ motor.
    pub fn follow(&self, view: impl Fn() -> (f32, f32) + Send + Sync + 'static) {
        *self.follow.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(view));
    }

    /// The view set by [`SimVideo::set_view`].
    pub fn view(&self) -> (f32, f32) {
        lock(&self.state).view
    }

    /// Makes the next `count` calls of `next_frame` fail with an `Io` error, as a sensor that
    /// drops out would (for tests of recovery).
    pub fn fail_next_frames(&self, count: u32) {
        lock(&self.state).failures_pending = count;
    }

    /// The image settings in force.
    pub fn settings(&self) -> SensorSettings {
        lock(&self.state).settings
    }
}

impl VideoSource for SimVideo {
    fn configure(&self, config: CaptureConfig) -> HalResult<()> {
        let mut state = lock(&self.state);
        let (max_w, max_h) = state.max_size;
        if config.width < 16
            || config.height < 16
            || config.width % 2 != 0
            || config.height % 2 != 0
            || config.width > max_w
            || config.height > max_h
        {
            return Err(HalError::new(
                HalErrorKind::InvalidArgument,
                format!(
                    "simulated sensor: {}x{} is not an even size between 16x16 and {max_w}x{max_h}",
                    config.width, config.height
                ),
            ));
        }
        if config.fps == 0 || config.fps > MAX_FPS {
            return Err(HalError::new(
                HalErrorKind::InvalidArgument,
                format!("simulated sensor: {} fps outside 1..={MAX_FPS}", config.fps),
            ));
        }
        state.config = config;
        Ok(())
    }

    fn config(&self) -> CaptureConfig {
        lock(&self.state).config
    }

    fn next_frame(&self, timeout: Duration) -> HalResult<Frame> {
        let followed = self
            .follow
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|view| view());
        if let Some((pan, tilt)) = followed {
            self.set_view(pan, tilt);
        }
        let due = {
            let mut state = lock(&self.state);
            if state.failures_pending > 0 {
                state.failures_pending -= 1;
                return Err(HalError::new(
                    HalErrorKind::Io,
                    "simulated sensor: injected capture failure",
                ));
            }
            let now = Instant::now();
            let due = state.next_due.max(now);
            if due.duration_since(now) > timeout {
                drop(state);
                std::thread::sleep(timeout);
                return Err(HalError::new(
                    HalErrorKind::Timeout,
                    "simulated sensor: no frame within the timeout",
                ));
            }
            state.next_due = due + Duration::from_secs(1) / state.config.fps;
            due
        };
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let mut state = lock(&self.state);
        state.sequence += 1;
        render(&mut state)?;
        let state = &*state;
        Ok(Frame {
            width: state.config.width,
            height: state.config.height,
            format: PixelFormat::I420,
            data: Arc::from(&state.canvas[..]),
            sequence: state.sequence,
            captured: SystemTime::now(),
        })
    }

    fn set_control(&self, control: ImageControl, value: i32) -> HalResult<()> {
        let range = match control {
            ImageControl::Mirror | ImageControl::Flip | ImageControl::PowerLineFrequency => 0..=1,
            _ => 0..=100,
        };
        if !range.contains(&value) {
            return Err(HalError::new(
                HalErrorKind::InvalidArgument,
                format!("{control:?} value {value} outside {range:?}"),
            ));
        }
        let settings = &mut lock(&self.state).settings;
        match control {
            ImageControl::Brightness => settings.brightness = value,
            ImageControl::Contrast => settings.contrast = value,
            ImageControl::Hue => settings.hue = value,
            ImageControl::Saturation => settings.saturation = value,
            ImageControl::Sharpness => settings.sharpness = value,
            ImageControl::Mirror => settings.mirror = value == 1,
            ImageControl::Flip => settings.flip = value == 1,
            ImageControl::PowerLineFrequency => settings.power_line_frequency = value,
        }
        Ok(())
    }
}

/// Produces the picture for `state.sequence` into `state.canvas`.
fn render(state: &mut State) -> HalResult<()> {
    let (w, h) = (state.config.width as usize, state.config.height as usize);
    state.canvas.resize(i420_len(w, h), 0);
    match &mut state.source {
        SceneSource::Synthetic => {
            render_synthetic(
                &mut state.canvas,
                &mut state.columns,
                &mut state.rows,
                w,
                h,
                state.view,
                state.sequence,
            );
            draw_clock(&mut state.canvas, w, h, state.sequence, state.config.fps)?;
        }
        SceneSource::Recorded(reader) => {
            render_recorded(&mut state.canvas, reader, w, h, state.view)?;
        }
    }
    let flicker = flicker_wanted(&state.settings, state.mains_hz);
    apply_sensor(
        &mut state.canvas,
        &mut state.scratch,
        w,
        h,
        &state.settings,
        flicker.then_some(state.sequence),
    )
}

/// Triangle wave from 0 up to `span` and back, period `2 * span`.
fn bounce(t: i64, span: i64) -> i32 {
    let phase = t.rem_euclid(2 * span);
    (if phase < span {
        phase
    } else {
        2 * span - phase
    }) as i32
}

/// Cheap deterministic texture noise 0..=15.
fn noise(x: i32, y: i32) -> i32 {
    let hash = (x as u32).wrapping_mul(0x9E37_79B1) ^ (y as u32).wrapping_mul(0x85EB_CA77);
    (hash.wrapping_mul(0xC2B2_AE3D) >> 28) as i32
}

/// The moving objects at one frame, in reference coordinates.
struct Objects {
    /// Disc centre x, y and radius.
    disc: (i32, i32, i32),
    /// Square left, top and side.
    square: (i32, i32, i32),
}

impl Objects {
    fn at(sequence: u64) -> Objects {
        let t = sequence as i64;
        Objects {
            disc: (120 + bounce(t * 9, 1040), 300, 70),
            square: (200 + bounce(t * 5, 860), 120 + bounce(t * 3, 420), 110),
        }
    }

    /// Luma, U and V of the object covering (`x`, `y`), if any.
    fn pixel(&self, x: i32, y: i32) -> Option<(u8, u8, u8)> {
        let (dx, dy, dr) = self.disc;
        let (ddx, ddy) = (x - dx, y - dy);
        if ddx * ddx + ddy * ddy <= dr * dr {
            return Some((200, 80, 190)); // orange
        }
        let (sx, sy, side) = self.square;
        if (sx..sx + side).contains(&x) && (sy..sy + side).contains(&y) {
            return Some((70, 190, 100)); // blue
        }
        None
    }

    /// Whether row `y` crosses any object (rows that do not skip the per-pixel test).
    fn touch_row(&self, y: i32) -> bool {
        let (_, dy, dr) = self.disc;
        let (_, sy, side) = self.square;
        (dy - dr..=dy + dr).contains(&y) || (sy..sy + side).contains(&y)
    }
}

/// Light falling on the wall at reference column `x`: rises left to right across the home
/// view (so a mirrored picture is recognisably mirrored), then falls again.
fn wall_light(x: i32) -> i32 {
    let t = x.rem_euclid(2 * REF_WIDTH);
    40 + (if t < REF_WIDTH { t } else { 2 * REF_WIDTH - t }) * 100 / REF_WIDTH
}

/// Whether (`x`, `y`) is on a mortar line of the brick wall (64x32 bricks, every other
/// course offset by half a brick).
fn is_mortar(x: i32, y: i32) -> bool {
    let course = y.div_euclid(32);
    let bx = (x + if course % 2 == 0 { 0 } else { 32 }).rem_euclid(64);
    bx < 3 || y.rem_euclid(32) < 3
}

/// Renders the synthetic scene at `w`×`h` into `canvas` (I420).
fn render_synthetic(
    canvas: &mut [u8],
    columns: &mut Vec<i32>,
    rows: &mut Vec<i32>,
    w: usize,
    h: usize,
    view: (f32, f32),
    sequence: u64,
) {
    let pan = (view.0 / HORIZONTAL_FOV_DEGREES * REF_WIDTH as f32) as i32;
    let tilt = (view.1 / VERTICAL_FOV_DEGREES * REF_HEIGHT as f32) as i32;
    columns.clear();
    columns.extend((0..w).map(|x| (x as i64 * i64::from(REF_WIDTH) / w as i64) as i32 + pan));
    rows.clear();
    rows.extend((0..h).map(|y| (y as i64 * i64::from(REF_HEIGHT) / h as i64) as i32 + tilt));
    let objects = Objects::at(sequence);
    let (cw, ch) = i420_chroma_size(w, h);
    let (luma, chroma) = canvas.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
    for (row, line) in luma.chunks_exact_mut(w).enumerate() {
        let y = rows[row];
        let course = y.div_euclid(32);
        let mortar_row = y.rem_euclid(32) < 3;
        let shift = if course % 2 == 0 { 0 } else { 32 };
        let course_tint = if course % 3 == 0 { 8 } else { 0 };
        for (px, &x) in line.iter_mut().zip(columns.iter()) {
            let light = wall_light(x);
            let value = if mortar_row || (x + shift).rem_euclid(64) < 3 {
                light + 35
            } else {
                light + noise(x >> 2, y >> 2) + course_tint
            };
            *px = value.clamp(0, 255) as u8;
        }
        if objects.touch_row(y) {
            for (px, &x) in line.iter_mut().zip(columns.iter()) {
                if let Some((value, _, _)) = objects.pixel(x, y) {
                    *px = value;
                }
            }
        }
    }
    for crow in 0..ch {
        let y = rows[(crow * 2).min(h - 1)];
        // Red-brown brick above, cooler bluish wall below, grey mortar.
        let brick = if y.rem_euclid(2 * REF_HEIGHT) < REF_HEIGHT / 2 {
            (118, 150)
        } else {
            (140, 122)
        };
        let touch = objects.touch_row(y);
        for ccol in 0..cw {
            let x = columns[(ccol * 2).min(w - 1)];
            let (u, v) = match touch.then(|| objects.pixel(x, y)).flatten() {
                Some((_, u, v)) => (u, v),
                None if is_mortar(x, y) => (126, 130),
                None => brick,
            };
            u_plane[crow * cw + ccol] = u;
            v_plane[crow * cw + ccol] = v;
        }
    }
}

/// Burns the simulated sensor's own running clock and frame counter into the bottom-left
/// corner (time since the sensor started, derived from the frame count, so it is
/// deterministic).
fn draw_clock(canvas: &mut [u8], w: usize, h: usize, sequence: u64, fps: u32) -> HalResult<()> {
    let fps = u64::from(fps.max(1));
    let seconds = sequence / fps;
    let text = format!(
        "SIM {:02}:{:02}:{:02}.{:02} #{:06}",
        seconds / 3600 % 100,
        seconds / 60 % 60,
        seconds % 60,
        sequence % fps,
        sequence % 1_000_000
    );
    let scale = (h as u32 / 240).max(1);
    let margin = 4 * scale;
    let (_, box_h) = crate::video::overlay::text_box_size(&text, scale);
    let y = (h as u32).saturating_sub(box_h + margin);
    draw_text(
        &mut canvas[..w * h],
        w as u32,
        h as u32,
        margin,
        y,
        &text,
        scale,
    )?;
    Ok(())
}

/// Reads the next y4m frame and scales it (nearest neighbour) to `w`×`h`, shifted by the view.
fn render_recorded(
    canvas: &mut [u8],
    reader: &mut Y4mReader,
    w: usize,
    h: usize,
    view: (f32, f32),
) -> HalResult<()> {
    let (sw, sh) = (reader.width(), reader.height());
    let colorspace = reader.colorspace();
    let pan = (view.0 / HORIZONTAL_FOV_DEGREES * sw as f32) as i64;
    let tilt = (view.1 / VERTICAL_FOV_DEGREES * sh as f32) as i64;
    let source = reader.next_frame_looping()?;
    let (cw, ch) = i420_chroma_size(w, h);
    let (scw, sch) = i420_chroma_size(sw, sh);
    let (luma, chroma) = canvas.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
    scale_plane_nearest(&source[..sw * sh], sw, sh, luma, w, h, pan, tilt);
    match colorspace {
        Y4mColorspace::Mono => {
            u_plane.fill(128);
            v_plane.fill(128);
        }
        Y4mColorspace::I420 => {
            let (su, sv) = source[sw * sh..].split_at(scw * sch);
            scale_plane_nearest(su, scw, sch, u_plane, cw, ch, pan / 2, tilt / 2);
            scale_plane_nearest(sv, scw, sch, v_plane, cw, ch, pan / 2, tilt / 2);
        }
    }
    Ok(())
}

/// Room lights flicker at twice the mains frequency; an exposure tuned for the other mains
/// frequency shows rolling bands.
fn flicker_wanted(settings: &SensorSettings, mains_hz: u32) -> bool {
    let tuned_hz = if settings.power_line_frequency == 1 {
        50
    } else {
        60
    };
    tuned_hz != mains_hz
}

/// The simulated ISP: sharpness, luma curve (brightness, contrast), flicker bands, chroma
/// (hue, saturation) and orientation, in place on an I420 picture.
fn apply_sensor(
    canvas: &mut [u8],
    scratch: &mut Vec<u8>,
    w: usize,
    h: usize,
    settings: &SensorSettings,
    flicker_sequence: Option<u64>,
) -> HalResult<()> {
    let (cw, ch) = i420_chroma_size(w, h);
    let (luma, chroma) = canvas.split_at_mut(w * h);
    if settings.sharpness != 50 {
        sharpen(luma, scratch, w, h, settings.sharpness - 50);
    }
    // Luma curve: contrast pivots around mid-grey, brightness shifts (±125 at the extremes).
    let gain = settings.contrast * 64 / 50;
    let offset = (settings.brightness - 50) * 5 / 2;
    let mut curve = [0u8; 256];
    for (value, out) in curve.iter_mut().enumerate() {
        let v = ((value as i32 - 128) * gain) / 64 + 128 + offset;
        *out = v.clamp(0, 255) as u8;
    }
    for (row, line) in luma.chunks_exact_mut(w).enumerate() {
        let band = match flicker_sequence {
            // Bands a third of the picture tall, rolling every frame, ±12 luma.
            Some(seq) => {
                let phase = row as f32 / h as f32 * 3.0 + seq as f32 * 0.13;
                ((phase * std::f32::consts::TAU).sin() * 12.0) as i32
            }
            None => 0,
        };
        for px in line.iter_mut() {
            let v = i32::from(curve[usize::from(*px)]) + band;
            *px = v.clamp(0, 255) as u8;
        }
    }
    if settings.hue != 50 || settings.saturation != 50 {
        // Rotate (U, V) by the hue angle (±180°) and scale by saturation (0..2), fixed point.
        let angle = (settings.hue - 50) as f32 / 50.0 * std::f32::consts::PI;
        let gain = settings.saturation as f32 / 50.0;
        let cos = (angle.cos() * gain * 256.0) as i32;
        let sin = (angle.sin() * gain * 256.0) as i32;
        let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
        for (u, v) in u_plane.iter_mut().zip(v_plane.iter_mut()) {
            let (cu, cv) = (i32::from(*u) - 128, i32::from(*v) - 128);
            *u = ((cu * cos - cv * sin) / 256 + 128).clamp(0, 255) as u8;
            *v = ((cu * sin + cv * cos) / 256 + 128).clamp(0, 255) as u8;
        }
    }
    if settings.mirror || settings.flip {
        orient_in_place(
            canvas,
            PixelFormat::I420,
            w,
            h,
            settings.mirror,
            settings.flip,
        )?;
    }
    Ok(())
}

/// Blurs (`amount` < 0, -50 = full 3×3 blur) or sharpens (`amount` > 0, +50 = unsharp mask
/// with gain 2) a luma plane in place.
fn sharpen(luma: &mut [u8], scratch: &mut Vec<u8>, w: usize, h: usize, amount: i32) {
    if w < 3 || h < 3 {
        return;
    }
    scratch.clear();
    scratch.extend_from_slice(luma);
    let src = &scratch[..];
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let at = |dx: usize, dy: usize| i32::from(src[(y + dy - 1) * w + x + dx - 1]);
            let blur = (at(0, 0)
                + 2 * at(1, 0)
                + at(2, 0)
                + 2 * at(0, 1)
                + 4 * at(1, 1)
                + 2 * at(2, 1)
                + at(0, 2)
                + 2 * at(1, 2)
                + at(2, 2))
                / 16;
            let centre = at(1, 1);
            let v = if amount < 0 {
                centre + (blur - centre) * -amount / 50
            } else {
                centre + (centre - blur) * amount / 25
            };
            luma[y * w + x] = v.clamp(0, 255) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::Encoder;

    const BOARD: &str = r#"
[board]
name = "sim"
backend = "sim"
[identity]
model = 1
model_name = "SIM"
product_name = "Sim"
hardware_version = "1"
[capabilities]
"#;

    fn sim() -> SimVideo {
        let board = BoardSpec::parse(BOARD).expect("board");
        let video = SimVideo::open(&board).expect("open");
        video
            .configure(CaptureConfig {
                width: 320,
                height: 240,
                fps: 60,
            })
            .expect("configure");
        video
    }

    fn frame(video: &SimVideo) -> Frame {
        video.next_frame(Duration::from_secs(2)).expect("frame")
    }

    fn mean(values: &[u8]) -> f64 {
        values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64
    }

    fn decoded_mean_luma(frame: &Frame) -> f64 {
        use zune_jpeg::zune_core::bytestream::ZCursor;
        use zune_jpeg::zune_core::colorspace::ColorSpace;
        use zune_jpeg::zune_core::options::DecoderOptions;
        let mut jpeg = Vec::new();
        SoftwareJpegEncoder
            .encode_jpeg(frame, 85, &mut jpeg)
            .expect("encode");
        let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(&jpeg), options);
        let pixels = decoder.decode().expect("decode");
        assert_eq!(
            decoder.dimensions().expect("dimensions"),
            (frame.width as usize, frame.height as usize)
        );
        mean(&pixels)
    }

    #[test]
    fn test_sim_frames_have_configured_size_and_consecutive_frames_differ() {
        let video = sim();
        let a = frame(&video);
        let b = frame(&video);
        assert_eq!((a.width, a.height, a.format), (320, 240, PixelFormat::I420));
        assert_eq!(a.data.len(), i420_len(320, 240));
        assert_eq!(b.sequence, a.sequence + 1);
        let changed = a
            .data
            .iter()
            .zip(b.data.iter())
            .filter(|(x, y)| x != y)
            .count();
        assert!(changed > 500, "only {changed} bytes changed");
    }

    #[test]
    fn test_sim_scene_is_deterministic_per_sequence() {
        let (a, b) = (sim(), sim());
        assert_eq!(frame(&a).data, frame(&b).data);
    }

    #[test]
    fn test_sim_brightness_extremes_move_decoded_mean_luma() {
        let video = sim();
        video.set_control(ImageControl::Brightness, 0).expect("set");
        let dark = decoded_mean_luma(&frame(&video));
        video
            .set_control(ImageControl::Brightness, 50)
            .expect("set");
        let normal = decoded_mean_luma(&frame(&video));
        video
            .set_control(ImageControl::Brightness, 100)
            .expect("set");
        let bright = decoded_mean_luma(&frame(&video));
        assert!(
            dark + 40.0 < normal && normal + 40.0 < bright,
            "{dark} {normal} {bright}"
        );
    }

    #[test]
    fn test_sim_brightness_is_monotonic() {
        let video = sim();
        let mut last = -1.0;
        for value in (0..=100).step_by(10) {
            video
                .set_control(ImageControl::Brightness, value)
                .expect("set");
            let m = mean(frame(&video).luma().expect("luma"));
            assert!(m > last, "brightness {value}: {m} <= {last}");
            last = m;
        }
    }

    #[test]
    fn test_sim_contrast_widens_luma_spread() {
        let video = sim();
        let spread = |f: &Frame| {
            let l = f.luma().expect("luma");
            let m = mean(l);
            l.iter().map(|&v| (f64::from(v) - m).abs()).sum::<f64>() / l.len() as f64
        };
        video.set_control(ImageControl::Contrast, 10).expect("set");
        let low = spread(&frame(&video));
        video.set_control(ImageControl::Contrast, 90).expect("set");
        let high = spread(&frame(&video));
        assert!(high > low * 2.0, "{low} {high}");
    }

    #[test]
    fn test_sim_saturation_zero_is_grey_and_hue_rotates_chroma() {
        let video = sim();
        let chroma = |f: &Frame| f.data[320 * 240..].to_vec();
        let neutral = chroma(&frame(&video));
        video.set_control(ImageControl::Saturation, 0).expect("set");
        assert!(chroma(&frame(&video)).iter().all(|&c| c == 128));
        video
            .set_control(ImageControl::Saturation, 50)
            .expect("set");
        video.set_control(ImageControl::Hue, 100).expect("set");
        let rotated = chroma(&frame(&video));
        // 180° rotation mirrors chroma around 128 wherever the scene is static background.
        let opposite = neutral
            .iter()
            .zip(&rotated)
            .filter(|&(&a, &b)| (i32::from(a) - 128 + i32::from(b) - 128).abs() <= 2)
            .count();
        assert!(
            opposite > neutral.len() * 9 / 10,
            "{opposite} of {}",
            neutral.len()
        );
    }

    #[test]
    fn test_sim_sharpness_changes_edge_energy() {
        let video = sim();
        let energy = |f: &Frame| {
            let l = f.luma().expect("luma");
            l.windows(2)
                .map(|p| (i32::from(p[0]) - i32::from(p[1])).unsigned_abs())
                .sum::<u32>()
        };
        video.set_control(ImageControl::Sharpness, 0).expect("set");
        let soft = energy(&frame(&video));
        video
            .set_control(ImageControl::Sharpness, 100)
            .expect("set");
        let sharp = energy(&frame(&video));
        assert!(sharp > soft * 2, "{soft} {sharp}");
    }

    #[test]
    fn test_sim_mirror_reverses_every_row_of_the_same_scene() {
        let settings = SensorSettings::neutral(50);
        let render_with = |settings: SensorSettings| {
            let mut canvas = vec![0u8; i420_len(64, 48)];
            let (mut c, mut r, mut s) = (Vec::new(), Vec::new(), Vec::new());
            render_synthetic(&mut canvas, &mut c, &mut r, 64, 48, (0.0, 0.0), 7);
            apply_sensor(&mut canvas, &mut s, 64, 48, &settings, None).expect("isp");
            canvas
        };
        let plain = render_with(settings);
        let mirrored = render_with(SensorSettings {
            mirror: true,
            ..settings
        });
        for (a, b) in plain[..64 * 48]
            .chunks_exact(64)
            .zip(mirrored[..64 * 48].chunks_exact(64))
        {
            let reversed: Vec<u8> = a.iter().rev().copied().collect();
            assert_eq!(b, &reversed[..]);
        }
        let flipped = render_with(SensorSettings {
            flip: true,
            ..settings
        });
        assert_eq!(&flipped[..64], &plain[64 * 47..64 * 48]);
    }

    #[test]
    fn test_sim_mirror_control_swaps_bright_side_in_decoded_jpeg() {
        let video = sim();
        let side_means = |f: &Frame| {
            let l = f.luma().expect("luma");
            let (mut left, mut right) = (0u64, 0u64);
            for row in l.chunks_exact(320).take(160) {
                left += row[..160].iter().map(|&v| u64::from(v)).sum::<u64>();
                right += row[160..].iter().map(|&v| u64::from(v)).sum::<u64>();
            }
            (left, right)
        };
        let (left, right) = side_means(&frame(&video));
        assert!(left < right);
        video.set_control(ImageControl::Mirror, 1).expect("set");
        let mirrored = frame(&video);
        let (left_m, right_m) = side_means(&mirrored);
        assert!(left_m > right_m);
        decoded_mean_luma(&mirrored);
    }

    #[test]
    fn test_sim_bad_control_values_are_rejected() {
        let video = sim();
        for (control, value) in [
            (ImageControl::Brightness, 101),
            (ImageControl::Hue, -1),
            (ImageControl::Mirror, 2),
            (ImageControl::PowerLineFrequency, 3),
        ] {
            let err = video.set_control(control, value).expect_err("bad");
            assert_eq!(err.kind(), HalErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn test_sim_wrong_power_line_setting_adds_flicker_bands() {
        let video = sim(); // board mains 50 Hz, setting defaults to 1 (50 Hz)
        let row_means = |f: &Frame| -> Vec<f64> {
            f.luma()
                .expect("luma")
                .chunks_exact(320)
                .map(mean)
                .collect()
        };
        assert_eq!(video.settings().power_line_frequency, 1);
        let steady = row_means(&frame(&video));
        video
            .set_control(ImageControl::PowerLineFrequency, 0)
            .expect("set");
        let banded = row_means(&frame(&video));
        let differing = steady
            .iter()
            .zip(&banded)
            .filter(|(a, b)| (*a - *b).abs() > 3.0)
            .count();
        assert!(differing > 60, "{differing} rows");
    }

    #[test]
    fn test_sim_set_view_shifts_the_scene() {
        let video = sim();
        let first = frame(&video);
        let settings = SensorSettings::neutral(50);
        let render_at = |view: (f32, f32)| {
            let mut canvas = vec![0u8; i420_len(64, 48)];
            let (mut c, mut r, mut s) = (Vec::new(), Vec::new(), Vec::new());
            render_synthetic(&mut canvas, &mut c, &mut r, 64, 48, view, 1);
            apply_sensor(&mut canvas, &mut s, 64, 48, &settings, None).expect("isp");
            canvas
        };
        // Panning by a quarter of the field of view moves content 16 columns left.
        let home = render_at((0.0, 0.0));
        let panned = render_at((HORIZONTAL_FOV_DEGREES / 4.0, 0.0));
        for row in 0..40 {
            assert_eq!(
                &panned[row * 64..row * 64 + 48],
                &home[row * 64 + 16..row * 64 + 64],
                "row {row}"
            );
        }
        video.set_view(10.0, -5.0);
        assert_eq!(video.view(), (10.0, -5.0));
        assert_ne!(frame(&video).data[..320 * 100], first.data[..320 * 100]);
    }

    #[test]
    fn test_sim_injected_failures_then_recovery() {
        let video = sim();
        video.fail_next_frames(2);
        for _ in 0..2 {
            let err = video
                .next_frame(Duration::from_secs(1))
                .expect_err("injected");
            assert_eq!(err.kind(), HalErrorKind::Io);
        }
        assert_eq!(frame(&video).sequence, 1);
    }

    #[test]
    fn test_sim_devices_handle_drives_the_hal_video_source() {
        let board = Arc::new(BoardSpec::parse(BOARD).expect("board"));
        let (hal, devices) =
            crate::sim::open_with_devices(board, &std::env::temp_dir()).expect("open");
        let video = hal.video.expect("video");
        devices.video.fail_next_frames(1);
        let err = video
            .next_frame(Duration::from_secs(1))
            .expect_err("injected");
        assert_eq!(err.kind(), HalErrorKind::Io);
        let frame = video.next_frame(Duration::from_secs(1)).expect("frame");
        let mut jpeg = Vec::new();
        hal.encoder
            .encode_jpeg(&frame, 80, &mut jpeg)
            .expect("encode");
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    }

    #[test]
    fn test_sim_frame_pacing_times_out_before_due() {
        let video = sim();
        video
            .configure(CaptureConfig {
                width: 320,
                height: 240,
                fps: 1,
            })
            .expect("configure");
        frame(&video);
        let err = video
            .next_frame(Duration::from_millis(10))
            .expect_err("not due yet");
        assert_eq!(err.kind(), HalErrorKind::Timeout);
    }

    #[test]
    fn test_sim_configure_rejects_odd_or_oversized() {
        let video = sim();
        for (width, height, fps) in [(321, 240, 15), (1920, 1080, 15), (320, 240, 0)] {
            let err = video
                .configure(CaptureConfig { width, height, fps })
                .expect_err("bad config");
            assert_eq!(err.kind(), HalErrorKind::InvalidArgument);
        }
    }

    fn write_y4m(dir: &std::path::Path, header: &str, frames: &[Vec<u8>]) -> std::path::PathBuf {
        std::fs::create_dir_all(dir).expect("dir");
        let path = dir.join("scene.y4m");
        let mut bytes = format!("{header}\n").into_bytes();
        for f in frames {
            bytes.extend_from_slice(b"FRAME\n");
            bytes.extend_from_slice(f);
        }
        std::fs::write(&path, bytes).expect("write");
        path
    }

    #[test]
    fn test_sim_y4m_scene_plays_scaled_in_a_loop() {
        let dir = std::env::temp_dir().join(format!("ipcamd-sim-y4m-{}", std::process::id()));
        // Two 8x4 4:2:0 frames: left half dark / right half bright, then uniform 100.
        let mut first = Vec::new();
        for _ in 0..4 {
            first.extend_from_slice(&[30, 30, 30, 30, 220, 220, 220, 220]);
        }
        first.extend_from_slice(&[128; 16]);
        let mut second = vec![100u8; 32];
        second.extend_from_slice(&[90; 8]);
        second.extend_from_slice(&[170; 8]);
        write_y4m(&dir, "YUV4MPEG2 W8 H4 F25:1 Ip C420jpeg", &[first, second]);
        let text = format!("{BOARD}\n[video]\nscene = \"scene.y4m\"\n");
        let mut board = BoardSpec::parse(&text).expect("board");
        board.dir = dir.clone();
        let video = SimVideo::open(&board).expect("open");
        video
            .configure(CaptureConfig {
                width: 32,
                height: 16,
                fps: 60,
            })
            .expect("configure");
        let a = frame(&video);
        assert_eq!(&a.data[..32], &[[30u8; 16], [220u8; 16]].concat()[..]);
        let b = frame(&video);
        assert!(b.luma().expect("luma").iter().all(|&v| v == 100));
        assert!(b.data[32 * 16..32 * 16 + 128].iter().all(|&v| v == 90));
        assert!(b.data[32 * 16 + 128..].iter().all(|&v| v == 170));
        let c = frame(&video);
        assert_eq!(c.data, a.data);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn test_sim_y4m_mono_scene_has_neutral_chroma() {
        let dir = std::env::temp_dir().join(format!("ipcamd-sim-mono-{}", std::process::id()));
        write_y4m(&dir, "YUV4MPEG2 W4 H4 F25:1 Cmono", &[vec![77u8; 16]]);
        let mut board =
            BoardSpec::parse(&format!("{BOARD}\n[video]\nscene = \"scene.y4m\"\n")).expect("board");
        board.dir = dir.clone();
        let video = SimVideo::open(&board).expect("open");
        let f = frame(&video);
        assert_eq!((f.width, f.height), (640, 480));
        assert!(f.luma().expect("luma").iter().all(|&v| v == 77));
        assert!(f.data[640 * 480..].iter().all(|&v| v == 128));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn test_sim_missing_y4m_scene_fails_open() {
        let mut board =
            BoardSpec::parse(&format!("{BOARD}\n[video]\nscene = \"nope.y4m\"\n")).expect("board");
        board.dir = std::env::temp_dir();
        let err = SimVideo::open(&board).err().expect("missing");
        assert_eq!(err.kind(), HalErrorKind::Disconnected);
    }
}
