//! The block-difference motion detector: luma frames in, [`MotionEvent`]s out.
//!
//! # Method
//!
//! The frame is cut into the guide's 10×10 grid (cell edges at `k·width/10`, `k·height/10`).
//! Each pixel keeps a reference, a running average of past frames in fixed point (`u16`,
//! luma·16), moved 1/16 of the way towards every new frame (a time constant of 16 frames,
//! about 2-3 s at the 5-8 frames per second the caller should feed).
//!
//! One pass over the frame gathers, per cell, the moments of the current luma `c` and the
//! reference luma `r`: Σc, Σr, Σc², Σr², Σcr (u32 per row segment, u64 per cell), and updates
//! the reference in the same pass. From those moments alone:
//!
//! 1. **Global lighting model.** A scene-wide gain `A` (median over cells of mean(c)/mean(r))
//!    and offset `B` (median over cells of mean(c) − A·mean(r)) describe a brightness change
//!    of the whole picture: lights on, clouds, auto-exposure. Medians ignore up to half the
//!    cells, so local motion does not move the model.
//! 2. **Per-cell residual.** Each cell may differ from the global gain by up to
//!    [`LOCAL_GAIN_SLACK`] (uneven lighting, headlights on part of the scene); the cell's
//!    least-squares gain through offset `B`, clamped to `[A/slack, A·slack]`, predicts `c`
//!    from `r`, and the mean squared residual is what the cell's content changed *beyond
//!    lighting*. Normalised by the cell's pixel count, so the score does not depend on the
//!    resolution fed.
//! 3. **Noise floor.** The median residual over all cells (sensor noise, imperfect lighting
//!    fit) is subtracted; the cell's score is the square root of what remains, in luma levels
//!    (RMS).
//!
//! A cell *fires* when its score exceeds the threshold of the sensitivity
//! ([`Sensitivity::threshold`]). An alarm needs fired cells inside the enabled area in two
//! consecutive frames (one-frame glitches such as a rolling-shutter frame half lit by a lamp
//! switching on do not alarm), inside the schedule, outside blanking; alarms are then spaced
//! by the trigger interval ([`AlarmGate`]).
//!
//! # Sensitivity mapping (monotonic)
//!
//! | guide value | level  | threshold (RMS luma change in a cell) |
//! |-------------|--------|---------------------------------------|
//! | 4           | Lowest | 40 |
//! | 3           | Lower  | 28 |
//! | 0           | Low    | 20 |
//! | 1           | Normal | 14 |
//! | 2           | High   | 10 |
//!
//! A uniform object of contrast `k` covering a fraction `f` of a cell scores about `k·√f`:
//! at Normal a person (contrast 60) covering 6% of a cell fires it, at Lowest it takes 45%.
//!
//! # Blanking
//!
//! [`Detector::blank`] (and [`Detector::notify_ir_switch`] for the IR LED / IR cut / colour
//! mode switch) copies every frame into the reference for the duration, so the reference is
//! re-learned on the new picture, and reports nothing until it ends.
//!
//! The per-frame path does not allocate (the reference is allocated on the first frame and
//! when the frame size changes) and reads each pixel of the frame and of the reference once.
//! The per-pixel work is [`super::kernel`]'s: SSE2 or NEON where the CPU has it, else the
//! scalar reference, with identical results.

use std::time::{Duration, Instant};

use super::dispatch::Kernel;
use super::gate::AlarmGate;
use super::grid::{AreaMask, GRID_SIZE};
use super::kernel::{Band, CellMoments, learn_row};
use super::schedule::{LocalTime, Schedule};

/// Blanking after an IR LED / IR cut / day-night switch.
pub const IR_SWITCH_BLANKING: Duration = Duration::from_secs(4);

/// How far a cell's lighting gain may differ from the scene's before the difference counts
/// as motion (factor, both ways).
pub const LOCAL_GAIN_SLACK: f64 = 2.0;

/// Consecutive frames with fired cells needed for an alarm.
pub const FRAMES_TO_CONFIRM: u32 = 2;

/// Least variance of the reference within a cell (luma levels²) for the cell to vote on the
/// scene's lighting gain with its own slope.
const MIN_VARIANCE_FOR_SLOPE: f64 = 25.0;

/// Cells whose reference mean is darker than this do not vote for the global gain (their
/// ratio is noise).
const MIN_MEAN_FOR_GAIN: f64 = 8.0;

/// The guide's motion sensitivity, ordered from least to most sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sensitivity {
    /// Guide value 4.
    Lowest,
    /// Guide value 3.
    Lower,
    /// Guide value 0.
    Low,
    /// Guide value 1.
    Normal,
    /// Guide value 2.
    High,
}

impl Sensitivity {
    /// Every level, least sensitive first.
    pub const ALL: [Sensitivity; 5] = [
        Sensitivity::Lowest,
        Sensitivity::Lower,
        Sensitivity::Low,
        Sensitivity::Normal,
        Sensitivity::High,
    ];

    /// From the guide's value (0 Low, 1 Normal, 2 High, 3 Lower, 4 Lowest).
    pub fn from_guide(value: i64) -> Option<Sensitivity> {
        match value {
            0 => Some(Sensitivity::Low),
            1 => Some(Sensitivity::Normal),
            2 => Some(Sensitivity::High),
            3 => Some(Sensitivity::Lower),
            4 => Some(Sensitivity::Lowest),
            _ => None,
        }
    }

    /// The guide's value.
    pub fn guide_value(self) -> u8 {
        match self {
            Sensitivity::Low => 0,
            Sensitivity::Normal => 1,
            Sensitivity::High => 2,
            Sensitivity::Lower => 3,
            Sensitivity::Lowest => 4,
        }
    }

    /// The cell score (RMS luma change beyond lighting and noise) above which a cell fires;
    /// strictly decreasing as sensitivity rises. See the module doc.
    pub fn threshold(self) -> u8 {
        match self {
            Sensitivity::Lowest => 40,
            Sensitivity::Lower => 28,
            Sensitivity::Low => 20,
            Sensitivity::Normal => 14,
            Sensitivity::High => 10,
        }
    }
}

/// The motion settings of get/setMotionDetectConfig that the detector acts on (linkage is
/// the caller's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotionConfig {
    /// `isEnable`.
    pub enabled: bool,
    /// `sensitivity`.
    pub sensitivity: Sensitivity,
    /// `area0..area9`.
    pub area: AreaMask,
    /// `schedule0..schedule6`.
    pub schedule: Schedule,
    /// `triggerInterval` (seconds in the guide).
    pub trigger_interval: Duration,
    /// `snapInterval` (seconds in the guide).
    pub snap_interval: Duration,
}

impl Default for MotionConfig {
    /// Disabled; otherwise the guide's example values (Normal, whole picture, always,
    /// trigger 5 s, snap 2 s).
    fn default() -> Self {
        MotionConfig {
            enabled: false,
            sensitivity: Sensitivity::Normal,
            area: AreaMask::ALL,
            schedule: Schedule::ALWAYS,
            trigger_interval: Duration::from_secs(5),
            snap_interval: Duration::from_secs(2),
        }
    }
}

/// A motion alarm: reported at most once per trigger interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MotionEvent {
    /// When the frame that raised it was fed.
    pub at: Instant,
    /// The enabled cells that fired in that frame.
    pub cells: AreaMask,
    /// The strongest fired cell's score (RMS luma levels, see the module doc).
    pub level: u8,
}

/// getDevState's `motionDetectAlarm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MotionStatus {
    /// Detection is off (0).
    Disabled,
    /// On, no alarm (1).
    NoAlarm,
    /// On, an alarm is active (2).
    Alarm,
}

impl MotionStatus {
    /// The value getDevState reports.
    pub fn guide_value(self) -> u8 {
        match self {
            MotionStatus::Disabled => 0,
            MotionStatus::NoAlarm => 1,
            MotionStatus::Alarm => 2,
        }
    }
}

/// A borrowed luma (Y) plane: `height` rows of `width` bytes, rows `stride` bytes apart.
#[derive(Debug, Clone, Copy)]
pub struct LumaFrame<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
    stride: usize,
}

impl<'a> LumaFrame<'a> {
    /// Checks the geometry: at least one pixel per grid cell, `stride >= width`, and `data`
    /// long enough. `None` otherwise.
    pub fn new(data: &'a [u8], width: usize, height: usize, stride: usize) -> Option<Self> {
        if width < GRID_SIZE || height < GRID_SIZE || stride < width {
            return None;
        }
        let needed = stride.checked_mul(height - 1)?.checked_add(width)?;
        (data.len() >= needed).then_some(LumaFrame {
            data,
            width,
            height,
            stride,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    fn row(&self, y: usize) -> &'a [u8] {
        let start = y * self.stride;
        &self.data[start..start + self.width]
    }
}

/// Median of `values` (the upper one for an even count); reorders them. 0 when empty.
fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    *values.select_nth_unstable_by(mid, f64::total_cmp).1
}

/// The scene-wide lighting gain between reference and frame, from the cells' means
/// (`[c, r, cc, rr, cr]`): the median over textured cells of each cell's own slope
/// cov(c, r)/var(r), so moving cells and unevenly lit parts of the picture cannot move it
/// much. A scene without texture uses the median ratio of the cell means (lighting is
/// multiplicative first), and 1 when even that has no votes.
fn lighting_gain(means: &[[f64; 5]; GRID_SIZE * GRID_SIZE]) -> f64 {
    const CELLS: usize = GRID_SIZE * GRID_SIZE;
    let mut votes = [0f64; CELLS];
    let mut voters = 0;
    for &[mc, mr, _, mrr, mcr] in means {
        let variance = mrr - mr * mr;
        if variance >= MIN_VARIANCE_FOR_SLOPE {
            votes[voters] = (mcr - mc * mr) / variance;
            voters += 1;
        }
    }
    if voters < CELLS / 10 {
        voters = 0;
        for &[mc, mr, ..] in means {
            if mr >= MIN_MEAN_FOR_GAIN {
                votes[voters] = mc / mr;
                voters += 1;
            }
        }
    }
    if voters < CELLS / 10 {
        return 1.0;
    }
    median(&mut votes[..voters]).clamp(0.05, 20.0)
}

/// Per-cell scores (RMS luma change beyond lighting and noise) from the moments and the
/// cells' pixel counts.
fn score_cells(
    moments: &[[CellMoments; GRID_SIZE]; GRID_SIZE],
    cell_pixels: &[[usize; GRID_SIZE]; GRID_SIZE],
) -> [[u8; GRID_SIZE]; GRID_SIZE] {
    const CELLS: usize = GRID_SIZE * GRID_SIZE;
    // Means over the kept (unclipped) pixels of each cell: c, r, cc, rr, cr; and the share
    // of the cell's pixels kept.
    let mut means = [[0f64; 5]; CELLS];
    let mut kept_share = [0f64; CELLS];
    for (i, (mean, share)) in means.iter_mut().zip(kept_share.iter_mut()).enumerate() {
        let m = &moments[i / GRID_SIZE][i % GRID_SIZE];
        let kept = m.n.max(1) as f64;
        *mean = [
            m.c as f64 / kept,
            m.r as f64 / kept,
            m.cc as f64 / kept,
            m.rr as f64 / kept,
            m.cr as f64 / kept,
        ];
        *share = m.n as f64 / cell_pixels[i / GRID_SIZE][i % GRID_SIZE].max(1) as f64;
    }

    let gain = lighting_gain(&means);
    let mut scratch = [0f64; CELLS];
    for (slot, mean) in scratch.iter_mut().zip(&means) {
        *slot = mean[0] - gain * mean[1];
    }
    let offset = median(&mut scratch);

    let mut residual = [0f64; CELLS];
    for ((res, &[mc, mr, mcc, mrr, mcr]), share) in residual.iter_mut().zip(&means).zip(kept_share)
    {
        // E[(c-B)·r] and E[(c-B)²].
        let cross = mcr - offset * mr;
        let own = mcc - 2.0 * offset * mc + offset * offset;
        let local_gain = if mrr > 0.0 { cross / mrr } else { gain }
            .clamp(gain / LOCAL_GAIN_SLACK, gain * LOCAL_GAIN_SLACK);
        // Clipped pixels count as explained (zero residual): normalised by the cell's size.
        *res = (own - 2.0 * local_gain * cross + local_gain * local_gain * mrr).max(0.0) * share;
    }
    scratch = residual;
    let floor = median(&mut scratch);

    let mut scores = [[0u8; GRID_SIZE]; GRID_SIZE];
    for (i, res) in residual.iter().enumerate() {
        let score = (res - floor).max(0.0).sqrt().round().min(255.0);
        // Rounded and clamped to 0..=255 above: the cast is exact.
        scores[i / GRID_SIZE][i % GRID_SIZE] = score as u8;
    }
    scores
}

/// Cell edges along one axis: `k·len/10` for k = 0..=10.
fn grid_edges(len: usize) -> [usize; GRID_SIZE + 1] {
    let mut edges = [0usize; GRID_SIZE + 1];
    for (k, edge) in edges.iter_mut().enumerate() {
        *edge = k * len / GRID_SIZE;
    }
    edges
}

/// The motion detector of one video stream. Feed it frames with [`Detector::feed`].
pub struct Detector {
    config: MotionConfig,
    kernel: Kernel,
    reference: Vec<u16>,
    width: usize,
    height: usize,
    learned: bool,
    blank_until: Option<Instant>,
    scores: [[u8; GRID_SIZE]; GRID_SIZE],
    confirm_frames: u32,
    last_fired: Option<(Instant, AreaMask)>,
    gate: AlarmGate,
}

impl Detector {
    /// A detector with `config`; it learns the scene from the first frame. It runs the
    /// fastest kernel of this CPU ([`Kernel::detect`]).
    pub fn new(config: MotionConfig) -> Detector {
        Detector::with_kernel(config, Kernel::detect())
    }

    /// A detector that runs `kernel` (the same results with any; for benchmarks and tests).
    pub fn with_kernel(config: MotionConfig, kernel: Kernel) -> Detector {
        let gate = AlarmGate::new(config.trigger_interval, config.snap_interval);
        Detector {
            config,
            kernel,
            reference: Vec::new(),
            width: 0,
            height: 0,
            learned: false,
            blank_until: None,
            scores: [[0; GRID_SIZE]; GRID_SIZE],
            confirm_frames: 0,
            last_fired: None,
            gate,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &MotionConfig {
        &self.config
    }

    /// Applies new settings (setMotionDetectConfig). Switching detection on re-learns the
    /// scene; switching it off ends any alarm.
    pub fn set_config(&mut self, config: MotionConfig) {
        if !config.enabled {
            self.gate.reset();
            self.confirm_frames = 0;
        }
        if config.enabled && !self.config.enabled {
            self.learned = false;
        }
        self.gate
            .set_intervals(config.trigger_interval, config.snap_interval);
        self.config = config;
    }

    /// Suppresses alarms until `now + duration` and re-learns the reference from the frames
    /// fed meanwhile.
    pub fn blank(&mut self, now: Instant, duration: Duration) {
        let until = now + duration;
        self.blank_until = Some(self.blank_until.map_or(until, |old| old.max(until)));
        self.confirm_frames = 0;
    }

    /// The IR LED, IR cut filter or colour/night mode switched at `now`: blanks for
    /// [`IR_SWITCH_BLANKING`].
    pub fn notify_ir_switch(&mut self, now: Instant) {
        self.blank(now, IR_SWITCH_BLANKING);
    }

    /// Processes one frame fed at `now`, when the camera's local time is `local`. Returns an
    /// event when this frame starts a motion alarm.
    pub fn feed(
        &mut self,
        frame: &LumaFrame<'_>,
        now: Instant,
        local: LocalTime,
    ) -> Option<MotionEvent> {
        if !self.config.enabled {
            self.learned = false;
            return None;
        }
        if frame.width != self.width || frame.height != self.height {
            self.width = frame.width;
            self.height = frame.height;
            self.reference.clear();
            self.reference.resize(frame.width * frame.height, 0);
            self.learned = false;
        }
        let blanked = self.blank_until.is_some_and(|until| now < until);
        if !blanked {
            self.blank_until = None;
        }
        if blanked || !self.learned {
            self.learn(frame);
            self.learned = true;
            self.confirm_frames = 0;
            self.scores = [[0; GRID_SIZE]; GRID_SIZE];
            return None;
        }

        self.scores = self.measure(frame);
        let threshold = self.config.sensitivity.threshold();
        let mut fired = AreaMask::NONE;
        let mut level = 0u8;
        for (row, scores) in self.scores.iter().enumerate() {
            for (col, &score) in scores.iter().enumerate() {
                if score > threshold && self.config.area.contains(row, col) {
                    fired.insert(row, col);
                    level = level.max(score);
                }
            }
        }
        if fired.is_empty() {
            self.confirm_frames = 0;
            return None;
        }
        self.confirm_frames = self.confirm_frames.saturating_add(1);
        if self.confirm_frames < FRAMES_TO_CONFIRM || !self.config.schedule.is_active(local) {
            return None;
        }
        self.last_fired = Some((now, fired));
        self.gate.detect(now).then_some(MotionEvent {
            at: now,
            cells: fired,
            level,
        })
    }

    /// getDevState's `motionDetectAlarm` at `now`.
    pub fn status(&self, now: Instant) -> MotionStatus {
        if !self.config.enabled {
            MotionStatus::Disabled
        } else if self.gate.is_active(now) {
            MotionStatus::Alarm
        } else {
            MotionStatus::NoAlarm
        }
    }

    /// While an alarm is active, true at most once per `snapInterval` (snap linkage).
    pub fn snap_due(&mut self, now: Instant) -> bool {
        self.config.enabled && self.gate.snap_due(now)
    }

    /// The last frame's cell scores (row-major, RMS luma levels; all zero while learning or
    /// blanked), for a tuning/debug view.
    pub fn cell_scores(&self) -> &[[u8; GRID_SIZE]; GRID_SIZE] {
        &self.scores
    }

    /// When motion was last confirmed (in area and schedule, whether or not the trigger
    /// interval let it raise an alarm) and which cells fired then.
    pub fn last_fired(&self) -> Option<(Instant, AreaMask)> {
        self.last_fired
    }

    fn learn(&mut self, frame: &LumaFrame<'_>) {
        let width = self.width;
        for (y, reference) in self.reference.chunks_exact_mut(width).enumerate() {
            learn_row(frame.row(y), reference);
        }
    }

    fn measure(&mut self, frame: &LumaFrame<'_>) -> [[u8; GRID_SIZE]; GRID_SIZE] {
        let width = self.width;
        let cols = grid_edges(width);
        let rows = grid_edges(self.height);
        let mut moments = [[CellMoments::default(); GRID_SIZE]; GRID_SIZE];
        let mut cell_pixels = [[0usize; GRID_SIZE]; GRID_SIZE];
        let mut reference = &mut self.reference[..];
        for (cell_row, (moments_row, pixels_row)) in
            moments.iter_mut().zip(cell_pixels.iter_mut()).enumerate()
        {
            let cell_height = rows[cell_row + 1] - rows[cell_row];
            let (band_reference, rest) = reference.split_at_mut(cell_height * width);
            reference = rest;
            let band = Band {
                data: frame.data,
                stride: frame.stride,
                first_row: rows[cell_row],
                width,
                reference: band_reference,
            };
            self.kernel.band(band, &cols, moments_row);
            for (col, pixels) in pixels_row.iter_mut().enumerate() {
                *pixels = (cols[col + 1] - cols[col]) * cell_height;
            }
        }
        score_cells(&moments, &cell_pixels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 320;
    const H: usize = 240;
    const FRAME: Duration = Duration::from_millis(100);

    /// Deterministic xorshift32 noise.
    struct Noise(u32);

    impl Noise {
        fn next(&mut self) -> u32 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.0 = x;
            x
        }

        /// Uniform in -amplitude..=amplitude.
        fn sample(&mut self, amplitude: i32) -> i32 {
            (self.next() % (2 * amplitude as u32 + 1)) as i32 - amplitude
        }
    }

    /// A textured static scene: 6×6-pixel blocks of hashed brightness over a horizontal
    /// gradient, luma 50..210.
    fn background(seed: u32) -> Vec<u8> {
        let mut frame = vec![0u8; W * H];
        for y in 0..H {
            for x in 0..W {
                let mut h = ((x / 6) as u32).wrapping_mul(0x9e37_79b1)
                    ^ ((y / 6) as u32).wrapping_mul(0x85eb_ca77)
                    ^ seed;
                h ^= h >> 15;
                h = h.wrapping_mul(0x2c1b_3c6d);
                h ^= h >> 12;
                frame[y * W + x] = 50 + (h % 120) as u8 + (x * 40 / W) as u8;
            }
        }
        frame
    }

    fn with_square(frame: &[u8], x0: usize, y0: usize, size: usize, luma: u8) -> Vec<u8> {
        let mut out = frame.to_vec();
        for y in y0..(y0 + size).min(H) {
            for x in x0..(x0 + size).min(W) {
                out[y * W + x] = luma;
            }
        }
        out
    }

    fn with_noise(frame: &[u8], noise: &mut Noise, amplitude: i32) -> Vec<u8> {
        frame
            .iter()
            .map(|&p| (i32::from(p) + noise.sample(amplitude)).clamp(0, 255) as u8)
            .collect()
    }

    fn lit(frame: &[u8], gain: f32, offset: f32) -> Vec<u8> {
        frame
            .iter()
            .map(|&p| (f32::from(p) * gain + offset).round().clamp(0.0, 255.0) as u8)
            .collect()
    }

    fn enabled(sensitivity: Sensitivity) -> MotionConfig {
        MotionConfig {
            enabled: true,
            sensitivity,
            ..MotionConfig::default()
        }
    }

    fn monday_noon() -> LocalTime {
        LocalTime::new(0, 12 * 60).unwrap()
    }

    /// Feeds `frames` at 10 frames per second from `start`; returns the events.
    fn run(
        detector: &mut Detector,
        start: Instant,
        frames: &[Vec<u8>],
        local: LocalTime,
    ) -> Vec<MotionEvent> {
        frames
            .iter()
            .enumerate()
            .filter_map(|(i, data)| {
                let frame = LumaFrame::new(data, W, H, W).unwrap();
                detector.feed(&frame, start + FRAME * i as u32, local)
            })
            .collect()
    }

    /// The scene learned, then a 20×20 square of luma 250 inside cell (row 4, col 6).
    fn square_scene() -> Vec<Vec<u8>> {
        let bg = background(1);
        let square = with_square(&bg, 6 * 32 + 6, 4 * 24 + 2, 20, 250);
        let mut frames = vec![bg; 5];
        frames.extend(std::iter::repeat_n(square, 5));
        frames
    }

    #[test]
    fn test_detector_static_scene_no_event() {
        let mut d = Detector::new(enabled(Sensitivity::High));
        let frames = vec![background(1); 30];
        assert!(run(&mut d, Instant::now(), &frames, monday_noon()).is_empty());
        assert!(d.cell_scores().iter().flatten().all(|&s| s == 0));
    }

    #[test]
    fn test_detector_square_in_cell_fires_that_cell_only() {
        let mut d = Detector::new(enabled(Sensitivity::Normal));
        let t0 = Instant::now();
        let events = run(&mut d, t0, &square_scene(), monday_noon());
        assert_eq!(events.len(), 1, "one alarm within the trigger interval");
        let event = events[0];
        assert!(event.cells.contains(4, 6), "cells:\n{}", event.cells);
        assert_eq!(event.cells.count(), 1, "cells:\n{}", event.cells);
        assert!(event.level > Sensitivity::Normal.threshold());
        // Confirmed on the second frame with the square (frames 5 and 6).
        assert_eq!(event.at, t0 + FRAME * 6);
        assert_eq!(d.last_fired().map(|(_, cells)| cells), Some(event.cells));
        assert!(d.cell_scores()[4][6] > Sensitivity::Normal.threshold());
    }

    #[test]
    fn test_detector_single_glitch_frame_no_event() {
        let bg = background(1);
        let mut frames = vec![bg.clone(); 5];
        frames.push(with_square(&bg, 100, 100, 30, 250));
        frames.extend(std::iter::repeat_n(bg, 5));
        let mut d = Detector::new(enabled(Sensitivity::High));
        assert!(run(&mut d, Instant::now(), &frames, monday_noon()).is_empty());
    }

    /// `bg` relit pixel by pixel with `light(x, y, luma)`, rounded and clipped.
    fn relit(bg: &[u8], light: impl Fn(usize, usize, f32) -> f32) -> Vec<u8> {
        let mut out = bg.to_vec();
        for y in 0..H {
            for x in 0..W {
                let p = f32::from(bg[y * W + x]);
                out[y * W + x] = light(x, y, p).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    #[test]
    fn test_detector_brightness_steps_no_event() {
        let bg = background(2);
        let steps = [
            ("lights on, 22% clipped", lit(&bg, 1.4, 25.0)),
            ("lights off", lit(&bg, 0.55, -5.0)),
            ("offset step, clipped", lit(&bg, 1.0, 60.0)),
            ("exposure x2, half clipped", lit(&bg, 2.0, 0.0)),
            (
                "gamma 0.7",
                relit(&bg, |_, _, p| 255.0 * (p / 255.0).powf(0.7)),
            ),
            (
                "gamma 1.4",
                relit(&bg, |_, _, p| 255.0 * (p / 255.0).powf(1.4)),
            ),
            (
                "lighting gradient",
                relit(&bg, |x, _, p| p * (1.0 + 0.6 * x as f32 / W as f32)),
            ),
            (
                "left half x1.5",
                relit(&bg, |x, _, p| if x < W / 2 { p * 1.5 } else { p }),
            ),
            (
                "quarter x2",
                relit(
                    &bg,
                    |x, y, p| if x < W / 2 && y < H / 2 { p * 2.0 } else { p },
                ),
            ),
        ];
        for (name, step) in steps {
            let mut frames = vec![bg.clone(); 5];
            frames.extend(std::iter::repeat_n(step, 40));
            let mut d = Detector::new(enabled(Sensitivity::High));
            let events = run(&mut d, Instant::now(), &frames, monday_noon());
            assert!(events.is_empty(), "{name}: {events:?}");
        }
        // Headlights: a steep bright blob (gain up to 2.2 in its centre), at Normal.
        let headlight = relit(&bg, |x, y, p| {
            let d = ((x as f32 - 80.0).powi(2) + (y as f32 - 180.0).powi(2)).sqrt();
            p * (1.0 + 1.2 * (-d / 60.0).exp())
        });
        let mut frames = vec![bg.clone(); 5];
        frames.extend(std::iter::repeat_n(headlight, 40));
        let mut d = Detector::new(enabled(Sensitivity::Normal));
        assert!(run(&mut d, Instant::now(), &frames, monday_noon()).is_empty());
    }

    #[test]
    fn test_detector_motion_during_brightness_step_still_fires() {
        let bg = background(2);
        let mut frames = vec![bg.clone(); 5];
        let brighter = lit(&bg, 1.3, 10.0);
        frames.extend(std::iter::repeat_n(
            with_square(&brighter, 2 * 32 + 4, 7 * 24 + 2, 20, 20),
            4,
        ));
        let mut d = Detector::new(enabled(Sensitivity::Normal));
        let events = run(&mut d, Instant::now(), &frames, monday_noon());
        assert_eq!(events.len(), 1);
        assert!(
            events[0].cells.contains(7, 2),
            "cells:\n{}",
            events[0].cells
        );
    }

    #[test]
    fn test_detector_noise_at_every_sensitivity_no_event() {
        let bg = background(3);
        // Uniform ±16 (σ ≈ 9 luma levels): heavier than a sub stream at night.
        let mut noise = Noise(0x1234_5678);
        let frames: Vec<Vec<u8>> = (0..150).map(|_| with_noise(&bg, &mut noise, 16)).collect();
        for sensitivity in Sensitivity::ALL {
            let mut d = Detector::new(enabled(sensitivity));
            let events = run(&mut d, Instant::now(), &frames, monday_noon());
            assert!(events.is_empty(), "{sensitivity:?}: {events:?}");
        }
        // The same noise does not hide real motion at High.
        let mut with_motion = frames[..20].to_vec();
        with_motion.extend(
            frames[20..30]
                .iter()
                .map(|f| with_square(f, 5 * 32, 5 * 24, 20, 250)),
        );
        let mut d = Detector::new(enabled(Sensitivity::High));
        let events = run(&mut d, Instant::now(), &with_motion, monday_noon());
        assert_eq!(events.len(), 1);
        assert!(events[0].cells.contains(5, 5));
    }

    #[test]
    fn test_sensitivity_thresholds_monotonic_and_guide_values_round_trip() {
        for pair in Sensitivity::ALL.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].threshold() > pair[1].threshold());
        }
        for value in 0..5 {
            let s = Sensitivity::from_guide(value).unwrap();
            assert_eq!(i64::from(s.guide_value()), value);
        }
        assert_eq!(Sensitivity::from_guide(5), None);
        assert_eq!(Sensitivity::from_guide(-1), None);
        assert!(Sensitivity::from_guide(4) < Sensitivity::from_guide(0));
    }

    #[test]
    fn test_detector_small_object_fires_at_high_not_at_lowest() {
        // An 8×8 square of contrast ~90 covers 8% of a 32×24 cell: score about 26.
        let bg = vec![110u8; W * H];
        let mut frames = vec![bg.clone(); 5];
        frames.extend(std::iter::repeat_n(
            with_square(&bg, 3 * 32 + 10, 3 * 24 + 8, 8, 200),
            4,
        ));
        let fired: Vec<bool> = Sensitivity::ALL
            .iter()
            .map(|&s| {
                let mut d = Detector::new(enabled(s));
                !run(&mut d, Instant::now(), &frames, monday_noon()).is_empty()
            })
            .collect();
        assert_eq!(fired, vec![false, false, true, true, true], "Lowest..High");
    }

    #[test]
    fn test_detector_motion_outside_schedule_no_event() {
        // Monday 00:00-00:30 only.
        let config = MotionConfig {
            schedule: Schedule::from_days([1, 0, 0, 0, 0, 0, 0]).unwrap(),
            ..enabled(Sensitivity::Normal)
        };
        let mut d = Detector::new(config.clone());
        let outside = LocalTime::new(0, 60).unwrap();
        assert!(run(&mut d, Instant::now(), &square_scene(), outside).is_empty());
        assert_eq!(d.status(Instant::now()), MotionStatus::NoAlarm);
        let mut d = Detector::new(config);
        let inside = LocalTime::new(0, 10).unwrap();
        assert_eq!(
            run(&mut d, Instant::now(), &square_scene(), inside).len(),
            1
        );
    }

    #[test]
    fn test_detector_motion_in_disabled_area_no_event() {
        let mut area = AreaMask::ALL;
        let mut rows = area.rows();
        rows[4] &= !(1 << 6);
        area = AreaMask::from_rows(rows).unwrap();
        let mut d = Detector::new(MotionConfig {
            area,
            ..enabled(Sensitivity::High)
        });
        assert!(run(&mut d, Instant::now(), &square_scene(), monday_noon()).is_empty());
        assert!(d.cell_scores()[4][6] > 0, "scored but masked");
    }

    #[test]
    fn test_detector_trigger_interval_spaces_alarms() {
        // A square moving across the picture for 12 s at 10 frames per second.
        let bg = background(4);
        let mut frames = vec![bg.clone(); 5];
        for i in 0..120 {
            frames.push(with_square(&bg, (i * 7) % (W - 20), 100, 20, 250));
        }
        let mut d = Detector::new(MotionConfig {
            trigger_interval: Duration::from_secs(5),
            ..enabled(Sensitivity::Normal)
        });
        let t0 = Instant::now();
        let events = run(&mut d, t0, &frames, monday_noon());
        let times: Vec<Duration> = events.iter().map(|e| e.at - t0).collect();
        assert_eq!(times.len(), 3, "{times:?}");
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_secs(5), "{times:?}");
        }
        let end = t0 + FRAME * frames.len() as u32;
        assert_eq!(d.status(end), MotionStatus::Alarm);
        assert_eq!(
            d.status(end + Duration::from_secs(6)),
            MotionStatus::NoAlarm
        );
    }

    #[test]
    fn test_detector_ir_switch_blanks_and_relearns() {
        let day = background(5);
        // Night mode: a different picture (IR lighting), not an affine change of the day one.
        let night = background(6);
        let mut frames = vec![day; 10];
        frames.extend(std::iter::repeat_n(night.clone(), 80));
        let t0 = Instant::now();

        let mut unblanked = Detector::new(enabled(Sensitivity::Normal));
        assert!(!run(&mut unblanked, t0, &frames, monday_noon()).is_empty());

        let mut d = Detector::new(enabled(Sensitivity::Normal));
        let mut events = run(&mut d, t0, &frames[..10], monday_noon());
        d.notify_ir_switch(t0 + FRAME * 10);
        for (i, data) in frames.iter().enumerate().skip(10) {
            let frame = LumaFrame::new(data, W, H, W).unwrap();
            events.extend(d.feed(&frame, t0 + FRAME * i as u32, monday_noon()));
        }
        assert!(events.is_empty(), "{events:?}");
        // After blanking the detector works on the new picture.
        let later = t0 + FRAME * 100;
        let moved = vec![with_square(&night, 150, 150, 24, 10); 3];
        assert_eq!(run(&mut d, later, &moved, monday_noon()).len(), 1);
    }

    #[test]
    fn test_detector_padded_stride_same_as_packed() {
        let frames = square_scene();
        let stride = W + 13;
        let padded: Vec<Vec<u8>> = frames
            .iter()
            .map(|f| {
                let mut out = vec![0xa5u8; stride * H];
                for y in 0..H {
                    out[y * stride..y * stride + W].copy_from_slice(&f[y * W..(y + 1) * W]);
                }
                out
            })
            .collect();
        let t0 = Instant::now();
        let mut packed = Detector::new(enabled(Sensitivity::Normal));
        let expected = run(&mut packed, t0, &frames, monday_noon());
        let mut d = Detector::new(enabled(Sensitivity::Normal));
        let got: Vec<MotionEvent> = padded
            .iter()
            .enumerate()
            .filter_map(|(i, data)| {
                let frame = LumaFrame::new(data, W, H, stride).unwrap();
                d.feed(&frame, t0 + FRAME * i as u32, monday_noon())
            })
            .collect();
        assert_eq!(got, expected);
        assert_eq!(d.cell_scores(), packed.cell_scores());
    }

    #[test]
    fn test_detector_every_kernel_same_scores_and_events() {
        let mut noise = Noise(0x0bad_cafe);
        let mut frames = square_scene();
        frames.extend((0..10).map(|_| with_noise(&background(2), &mut noise, 40)));
        frames.push(lit(&background(2), 1.6, 20.0));
        let t0 = Instant::now();
        let mut scalar = Detector::with_kernel(enabled(Sensitivity::High), Kernel::Scalar);
        for kernel in Kernel::available() {
            let mut d = Detector::with_kernel(enabled(Sensitivity::High), kernel);
            for (i, data) in frames.iter().enumerate() {
                let frame = LumaFrame::new(data, W, H, W).unwrap();
                let at = t0 + FRAME * i as u32;
                let expected = scalar.feed(&frame, at, monday_noon());
                assert_eq!(
                    d.feed(&frame, at, monday_noon()),
                    expected,
                    "{kernel:?} frame {i}"
                );
                assert_eq!(
                    d.cell_scores(),
                    scalar.cell_scores(),
                    "{kernel:?} frame {i}"
                );
                assert_eq!(d.reference, scalar.reference, "{kernel:?} frame {i}");
            }
            scalar = Detector::with_kernel(enabled(Sensitivity::High), Kernel::Scalar);
        }
    }

    #[test]
    fn test_luma_frame_rejects_bad_geometry() {
        let data = vec![0u8; 100 * 50];
        assert!(LumaFrame::new(&data, 100, 50, 100).is_some());
        assert!(LumaFrame::new(&data, 100, 51, 100).is_none(), "too short");
        assert!(
            LumaFrame::new(&data, 100, 50, 99).is_none(),
            "stride < width"
        );
        assert!(
            LumaFrame::new(&data, 9, 50, 9).is_none(),
            "narrower than the grid"
        );
        assert!(
            LumaFrame::new(&data, 100, usize::MAX, usize::MAX).is_none(),
            "overflow"
        );
    }

    #[test]
    fn test_detector_disabled_reports_disabled_and_relearns_when_enabled() {
        let mut d = Detector::new(MotionConfig::default());
        let t0 = Instant::now();
        assert!(run(&mut d, t0, &square_scene(), monday_noon()).is_empty());
        assert_eq!(d.status(t0).guide_value(), 0);
        d.set_config(enabled(Sensitivity::Normal));
        assert_eq!(d.status(t0).guide_value(), 1);
        let events = run(&mut d, t0, &square_scene(), monday_noon());
        assert_eq!(events.len(), 1);
        assert_eq!(d.status(events[0].at).guide_value(), 2);
        assert!(d.snap_due(events[0].at));
        assert!(!d.snap_due(events[0].at + Duration::from_secs(1)));
        d.set_config(MotionConfig::default());
        assert_eq!(d.status(events[0].at), MotionStatus::Disabled);
    }

    #[test]
    fn test_detector_frame_size_change_relearns() {
        let mut d = Detector::new(enabled(Sensitivity::High));
        let t0 = Instant::now();
        run(&mut d, t0, &vec![background(1); 3], monday_noon());
        let small = vec![90u8; 160 * 120];
        let frame = LumaFrame::new(&small, 160, 120, 160).unwrap();
        assert!(d.feed(&frame, t0 + FRAME * 3, monday_noon()).is_none());
        assert!(d.feed(&frame, t0 + FRAME * 4, monday_noon()).is_none());
        assert!(d.cell_scores().iter().flatten().all(|&s| s == 0));
    }
}
