//! The simulated board's PTZ wiring end to end: the repository's `board/sim.toml` opened as
//! the daemon opens it, with the built-in motor and with `[ptz] port` naming an outside pty.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipcamd_hal::board::BoardSpec;
use ipcamd_hal::ptz::{Direction, Parity, Protocol, PtzCommand, SerialSettings};
use ipcamd_hal::sim::ptz::{HOME, ManualTime, SimMotor};
use ipcamd_hal::{HalErrorKind, sim};

fn sim_board_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../board/sim.toml");
    std::fs::read_to_string(path).unwrap()
}

fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ipcamd-ptz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
#[cfg_attr(
    ipcamd_qemu_user,
    ignore = "qemu-user cannot configure pseudo-terminals"
)]
fn test_sim_board_builtin_motor_moves_and_reports_position() {
    let board = BoardSpec::parse(&sim_board_text()).unwrap();
    let dir = data_dir("builtin");
    let (hal, devices) = sim::open_with_devices(Arc::new(board), &dir).unwrap();
    let ptz = hal.ptz.clone().unwrap();
    let motor = devices.motor.clone().unwrap();
    assert_eq!(ptz.position().unwrap(), HOME);
    ptz.execute(PtzCommand::Move {
        direction: Direction::Right,
        speed: 4,
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ptz.position().unwrap().pan <= HOME.pan && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    ptz.execute(PtzCommand::Stop).unwrap();
    let (stats, done) = motor.wait_for(Duration::from_secs(5), |s| s.frames >= 2);
    assert!(done, "{stats:?}");
    let stopped = ptz.position().unwrap();
    assert!(stopped.pan > HOME.pan, "{stopped:?}");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(ptz.position().unwrap(), stopped);
    drop(hal);
    drop(devices);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg_attr(
    ipcamd_qemu_user,
    ignore = "qemu-user cannot configure pseudo-terminals"
)]
fn test_sim_board_ptz_port_key_drives_outside_pty() {
    // The outside device: a motor of this test's own, on its own pty.
    let time = Arc::new(ManualTime::default());
    let outside = SimMotor::start_with_time(
        SerialSettings {
            protocol: Protocol::PelcoD,
            address: 1,
            baud: 9600,
            data_bits: 8,
            stop_bits: 1,
            parity: Parity::None,
        },
        time.clone(),
    )
    .unwrap();
    let text = sim_board_text().replace(
        "[ptz]\n",
        &format!("[ptz]\nport = \"{}\"\n", outside.port_path().display()),
    );
    let board = BoardSpec::parse(&text).unwrap();
    assert!(board.ptz.as_ref().unwrap().port.is_some());
    let dir = data_dir("port");
    let (hal, devices) = sim::open_with_devices(Arc::new(board), &dir).unwrap();
    assert!(devices.motor.is_none());
    let ptz = hal.ptz.clone().unwrap();
    assert_eq!(
        ptz.position().unwrap_err().kind(),
        HalErrorKind::NotSupported
    );
    ptz.execute(PtzCommand::Move {
        direction: Direction::Down,
        speed: 4,
    })
    .unwrap();
    let (stats, done) = outside.wait_for(Duration::from_secs(5), |s| s.frames >= 1);
    assert!(done, "{stats:?}");
    time.advance(Duration::from_millis(500));
    let at = outside.position();
    assert!((at.tilt - 15.0).abs() < 1e-3, "{at:?}");
    drop(hal);
    std::fs::remove_dir_all(&dir).unwrap();
}
