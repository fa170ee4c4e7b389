//! Simulated camera: a synthetic scene rendered at the configured size and rate, and the
//! software JPEG encoder.
//!
//! (First cut: a moving square on a gradient. The live-video issue grows this into the full
//! scene with clock, textures, y4m playback and image controls.)

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::board::BoardSpec;
use crate::video::{CaptureConfig, Encoder, Frame, ImageControl, PixelFormat, VideoSource};
use crate::{HalError, HalErrorKind, HalResult};

struct State {
    config: CaptureConfig,
    sequence: u64,
    next_due: Instant,
}

/// The simulated sensor.
pub struct SimVideo {
    state: Mutex<State>,
}

impl SimVideo {
    /// Opens the simulated sensor at VGA, 15 fps.
    pub fn open(_board: &BoardSpec) -> HalResult<SimVideo> {
        Ok(SimVideo {
            state: Mutex::new(State {
                config: CaptureConfig {
                    width: 640,
                    height: 480,
                    fps: 15,
                },
                sequence: 0,
                next_due: Instant::now(),
            }),
        })
    }
}

impl VideoSource for SimVideo {
    fn configure(&self, config: CaptureConfig) -> HalResult<()> {
        if config.width == 0 || config.height == 0 || config.fps == 0 {
            return Err(HalError::new(
                HalErrorKind::InvalidArgument,
                "zero capture size",
            ));
        }
        self.state.lock().unwrap_or_else(|e| e.into_inner()).config = config;
        Ok(())
    }

    fn config(&self) -> CaptureConfig {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).config
    }

    fn next_frame(&self, _timeout: Duration) -> HalResult<Frame> {
        let (config, sequence, due) = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let due = state.next_due;
            state.next_due = due.max(Instant::now()) + Duration::from_secs(1) / state.config.fps;
            state.sequence += 1;
            (state.config, state.sequence, due)
        };
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let (w, h) = (config.width as usize, config.height as usize);
        let mut data = vec![128u8; w * h * 3 / 2];
        for (y, row) in data[..w * h].chunks_exact_mut(w).enumerate() {
            for (x, px) in row.iter_mut().enumerate() {
                *px = ((x + y) * 255 / (w + h)) as u8;
            }
        }
        let side = h / 6;
        let left = (sequence as usize * 4) % (w - side);
        for row in data[..w * h]
            .chunks_exact_mut(w)
            .skip(h / 2 - side / 2)
            .take(side)
        {
            row[left..left + side].fill(235);
        }
        Ok(Frame {
            width: config.width,
            height: config.height,
            format: PixelFormat::I420,
            data: data.into(),
            sequence,
            captured: SystemTime::now(),
        })
    }

    fn set_control(&self, _control: ImageControl, _value: i32) -> HalResult<()> {
        Err(HalError::new(
            HalErrorKind::NotSupported,
            "simulated image controls",
        ))
    }
}

/// Software JPEG encoder.
#[derive(Default)]
pub struct SoftwareJpegEncoder;

impl Encoder for SoftwareJpegEncoder {
    fn encode_jpeg(&self, _frame: &Frame, _quality: u8, _out: &mut Vec<u8>) -> HalResult<()> {
        Err(HalError::new(
            HalErrorKind::NotSupported,
            "software JPEG encoder",
        ))
    }
}
