//! Motion detection: the guide's 10×10 area grid and weekly schedule as types, the block
//! difference detector that turns luma frames into motion alarms, and the alarm pacing
//! (`triggerInterval`, `snapInterval`) shared with the IO alarm.
//!
//! Everything here is pure: no threads, no clock reads, no I/O. The daemon's capture loop
//! owns a [`Detector`], feeds it the sub stream's luma plane with the time and the camera's
//! local weekday/minute, and acts on the [`MotionEvent`]s it returns.
//!
//! A crate of its own inside the daemon's source (re-exported as `ipcamd::motion`, layer 0),
//! so the release profile can build its kernels for speed while the daemon is built for size.
//!
//! ```
//! use std::time::Instant;
//! use ipcamd_motion::{Detector, LocalTime, LumaFrame, MotionConfig, Sensitivity};
//!
//! let mut detector = Detector::new(MotionConfig {
//!     enabled: true,
//!     sensitivity: Sensitivity::from_guide(1).expect("0..=4"),
//!     ..MotionConfig::default()
//! });
//! // Per captured sub-stream frame (5-8 per second), with the camera's local time:
//! let luma = vec![128u8; 320 * 240];
//! let frame = LumaFrame::new(&luma, 320, 240, 320).expect("frame geometry");
//! let local = LocalTime::from_local_epoch_seconds(1_704_112_496);
//! let now = Instant::now();
//! if let Some(event) = detector.feed(&frame, now, local) {
//!     // Log it, run the linkage with event.cells / event.level.
//!     println!("motion in\n{}", event.cells);
//! }
//! if detector.snap_due(now) {
//!     // Snap linkage: one picture (at most one per snapInterval while the alarm lasts).
//! }
//! let motion_detect_alarm = detector.status(now).guide_value(); // getDevState
//! assert_eq!(motion_detect_alarm, 1);
//! ```

// `deny`, not `forbid`: the SIMD kernels (`simd`) allow it for themselves.
#![deny(unsafe_code)]

pub mod detector;
pub mod dispatch;
pub mod gate;
pub mod grid;
pub mod kernel;
pub mod luma;
pub mod schedule;
mod simd;

pub use detector::{
    Detector, IR_SWITCH_BLANKING, LumaFrame, MotionConfig, MotionEvent, MotionStatus, Sensitivity,
};
pub use dispatch::Kernel;
pub use gate::AlarmGate;
pub use grid::{AreaMask, GRID_SIZE, MaskError};
pub use schedule::{LocalTime, Schedule};
