//! Digital line roles: IR LED, IR cut, alarm input and output, light sensor.
//!
//! Values are *logical*: `true` means "active" (LED on, alarm raised, dark). Backends handle
//! active-low wiring in one place so no caller ever inverts a level.

use std::time::Duration;

use crate::HalResult;

/// A digital output (IR LED, IR cut filter, alarm relay).
pub trait OutputLine: Send + Sync {
    /// Drives the line to the logical level.
    fn set(&self, active: bool) -> HalResult<()>;
    /// The level last driven.
    fn get(&self) -> HalResult<bool>;
}

/// A digital input (alarm terminal, light sensor).
pub trait InputLine: Send + Sync {
    /// The current logical level.
    fn get(&self) -> HalResult<bool>;
    /// Blocks until the level changes or `timeout` passes; returns the new level, or `None` on
    /// timeout. Backends wait on edge events, never by polling in a busy loop.
    fn wait_change(&self, timeout: Duration) -> HalResult<Option<bool>>;
}
