//! `ipcamd selftest`: exercises every HAL device of a board once and reports per device, one
//! line each (`video: ok (…)`, `ir_led: FAIL: why`, `ptz: absent`), for bring-up of a new
//! board, for the field, and for the hardware-in-the-loop lab (tests/lab/), which runs it in
//! the emulated camera before the daemon starts.
//!
//! What is exercised: the capture device delivers a frame; the encoder turns it into a JPEG
//! that starts and ends with the JPEG markers; each output line is driven active and inactive
//! and read back, then left inactive (the level it is opened at); each input line is read;
//! the motor controller is sent a stop; the recording medium reports its space and takes a
//! small file. Run it while the daemon is stopped: the daemon holds the devices (GPIO lines
//! are exclusive), so they would report FAIL (busy).
//!
//! When the board cannot be opened as a whole, each Linux device is opened on its own so the
//! report still says which one failed.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ipcamd_hal::Hal;
use ipcamd_hal::board::BoardSpec;
use ipcamd_hal::gpio::{InputLine, OutputLine};
use ipcamd_hal::ptz::PtzCommand;
use ipcamd_hal::video::Frame;

/// How long the capture device may take to deliver its first frame (a device starting to
/// stream, a slow emulated CPU).
const FRAME_TIMEOUT: Duration = Duration::from_secs(20);
/// JPEG quality of the test encode.
const JPEG_QUALITY: u8 = 80;
/// Size of the file written to the recording medium.
const STORAGE_PROBE_BYTES: usize = 4096;

/// The result for one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It worked; what was seen.
    Ok(String),
    /// It did not; why.
    Fail(String),
    /// The board has no such device.
    Absent,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReport {
    /// Role name (`video`, `jpeg`, `ir_led`, …, `ptz`, `storage`; `board` when the board file
    /// itself is unusable).
    pub device: &'static str,
    /// What happened.
    pub outcome: Outcome,
}

impl fmt::Display for DeviceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Ok(detail) => write!(f, "{}: ok ({detail})", self.device),
            Outcome::Fail(why) => write!(f, "{}: FAIL: {why}", self.device),
            Outcome::Absent => write!(f, "{}: absent", self.device),
        }
    }
}

fn report(device: &'static str, outcome: Outcome) -> DeviceReport {
    DeviceReport { device, outcome }
}

fn ok_or_fail(result: Result<String, String>) -> Outcome {
    match result {
        Ok(detail) => Outcome::Ok(detail),
        Err(why) => Outcome::Fail(why),
    }
}

/// Runs the self-test of the board file `board_path` (data directory `data_dir`, used by the
/// simulated board) and returns one report per device, in a fixed order.
pub fn run(board_path: &Path, data_dir: &Path) -> Vec<DeviceReport> {
    let board = match BoardSpec::load(board_path) {
        Ok(board) => board,
        Err(err) => return vec![report("board", Outcome::Fail(err.to_string()))],
    };
    if let Err(err) = std::fs::create_dir_all(data_dir) {
        return vec![report(
            "board",
            Outcome::Fail(format!("creating {}: {err}", data_dir.display())),
        )];
    }
    match Hal::open(board.clone(), data_dir) {
        Ok(hal) => exercise(&hal),
        Err(err) => open_each(&board, &err.to_string()),
    }
}

/// Prints the report, one line per device, and a summary; true when nothing failed.
pub fn print(reports: &[DeviceReport], out: &mut impl Write) -> std::io::Result<bool> {
    let mut counts = [0usize; 3];
    for r in reports {
        writeln!(out, "{r}")?;
        let slot = match r.outcome {
            Outcome::Ok(_) => 0,
            Outcome::Fail(_) => 1,
            Outcome::Absent => 2,
        };
        counts[slot] += 1;
    }
    writeln!(
        out,
        "selftest: {} ok, {} FAIL, {} absent",
        counts[0], counts[1], counts[2]
    )?;
    Ok(counts[1] == 0)
}

/// Exercises every role of an opened board.
fn exercise(hal: &Hal) -> Vec<DeviceReport> {
    let mut reports = Vec::with_capacity(9);
    let frame = match &hal.video {
        None => {
            reports.push(report("video", Outcome::Absent));
            None
        }
        Some(video) => match video.next_frame(FRAME_TIMEOUT) {
            Ok(frame) => {
                reports.push(report(
                    "video",
                    Outcome::Ok(format!(
                        "{}x{} {:?} frame #{}",
                        frame.width, frame.height, frame.format, frame.sequence
                    )),
                ));
                Some(frame)
            }
            Err(err) => {
                reports.push(report("video", Outcome::Fail(format!("no frame: {err}"))));
                None
            }
        },
    };
    reports.push(report(
        "jpeg",
        match (&hal.video, frame) {
            (None, _) => Outcome::Absent,
            (Some(_), None) => Outcome::Fail("no frame to encode (see video)".into()),
            (Some(_), Some(frame)) => ok_or_fail(encode(hal, &frame)),
        },
    ));
    reports.push(output("ir_led", hal.ir_led.as_ref()));
    reports.push(output("ir_cut", hal.ir_cut.as_ref()));
    reports.push(input("alarm_in", hal.alarm_in.as_ref()));
    reports.push(output("alarm_out", hal.alarm_out.as_ref()));
    reports.push(input("light_sensor", hal.light_sensor.as_ref()));
    reports.push(report(
        "ptz",
        match &hal.ptz {
            None => Outcome::Absent,
            Some(ptz) => match ptz.execute(PtzCommand::Stop) {
                Ok(()) => Outcome::Ok("stop sent".into()),
                Err(err) => Outcome::Fail(format!("sending stop: {err}")),
            },
        },
    ));
    reports.push(report(
        "storage",
        match &hal.storage {
            None => Outcome::Absent,
            Some(storage) => ok_or_fail(probe_storage(storage.as_ref())),
        },
    ));
    reports
}

fn encode(hal: &Hal, frame: &Frame) -> Result<String, String> {
    let mut jpeg = Vec::new();
    hal.encoder
        .encode_jpeg(frame, JPEG_QUALITY, &mut jpeg)
        .map_err(|e| format!("encoding: {e}"))?;
    if !jpeg.starts_with(&[0xFF, 0xD8]) || !jpeg.ends_with(&[0xFF, 0xD9]) {
        return Err(format!(
            "encoder output ({} bytes) lacks the JPEG SOI/EOI markers",
            jpeg.len()
        ));
    }
    Ok(format!("{} bytes at quality {JPEG_QUALITY}", jpeg.len()))
}

fn output(device: &'static str, line: Option<&Arc<dyn OutputLine>>) -> DeviceReport {
    let Some(line) = line else {
        return report(device, Outcome::Absent);
    };
    let toggle = || -> Result<String, String> {
        for level in [true, false] {
            line.set(level)
                .map_err(|e| format!("driving it {}: {e}", active_name(level)))?;
            let read = line.get().map_err(|e| format!("reading it back: {e}"))?;
            if read != level {
                return Err(format!(
                    "driven {}, read back {}",
                    active_name(level),
                    active_name(read)
                ));
            }
        }
        Ok("driven active and inactive, read back".into())
    };
    report(device, ok_or_fail(toggle()))
}

fn input(device: &'static str, line: Option<&Arc<dyn InputLine>>) -> DeviceReport {
    let Some(line) = line else {
        return report(device, Outcome::Absent);
    };
    report(
        device,
        match line.get() {
            Ok(level) => Outcome::Ok(format!("reads {}", active_name(level))),
            Err(err) => Outcome::Fail(format!("reading: {err}")),
        },
    )
}

fn active_name(level: bool) -> &'static str {
    if level { "active" } else { "inactive" }
}

fn probe_storage(storage: &dyn ipcamd_hal::storage::Storage) -> Result<String, String> {
    let space = storage.space().map_err(|e| format!("space: {e}"))?;
    if space.total == 0 {
        return Err("the medium reports 0 bytes in all".into());
    }
    let probe = storage.root().join(".ipcamd-selftest");
    let write = std::fs::File::create(&probe).and_then(|mut f| {
        f.write_all(&[0x5A; STORAGE_PROBE_BYTES])?;
        f.sync_all()
    });
    let removed = std::fs::remove_file(&probe);
    write.map_err(|e| format!("writing {}: {e}", probe.display()))?;
    removed.map_err(|e| format!("removing {}: {e}", probe.display()))?;
    Ok(format!(
        "{} MiB free of {} MiB, {} bytes written at {}",
        space.free >> 20,
        space.total >> 20,
        STORAGE_PROBE_BYTES,
        storage.root().display()
    ))
}

/// The board did not open as a whole: open each device of a Linux board on its own to say
/// which failed; other backends report the board failure.
fn open_each(board: &BoardSpec, why: &str) -> Vec<DeviceReport> {
    #[cfg(all(feature = "linux", target_os = "linux"))]
    if board.board.backend == ipcamd_hal::board::Backend::Linux {
        return linux_open_each(board);
    }
    let _ = board;
    vec![report(
        "board",
        Outcome::Fail(format!("opening the board: {why}")),
    )]
}

#[cfg(all(feature = "linux", target_os = "linux"))]
fn linux_open_each(board: &BoardSpec) -> Vec<DeviceReport> {
    use ipcamd_hal::linux::{device_tree, gpio, serial_ptz, video};
    let board = Arc::new(board.clone());
    let fail = |device, err: ipcamd_hal::HalError| report(device, Outcome::Fail(err.to_string()));
    let mut hal = Hal {
        board: board.clone(),
        video: None,
        encoder: Arc::new(ipcamd_hal::video::jpeg::SoftwareJpegEncoder),
        h264: None,
        ir_led: None,
        ir_cut: None,
        alarm_in: None,
        alarm_out: None,
        light_sensor: None,
        ptz: None,
        clock: Arc::new(ipcamd_hal::clock::OffsetClock::default()),
        storage: None,
        network: None,
        wifi: None,
        pppoe: None,
        sim: None,
    };
    let mut failures = Vec::new();
    match video::open(&board) {
        Ok(v) => hal.video = Some(v),
        Err(err) => failures.push(fail("video", err)),
    }
    match ipcamd_hal::linux::m2m::h264_factory(&board) {
        Ok(factory) => hal.h264 = factory,
        Err(err) => failures.push(fail("h264_encoder", err)),
    }
    let g = &board.gpio;
    let outputs = [
        ("ir_led", &g.ir_led, &mut hal.ir_led),
        ("ir_cut", &g.ir_cut, &mut hal.ir_cut),
        ("alarm_out", &g.alarm_out, &mut hal.alarm_out),
    ];
    for (device, spec, slot) in outputs {
        if let Some(spec) = spec {
            match gpio::open_output(spec) {
                Ok(line) => *slot = Some(line),
                Err(err) => failures.push(fail(device, err)),
            }
        }
    }
    let inputs = [
        ("alarm_in", &g.alarm_in, &mut hal.alarm_in),
        ("light_sensor", &g.light_sensor, &mut hal.light_sensor),
    ];
    for (device, spec, slot) in inputs {
        if let Some(spec) = spec {
            match gpio::open_input(spec) {
                Ok(line) => *slot = Some(line),
                Err(err) => failures.push(fail(device, err)),
            }
        }
    }
    match serial_ptz::open(&board) {
        Ok(ptz) => hal.ptz = ptz,
        Err(err) => failures.push(fail("ptz", err)),
    }
    if let Some(spec) = &board.storage {
        // The real slot: a card is there only when something is mounted at the path.
        hal.storage = Some(Arc::new(ipcamd_hal::linux::storage::SdCard::new(
            &spec.path,
        )));
    }
    // The devices that opened are exercised; the ones that did not replace their line.
    let mut reports = exercise(&hal);
    // A board file written for another machine: said first (the daemon would not start).
    let tree = std::fs::read(device_tree::COMPATIBLE_PATH).ok();
    if let Err(err) =
        device_tree::check_compatible(board.board.compatible.as_deref(), tree.as_deref())
    {
        reports.insert(0, fail("board", err));
    }
    for failure in failures {
        match reports.iter_mut().find(|r| r.device == failure.device) {
            Some(slot) => *slot = failure,
            None => reports.push(failure),
        }
    }
    if let Some(video) = reports.iter().position(|r| r.device == "video") {
        if matches!(reports[video].outcome, Outcome::Fail(_)) {
            if let Some(jpeg) = reports.iter_mut().find(|r| r.device == "jpeg") {
                jpeg.outcome = Outcome::Fail("no frame to encode (see video)".into());
            }
        }
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim_board_in(dir: &Path) -> std::path::PathBuf {
        // The simulated board with paths that stay inside the test's directory.
        let text = std::fs::read_to_string("board/sim.toml").unwrap();
        let path = dir.join("board.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn outcome<'a>(reports: &'a [DeviceReport], device: &str) -> &'a Outcome {
        &reports.iter().find(|r| r.device == device).unwrap().outcome
    }

    #[test]
    fn test_selftest_sim_board_every_device_ok() {
        let dir = tempfile::tempdir().unwrap();
        let board = sim_board_in(dir.path());
        let reports = run(&board, &dir.path().join("data"));
        let names: Vec<_> = reports.iter().map(|r| r.device).collect();
        assert_eq!(
            names,
            [
                "video",
                "jpeg",
                "ir_led",
                "ir_cut",
                "alarm_in",
                "alarm_out",
                "light_sensor",
                "ptz",
                "storage"
            ]
        );
        // Under qemu-user the simulated motor cannot run (no terminal ioctls): PTZ is absent.
        let ptz_expected = ipcamd_hal::ptz::serial::serial_ports_work();
        for r in &reports {
            if r.device == "ptz" && !ptz_expected {
                continue;
            }
            assert!(matches!(r.outcome, Outcome::Ok(_)), "{r}");
        }
        let mut out = Vec::new();
        assert!(print(&reports, &mut out).unwrap());
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("video: ok ("), "{text}");
        let expected = if ptz_expected {
            "selftest: 9 ok, 0 FAIL, 0 absent\n"
        } else {
            "selftest: 8 ok, 0 FAIL, 1 absent\n"
        };
        assert!(text.ends_with(expected), "{text}");
    }

    #[test]
    fn test_selftest_board_without_ptz_and_storage_reports_absent() {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string("board/sim.toml")
            .unwrap()
            .replace("pan_tilt = true", "pan_tilt = false")
            .replace(
                "[ptz]\nprotocol = \"pelco-d\"\naddress = 1\nbaud = 9600\n",
                "",
            )
            .replace("[storage]\npath = \"sd\"\ncapacity_mb = 512\n", "");
        assert!(!text.contains("[ptz]") && !text.contains("[storage]"));
        let board = dir.path().join("board.toml");
        std::fs::write(&board, text).unwrap();
        let reports = run(&board, &dir.path().join("data"));
        assert_eq!(outcome(&reports, "ptz"), &Outcome::Absent);
        assert_eq!(outcome(&reports, "storage"), &Outcome::Absent);
        assert!(matches!(outcome(&reports, "video"), Outcome::Ok(_)));
        let mut out = Vec::new();
        assert!(
            print(&reports, &mut out).unwrap(),
            "absent is not a failure"
        );
    }

    #[test]
    fn test_selftest_missing_board_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let reports = run(&dir.path().join("nope.toml"), dir.path());
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].device, "board");
        assert!(matches!(&reports[0].outcome, Outcome::Fail(why) if why.contains("nope.toml")));
        let mut out = Vec::new();
        assert!(!print(&reports, &mut out).unwrap());
        assert!(String::from_utf8(out).unwrap().starts_with("board: FAIL: "));
    }

    #[test]
    fn test_selftest_linux_board_with_missing_devices_fails_per_device() {
        // On a host build without the linux feature the backend itself is missing (one board
        // line); with it, /dev/ipcamd-no-such-video cannot open (a video line) and the card
        // slot, a bare directory, holds no card (a storage line).
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string("board/generic-armv7.toml")
            .unwrap()
            .replace("/dev/video0", "/dev/ipcamd-no-such-video")
            .replace("/dev/ttyS1", "/dev/ipcamd-no-such-tty")
            .replace("/mnt/sd", &dir.path().join("sd").display().to_string());
        let board = dir.path().join("board.toml");
        std::fs::write(&board, text).unwrap();
        let reports = run(&board, &dir.path().join("data"));
        let failed: Vec<_> = reports
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
            .map(|r| r.device)
            .collect();
        if cfg!(all(feature = "linux", target_os = "linux")) {
            assert!(
                failed.contains(&"video") && failed.contains(&"ptz"),
                "{reports:?}"
            );
            // A directory with nothing mounted on it is an empty slot, not a card.
            assert!(
                matches!(outcome(&reports, "storage"), Outcome::Fail(why) if why.contains("no SD card")),
                "{reports:?}"
            );
        } else {
            assert_eq!(failed, ["board"], "{reports:?}");
        }
    }

    #[test]
    fn test_report_display_formats_each_outcome() {
        assert_eq!(
            report("video", Outcome::Ok("640x480".into())).to_string(),
            "video: ok (640x480)"
        );
        assert_eq!(
            report("ptz", Outcome::Fail("busy".into())).to_string(),
            "ptz: FAIL: busy"
        );
        assert_eq!(
            report("ir_cut", Outcome::Absent).to_string(),
            "ir_cut: absent"
        );
    }
}
