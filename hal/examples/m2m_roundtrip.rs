//! Round-trips frames through a V4L2 memory-to-memory encoder with the daemon's own M2M code
//! (the QEMU lab runs it against `vicodec`): opens `/dev/videoN` as the board file would name
//! it, encodes a moving test picture, forces a key frame, changes the GOP on the running
//! encoder, and checks what comes back; then codes single pictures through the JPEG
//! encoder's session (`M2mStill`, which vicodec serves with FWHT instead of JPEG). Prints a
//! summary line for each; exits non-zero on failure.
//!
//! `m2m_roundtrip /dev/video1 [frames]` (feature `linux`).

#[cfg(all(feature = "linux", target_os = "linux"))]
fn main() {
    use std::sync::Arc;
    use std::time::SystemTime;

    use ipcamd_hal::linux::m2m::M2mEncoder;
    use ipcamd_hal::video::h264::{H264Encoder, H264Params};
    use ipcamd_hal::video::{Frame, PixelFormat, convert};

    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "/dev/video1".into());
    let count: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(40);
    // vicodec takes nothing below 640x360 (its MIN_WIDTH/MIN_HEIGHT) and aligns sizes, so the
    // round trip uses VGA, which every encoder takes as it is.
    let (w, h) = (640u32, 480u32);
    let mut params = H264Params {
        width: w,
        height: h,
        fps: 15,
        bitrate: 500_000,
        vbr: false,
        gop: 10,
        temporal_layers: false,
    };
    let fail = |why: String| -> ! {
        println!("m2m FAIL {why}");
        std::process::exit(1);
    };
    let mut encoder = M2mEncoder::open(std::path::Path::new(&path), params)
        .unwrap_or_else(|e| fail(format!("open {path}: {e}")));
    let mut out = Vec::new();
    for n in 0..count {
        if n == count / 2 {
            params.gop = 5;
            encoder
                .reconfigure(params)
                .unwrap_or_else(|e| fail(format!("reconfigure: {e}")));
        }
        let mut data = vec![128u8; convert::i420_len(w as usize, h as usize)];
        for (i, p) in data[..(w * h) as usize].iter_mut().enumerate() {
            *p = ((i as u64 % w as u64) + n * 4) as u8;
        }
        let frame = Frame {
            width: w,
            height: h,
            format: PixelFormat::I420,
            data: Arc::from(data),
            sequence: n,
            captured: SystemTime::now(),
        };
        if let Some(encoded) = encoder
            .encode(&frame, n == 3)
            .unwrap_or_else(|e| fail(format!("encode frame {n}: {e}")))
        {
            out.push(encoded);
        }
    }
    out.extend(
        encoder
            .drain()
            .unwrap_or_else(|e| fail(format!("drain: {e}"))),
    );
    let keys: Vec<u64> = out
        .iter()
        .filter(|f| f.keyframe)
        .map(|f| f.sequence)
        .collect();
    let bytes: usize = out.iter().map(|f| f.data.len()).sum();
    let raw = convert::i420_len(w as usize, h as usize) * out.len();
    let codec = out
        .first()
        .map(|f| format!("{:?}", f.codec))
        .unwrap_or_default();
    println!(
        "m2m {} frames in, {} out, codec {codec}, {bytes} bytes ({:.1}% of raw), key frames at {keys:?}",
        count,
        out.len(),
        100.0 * bytes as f64 / raw.max(1) as f64
    );
    if (out.len() as u64) < count - 1 || keys.first() != Some(&0) || bytes >= raw {
        fail("frames lost, no leading key frame, or nothing compressed".into());
    }
    if keys.len() < out.len() {
        // The device predicts frames: the GOP change must show in the key-frame spacing.
        let second_half: Vec<u64> = keys
            .iter()
            .copied()
            .filter(|&k| k > count / 2 + 1)
            .collect();
        if second_half.windows(2).any(|w| w[1] - w[0] != 5) || second_half.is_empty() {
            fail(format!(
                "the GOP change did not reach the running encoder: {keys:?}"
            ));
        }
    } else {
        // Every frame intra-coded (vicodec codes a block intra when that is cheaper, and may
        // do so for every block): the running device must report the new GOP instead.
        match encoder.gop_on_device() {
            Ok(5) => println!("m2m every frame intra-coded; the device reports the new GOP 5"),
            Ok(gop) => fail(format!(
                "the GOP change did not reach the running encoder: {gop}"
            )),
            Err(err) => fail(format!("reading the GOP back: {err}")),
        }
    }
    drop(encoder);
    match still_pictures(std::path::Path::new(&path), w, h) {
        Ok(line) => println!("{line}"),
        Err(why) => fail(why),
    }
    println!("m2m OK");
}

/// The JPEG encoder's one-picture-in, one-out session on the same device.
#[cfg(all(feature = "linux", target_os = "linux"))]
fn still_pictures(path: &std::path::Path, w: u32, h: u32) -> Result<String, String> {
    use ipcamd_hal::linux::m2m::FOURCC_FWHT;
    use ipcamd_hal::linux::m2m_jpeg::M2mStill;
    use ipcamd_hal::video::convert;

    /// `fwht_cframe_hdr`'s magic numbers (the same bytes in either byte order).
    const FWHT_MAGIC: [u8; 8] = [0x4f, 0x4f, 0x4f, 0x4f, 0xff, 0xff, 0xff, 0xff];
    let mut still = M2mStill::open(path, w, h, &[FOURCC_FWHT])
        .map_err(|e| format!("open the still session: {e}"))?;
    let raw = convert::i420_len(w as usize, h as usize);
    let mut coded = Vec::new();
    let mut sizes = Vec::new();
    for n in 0..5u64 {
        let mut data = vec![128u8; raw];
        for (i, p) in data[..(w * h) as usize].iter_mut().enumerate() {
            *p = (((i as u64 / w as u64) * (n + 1)) % 256) as u8;
        }
        still
            .encode(&data, 85, &mut coded)
            .map_err(|e| format!("still picture {n}: {e}"))?;
        if !coded.starts_with(&FWHT_MAGIC) || coded.len() >= raw {
            return Err(format!(
                "still picture {n}: {} bytes, not a compressed FWHT frame",
                coded.len()
            ));
        }
        sizes.push(coded.len());
    }
    Ok(format!("m2m still: 5 pictures in, 5 out, {sizes:?} bytes"))
}

#[cfg(not(all(feature = "linux", target_os = "linux")))]
fn main() {
    eprintln!("m2m_roundtrip needs the linux feature on Linux");
    std::process::exit(2);
}
