//! GPIO character-device backend (`/dev/gpiochip*`, gpio-cdev): the board's lines found by
//! name, requested with consumer "ipcamd".
//!
//! - Lookup: a line is found by its name (device-tree `gpio-line-names`) on every chip, or
//!   only on the chip named by `LineSpec.chip`, given as device name (`gpiochip0`), path
//!   (`/dev/gpiochip0`) or label (e.g. `gpio-sim.0-node0`, whose number is not stable). A
//!   name found on two chips is an error: the board file must say which.
//! - Active-low: handled in one place, [`request_flags`], by asking the kernel for
//!   `ACTIVE_LOW`; every value read or written afterwards (levels, edge kinds, the output's
//!   initial value) is logical.
//! - Inputs: requested as line *event* handles on both edges; `wait_change` blocks in
//!   `poll(2)` on the event file descriptor with the caller's timeout and reads one edge
//!   event per call, so no edge is lost and no CPU is burnt.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gpio_cdev::{Chip, EventRequestFlags, LineEventHandle, LineHandle, LineRequestFlags};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::board::LineSpec;
use crate::gpio::{InputLine, OutputLine};
use crate::{HalError, HalErrorKind, HalResult};

/// Consumer label the kernel shows for our lines (`gpioinfo`).
pub const CONSUMER: &str = "ipcamd";

/// Size of the kernel's `struct gpioevent_data { __u64 timestamp; __u32 id; }`, padded to
/// the alignment of u64 (16 on x86_64 and on ARM EABI).
const EVENT_SIZE: usize = {
    let align = std::mem::align_of::<u64>();
    (std::mem::size_of::<u64>() + std::mem::size_of::<u32>()).div_ceil(align) * align
};

/// Offset of `id` in the event.
const EVENT_ID_OFFSET: usize = std::mem::size_of::<u64>();

/// `GPIOEVENT_EVENT_RISING_EDGE`.
const EVENT_RISING_EDGE: u32 = 0x01;

/// `GPIOEVENT_EVENT_FALLING_EDGE`.
const EVENT_FALLING_EDGE: u32 = 0x02;

/// What lookup needs to know about one chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipLines {
    /// Device node.
    pub path: PathBuf,
    /// Kernel device name (`gpiochip0`).
    pub name: String,
    /// Label (driver or product; may be empty).
    pub label: String,
    /// Line names by offset (`None` for unnamed lines).
    pub line_names: Vec<Option<String>>,
}

/// Whether `chip` is the chip `wanted` names (device name, path or label).
fn chip_is(chip: &ChipLines, wanted: &str) -> bool {
    let wanted_name = Path::new(wanted)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(wanted);
    chip.name == wanted_name
        || chip.path == Path::new(wanted)
        || (!chip.label.is_empty() && chip.label == wanted)
}

/// Finds the line of `spec` among `chips`: the index of its chip and its offset.
pub fn find_line(chips: &[ChipLines], spec: &LineSpec) -> HalResult<(usize, u32)> {
    let not_found = |what: String| HalError::new(HalErrorKind::Disconnected, what);
    let mut candidates = chips
        .iter()
        .enumerate()
        .filter(|(_, chip)| {
            spec.chip
                .as_deref()
                .is_none_or(|wanted| chip_is(chip, wanted))
        })
        .peekable();
    if candidates.peek().is_none() {
        return Err(not_found(match &spec.chip {
            Some(chip) => format!("GPIO chip {chip} not found"),
            None => "no GPIO chip found".into(),
        }));
    }
    let mut found: Option<(usize, u32)> = None;
    for (index, chip) in candidates {
        for (offset, name) in chip.line_names.iter().enumerate() {
            if name.as_deref() != Some(spec.line.as_str()) {
                continue;
            }
            let offset = u32::try_from(offset).map_err(|_| {
                HalError::new(HalErrorKind::InvalidArgument, "GPIO line offset overflow")
            })?;
            if let Some((first, _)) = found {
                return Err(HalError::new(
                    HalErrorKind::InvalidArgument,
                    format!(
                        "GPIO line {} is on {} and {}: name the chip in the board file",
                        spec.line, chips[first].name, chip.name
                    ),
                ));
            }
            found = Some((index, offset));
        }
    }
    found.ok_or_else(|| not_found(format!("GPIO line {} not found", spec.line)))
}

/// The request flags of a line: direction, and the one place active-low wiring is handled.
pub fn request_flags(output: bool, active_low: bool) -> LineRequestFlags {
    let direction = if output {
        LineRequestFlags::OUTPUT
    } else {
        LineRequestFlags::INPUT
    };
    if active_low {
        direction | LineRequestFlags::ACTIVE_LOW
    } else {
        direction
    }
}

/// The logical level an edge event reports (both-edge requests report the level after the
/// edge, active-low already applied by the kernel); `None` for an unknown event id.
fn event_level(event: &[u8; EVENT_SIZE]) -> Option<bool> {
    let mut id = [0u8; 4];
    id.copy_from_slice(&event[EVENT_ID_OFFSET..EVENT_ID_OFFSET + 4]);
    match u32::from_ne_bytes(id) {
        EVENT_RISING_EDGE => Some(true),
        EVENT_FALLING_EDGE => Some(false),
        _ => None,
    }
}

/// A poll timeout for `left`, rounded up to whole milliseconds (so a short wait does not
/// become a busy zero-timeout poll) and capped at i32::MAX ms.
fn poll_timeout(left: Duration) -> PollTimeout {
    let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128);
    // In 0..=i32::MAX by the min above.
    PollTimeout::try_from(ms as i32).unwrap_or(PollTimeout::MAX)
}

fn cdev_error(context: String, err: gpio_cdev::Error) -> HalError {
    HalError::new(HalErrorKind::Io, context).with_source(err)
}

/// Every chip under `/dev`, sorted by device name, with its line names.
fn scan_chips() -> HalResult<(Vec<Chip>, Vec<ChipLines>)> {
    let entries = std::fs::read_dir("/dev").map_err(|e| HalError::io("listing /dev", e))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gpiochip"))
        })
        .collect();
    paths.sort();
    let mut chips = Vec::new();
    let mut described = Vec::new();
    for path in paths {
        let chip =
            Chip::new(&path).map_err(|e| cdev_error(format!("opening {}", path.display()), e))?;
        let mut line_names = Vec::new();
        for line in chip.lines() {
            let info = line
                .info()
                .map_err(|e| cdev_error(format!("line info on {}", path.display()), e))?;
            line_names.push(info.name().map(str::to_owned));
        }
        described.push(ChipLines {
            path: path.clone(),
            name: chip.name().to_owned(),
            label: chip.label().to_owned(),
            line_names,
        });
        chips.push(chip);
    }
    Ok((chips, described))
}

/// Finds `spec`'s line on the system.
fn open_line(spec: &LineSpec) -> HalResult<gpio_cdev::Line> {
    let (mut chips, described) = scan_chips()?;
    let (index, offset) = find_line(&described, spec)?;
    chips[index]
        .get_line(offset)
        .map_err(|e| cdev_error(format!("GPIO line {}", spec.line), e))
}

/// An output line held by a line handle.
struct CdevOutput {
    name: String,
    handle: LineHandle,
}

impl OutputLine for CdevOutput {
    fn set(&self, active: bool) -> HalResult<()> {
        self.handle
            .set_value(u8::from(active))
            .map_err(|e| cdev_error(format!("setting GPIO line {}", self.name), e))
    }

    fn get(&self) -> HalResult<bool> {
        self.handle
            .get_value()
            .map(|v| v != 0)
            .map_err(|e| cdev_error(format!("reading GPIO line {}", self.name), e))
    }
}

/// An input line held by a both-edge event handle.
struct CdevInput {
    name: String,
    events: LineEventHandle,
}

impl CdevInput {
    fn events_file(&self) -> &File {
        self.events.file()
    }
}

impl InputLine for CdevInput {
    fn get(&self) -> HalResult<bool> {
        self.events
            .get_value()
            .map(|v| v != 0)
            .map_err(|e| cdev_error(format!("reading GPIO line {}", self.name), e))
    }

    fn wait_change(&self, timeout: Duration) -> HalResult<Option<bool>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut fds = [PollFd::new(self.events.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, poll_timeout(left)) {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(errno) => {
                    return Err(HalError::io(
                        format!("waiting on GPIO line {}", self.name),
                        errno.into(),
                    ));
                }
            }
            let mut event = [0u8; EVENT_SIZE];
            // The descriptor is non-blocking: another waiter may have taken the event.
            match self.events_file().read(&mut event) {
                Ok(EVENT_SIZE) => {
                    if let Some(level) = event_level(&event) {
                        return Ok(Some(level));
                    }
                }
                Ok(_) => {
                    return Err(HalError::new(
                        HalErrorKind::Io,
                        format!("short event read on GPIO line {}", self.name),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(HalError::io(
                        format!("reading events of GPIO line {}", self.name),
                        e,
                    ));
                }
            }
            if left.is_zero() {
                return Ok(None);
            }
        }
    }
}

/// Opens an output line by name, initially inactive.
pub fn open_output(spec: &LineSpec) -> HalResult<Arc<dyn OutputLine>> {
    let line = open_line(spec)?;
    let handle = line
        .request(request_flags(true, spec.active_low), 0, CONSUMER)
        .map_err(|e| cdev_error(format!("requesting GPIO line {} as output", spec.line), e))?;
    Ok(Arc::new(CdevOutput {
        name: spec.line.clone(),
        handle,
    }))
}

/// Opens an input line by name, with edge events on both edges.
pub fn open_input(spec: &LineSpec) -> HalResult<Arc<dyn InputLine>> {
    let line = open_line(spec)?;
    let events = line
        .events(
            request_flags(false, spec.active_low),
            EventRequestFlags::BOTH_EDGES,
            CONSUMER,
        )
        .map_err(|e| cdev_error(format!("requesting GPIO line {} events", spec.line), e))?;
    fcntl(events.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(|errno| {
        HalError::io(
            format!("making GPIO line {} events non-blocking", spec.line),
            errno.into(),
        )
    })?;
    Ok(Arc::new(CdevInput {
        name: spec.line.clone(),
        events,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chip(name: &str, label: &str, lines: &[Option<&str>]) -> ChipLines {
        ChipLines {
            path: Path::new("/dev").join(name),
            name: name.into(),
            label: label.into(),
            line_names: lines.iter().map(|l| l.map(str::to_owned)).collect(),
        }
    }

    fn spec(chip: Option<&str>, line: &str) -> LineSpec {
        LineSpec {
            chip: chip.map(str::to_owned),
            line: line.into(),
            active_low: false,
        }
    }

    fn chips() -> Vec<ChipLines> {
        vec![
            chip(
                "gpiochip0",
                "soc-gpio",
                &[None, Some("ir_led"), Some("reset")],
            ),
            chip(
                "gpiochip1",
                "gpio-sim.0-node0",
                &[Some("alarm_in"), None, Some("reset"), Some("alarm_out")],
            ),
        ]
    }

    #[test]
    fn test_find_line_by_name_across_chips() {
        assert_eq!(find_line(&chips(), &spec(None, "ir_led")).unwrap(), (0, 1));
        assert_eq!(
            find_line(&chips(), &spec(None, "alarm_out")).unwrap(),
            (1, 3)
        );
    }

    #[test]
    fn test_find_line_chip_by_name_path_or_label() {
        for wanted in ["gpiochip1", "/dev/gpiochip1", "gpio-sim.0-node0"] {
            assert_eq!(
                find_line(&chips(), &spec(Some(wanted), "reset")).unwrap(),
                (1, 2),
                "{wanted}"
            );
        }
        assert_eq!(
            find_line(&chips(), &spec(Some("gpiochip0"), "reset")).unwrap(),
            (0, 2)
        );
    }

    #[test]
    fn test_find_line_ambiguous_or_missing_is_error() {
        let err = find_line(&chips(), &spec(None, "reset")).unwrap_err();
        assert_eq!(err.kind(), HalErrorKind::InvalidArgument);
        assert!(err.context().contains("gpiochip0") && err.context().contains("gpiochip1"));
        let err = find_line(&chips(), &spec(None, "buzzer")).unwrap_err();
        assert_eq!(err.kind(), HalErrorKind::Disconnected);
        let err = find_line(&chips(), &spec(Some("gpiochip0"), "alarm_in")).unwrap_err();
        assert!(err.context().contains("alarm_in"));
        let err = find_line(&chips(), &spec(Some("gpiochip7"), "ir_led")).unwrap_err();
        assert!(err.context().contains("gpiochip7"));
        assert!(find_line(&[], &spec(None, "ir_led")).is_err());
    }

    #[test]
    fn test_request_flags_active_low_only_when_wired_so() {
        let bits = |output, active_low| request_flags(output, active_low).bits();
        let (input, output, low) = (
            LineRequestFlags::INPUT.bits(),
            LineRequestFlags::OUTPUT.bits(),
            LineRequestFlags::ACTIVE_LOW.bits(),
        );
        assert_eq!(bits(true, false), output);
        assert_eq!(bits(true, true), output | low);
        assert_eq!(bits(false, false), input);
        assert_eq!(bits(false, true), input | low);
    }

    #[test]
    fn test_event_level_parses_kernel_event_ids() {
        assert_eq!(EVENT_SIZE, 16);
        let mut event = [0u8; EVENT_SIZE];
        event[..8].copy_from_slice(&123_456_789u64.to_ne_bytes());
        event[8..12].copy_from_slice(&EVENT_RISING_EDGE.to_ne_bytes());
        assert_eq!(event_level(&event), Some(true));
        event[8..12].copy_from_slice(&EVENT_FALLING_EDGE.to_ne_bytes());
        assert_eq!(event_level(&event), Some(false));
        event[8..12].copy_from_slice(&7u32.to_ne_bytes());
        assert_eq!(event_level(&event), None);
    }

    #[test]
    fn test_poll_timeout_rounds_up_and_caps() {
        assert_eq!(i32::from(poll_timeout(Duration::ZERO)), 0);
        assert_eq!(i32::from(poll_timeout(Duration::from_micros(1))), 1);
        assert_eq!(i32::from(poll_timeout(Duration::from_millis(1500))), 1500);
        assert_eq!(i32::from(poll_timeout(Duration::MAX)), i32::MAX);
    }
}
