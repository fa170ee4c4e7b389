//! Motion detection: the guide's 10×10 area grid and weekly schedule as types, the block
//! difference detector that turns luma frames into motion alarms, and the alarm pacing
//! (`triggerInterval`, `snapInterval`) shared with the IO alarm.
//!
//! Everything here is pure: no threads, no clock reads, no I/O. The daemon's capture loop
//! owns a [`Detector`], feeds it the sub stream's luma plane with the time and the camera's
//! local weekday/minute, and acts on the [`MotionEvent`]s it returns.

pub mod detector;
pub mod gate;
pub mod grid;
pub mod luma;
pub mod schedule;

pub use detector::{
    Detector, IR_SWITCH_BLANKING, LumaFrame, MotionConfig, MotionEvent, MotionStatus, Sensitivity,
};
pub use gate::AlarmGate;
pub use grid::{AreaMask, GRID_SIZE, MaskError};
pub use schedule::{LocalTime, Schedule};
