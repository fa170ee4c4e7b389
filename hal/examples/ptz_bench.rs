//! PTZ benchmark: prints the cost of Pelco encoding and parsing, and the round trip of a
//! command from the serial transport through a real pty to the simulated motor.
//!
//! Run: `cargo run --release -p ipcamd-hal --example ptz_bench`

use std::sync::Arc;
use std::time::{Duration, Instant};

use ipcamd_hal::ptz::pelco::{self, Parser};
use ipcamd_hal::ptz::serial::SerialPanTilt;
use ipcamd_hal::ptz::{Direction, PanTilt, Parity, Protocol, PtzCommand, SerialSettings};
use ipcamd_hal::sim::ptz::SimMotor;

const COMMANDS: [PtzCommand; 6] = [
    PtzCommand::Move {
        direction: Direction::UpRight,
        speed: 3,
    },
    PtzCommand::Stop,
    PtzCommand::ZoomIn { speed: 1 },
    PtzCommand::ZoomStop,
    PtzCommand::SetPreset(5),
    PtzCommand::CallPreset(5),
];

fn settings(protocol: Protocol) -> SerialSettings {
    SerialSettings {
        protocol,
        address: 1,
        baud: 9600,
        data_bits: 8,
        stop_bits: 1,
        parity: Parity::None,
    }
}

fn bench_codec(protocol: Protocol) -> Result<(), Box<dyn std::error::Error>> {
    const N: usize = 1_000_000;
    let mut checksum = 0u64;
    let start = Instant::now();
    for i in 0..N {
        let encoded = pelco::encode_command(protocol, 1, COMMANDS[i % COMMANDS.len()])?;
        checksum += u64::from(encoded.as_bytes()[encoded.as_bytes().len() - 1]);
    }
    let encode_ns = start.elapsed().as_nanos() as f64 / N as f64;

    let mut stream = Vec::new();
    for i in 0..N {
        let encoded = pelco::encode_command(protocol, 1, COMMANDS[i % COMMANDS.len()])?;
        stream.extend_from_slice(encoded.as_bytes());
    }
    let mut parser = Parser::new(protocol);
    let mut frames = 0u64;
    let start = Instant::now();
    parser.push_all(&stream, |_| frames += 1);
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{protocol:?}: encode {encode_ns:.1} ns/command (no allocation); parse {:.1} MB/s, \
         {:.1} M frames/s ({frames} frames, checksum {checksum})",
        stream.len() as f64 / elapsed / 1e6,
        frames as f64 / elapsed / 1e6,
    );
    Ok(())
}

fn bench_round_trip() -> Result<(), Box<dyn std::error::Error>> {
    const N: u64 = 2_000;
    let motor = Arc::new(SimMotor::start(settings(Protocol::PelcoD))?);
    let ptz = SerialPanTilt::open(motor.port_path(), settings(Protocol::PelcoD))?;
    let mut latencies = Vec::with_capacity(N as usize);
    for i in 0..N {
        let command = if i % 2 == 0 {
            PtzCommand::Move {
                direction: Direction::Left,
                speed: 4,
            }
        } else {
            PtzCommand::Stop
        };
        let start = Instant::now();
        ptz.execute(command)?;
        let (_, done) = motor.wait_for(Duration::from_secs(5), |s| s.frames > i);
        if !done {
            return Err("the motor did not receive a frame".into());
        }
        latencies.push(start.elapsed());
    }
    latencies.sort();
    let mean = latencies.iter().sum::<Duration>() / N as u32;
    println!(
        "pty round trip (execute -> motor acted), {N} commands: mean {:?}, p50 {:?}, p99 {:?}, \
         max {:?}",
        mean,
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        latencies[latencies.len() - 1],
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    bench_codec(Protocol::PelcoD)?;
    bench_codec(Protocol::PelcoP)?;
    bench_round_trip()?;
    Ok(())
}
