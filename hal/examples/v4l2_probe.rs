//! Hardware check of the V4L2 capture backend on a real device (e.g. vivid's /dev/video0 in
//! the ARM lab): captures frames at two sizes, moves every image control, encodes JPEGs and
//! prints what it saw. Exits non-zero when something the backend promises does not hold.
//!
//! `v4l2_probe [/dev/videoN] [out-dir]` (build with `--features linux`).

#[cfg(all(feature = "linux", target_os = "linux"))]
fn main() -> std::process::ExitCode {
    match probe::run() {
        Ok(()) => {
            println!("v4l2_probe: PASS");
            std::process::ExitCode::SUCCESS
        }
        Err(message) => {
            println!("v4l2_probe: FAIL: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(all(feature = "linux", target_os = "linux")))]
fn main() {
    eprintln!("v4l2_probe needs --features linux on Linux");
}

#[cfg(all(feature = "linux", target_os = "linux"))]
mod probe {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use ipcamd_hal::board::BoardSpec;
    use ipcamd_hal::video::{CaptureConfig, Frame, ImageControl, PixelFormat, VideoSource};
    use ipcamd_hal::{HalErrorKind, linux};

    fn mean_luma(frame: &Frame) -> Option<f64> {
        let luma = frame.luma()?;
        Some(luma.iter().map(|&v| f64::from(v)).sum::<f64>() / luma.len() as f64)
    }

    fn grab(video: &dyn VideoSource, count: usize) -> Result<Frame, String> {
        let mut last = None;
        for _ in 0..count {
            last = Some(
                video
                    .next_frame(Duration::from_secs(5))
                    .map_err(|e| format!("next_frame: {e}"))?,
            );
        }
        last.ok_or_else(|| "no frame".to_string())
    }

    pub fn run() -> Result<(), String> {
        let mut args = std::env::args().skip(1);
        let device = args.next().unwrap_or_else(|| "/dev/video0".into());
        let out_dir = PathBuf::from(args.next().unwrap_or_else(|| "/tmp".into()));
        let board = BoardSpec::parse(&format!(
            "[board]\nname = \"probe\"\nbackend = \"linux\"\n[identity]\nmodel = 1\n\
             model_name = \"P\"\nproduct_name = \"P\"\nhardware_version = \"1\"\n\
             [capabilities]\n[video]\ndevice = \"{device}\"\n"
        ))
        .map_err(|e| e.to_string())?;
        let video = linux::video::open(&board).map_err(|e| format!("open: {e}"))?;
        let encoder = linux::video::encoder(&board).map_err(|e| e.to_string())?;
        let mut jpeg = Vec::new();
        for (width, height, fps) in [(640u32, 480u32, 15u32), (1280, 720, 10)] {
            video
                .configure(CaptureConfig { width, height, fps })
                .map_err(|e| format!("configure: {e}"))?;
            let first = grab(video.as_ref(), 3)?;
            let started = Instant::now();
            let second = grab(video.as_ref(), 5)?;
            let rate = 5.0 / started.elapsed().as_secs_f64();
            println!(
                "capture {}x{} {:?}: {} bytes/frame, {rate:.1} fps, seq {}..{}",
                second.width,
                second.height,
                second.format,
                second.data.len(),
                first.sequence,
                second.sequence
            );
            if (second.width, second.height) != (width, height) {
                return Err(format!(
                    "asked {width}x{height}, got {}x{}",
                    second.width, second.height
                ));
            }
            if second.sequence <= first.sequence {
                return Err("sequence did not advance".into());
            }
            let started = Instant::now();
            encoder
                .encode_jpeg(&second, 85, &mut jpeg)
                .map_err(|e| format!("encode: {e}"))?;
            println!(
                "jpeg {}x{} q85: {} bytes in {:.1} ms",
                width,
                height,
                jpeg.len(),
                started.elapsed().as_secs_f64() * 1000.0
            );
            let path = out_dir.join(format!("probe-{width}x{height}.jpg"));
            std::fs::write(&path, &jpeg).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        // Every control: report support, and check brightness moves the picture.
        for control in [
            ImageControl::Brightness,
            ImageControl::Contrast,
            ImageControl::Hue,
            ImageControl::Saturation,
            ImageControl::Sharpness,
            ImageControl::Mirror,
            ImageControl::Flip,
            ImageControl::PowerLineFrequency,
        ] {
            let value = match control {
                ImageControl::Mirror | ImageControl::Flip | ImageControl::PowerLineFrequency => 1,
                _ => 70,
            };
            match video.set_control(control, value) {
                Ok(()) => println!("control {control:?} = {value}: ok"),
                Err(e) if e.kind() == HalErrorKind::NotSupported => {
                    println!("control {control:?}: not supported ({e})")
                }
                Err(e) => return Err(format!("control {control:?}: {e}")),
            }
        }
        for control in [ImageControl::Mirror, ImageControl::Flip] {
            let _ = video.set_control(control, 0);
        }
        let mut means = Vec::new();
        for value in [0, 100] {
            video
                .set_control(ImageControl::Brightness, value)
                .map_err(|e| format!("brightness {value}: {e}"))?;
            let frame = grab(video.as_ref(), 3)?;
            if frame.format == PixelFormat::Mjpeg {
                println!("device delivers MJPEG: brightness check skipped");
                return Ok(());
            }
            let mean = mean_luma(&frame).ok_or("no luma")?;
            println!("brightness {value}: mean luma {mean:.1}");
            means.push(mean);
        }
        if means[1] <= means[0] + 10.0 {
            return Err(format!(
                "brightness 0 -> 100 moved mean luma only {means:?}"
            ));
        }
        println!("status: {:?}", video.status());
        Ok(())
    }
}
