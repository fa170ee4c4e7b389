//! Fragmented MP4 (ISO/IEC 14496-12 and -15) for one H.264 video track: the init segment
//! (`ftyp` + `moov` with `avcC` and `mvex`), media fragments (`moof` + `mdat`), and the
//! reader the repair pass and the index rebuild use to find the last complete fragment and the
//! footage's duration.
//!
//! Written by hand rather than with a crate: the MP4 crates that write fragments (mp4-atom
//! 0.17, muxide 0.5) need Rust 1.86+ and this project builds with 1.85, and one video track
//! needs only a dozen boxes. Checked with ffprobe in the recorder's tests.
//!
//! Times: the track's timescale is 90 kHz (the RTP clock of H.264). `mvhd`'s creation time
//! holds the segment's UTC start (seconds since 1904), so the index can be rebuilt from the
//! card alone.

/// Track timescale (ticks per second).
pub const TIMESCALE: u32 = 90_000;

/// Handler names of the two streams (`hdlr`), read back by [`scan`].
const HANDLER_MAIN: &[u8] = b"ipcamd main stream\0";
const HANDLER_SUB: &[u8] = b"ipcamd sub stream\0";

/// Seconds from 1904-01-01 (MP4 epoch) to 1970-01-01.
const MP4_EPOCH_OFFSET: u64 = 2_082_844_800;

/// One sample (an access unit in AVCC form: 4-byte big-endian NAL lengths).
#[derive(Debug, Clone)]
pub struct Sample<'a> {
    /// The access unit, length-prefixed.
    pub data: &'a [u8],
    /// Ticks until the next sample.
    pub duration: u32,
    /// An IDR picture.
    pub keyframe: bool,
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a box: size, type, then what `body` writes; the size is patched afterwards.
fn boxed(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    put_u32(out, 0);
    out.extend_from_slice(kind);
    body(out);
    let size = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: version and flags before the body.
fn full_box(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    boxed(out, kind, |out| {
        put_u32(out, (u32::from(version) << 24) | (flags & 0x00FF_FFFF));
        body(out);
    });
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// The init segment: `ftyp` and `moov` describing one AVC track of `width`×`height` with the
/// given SPS and PPS, created at `start_unix` (UTC seconds).
/// `stream` (0 main, 1 sub) is written into the handler name so the index can be rebuilt.
pub fn init_segment(
    sps: &[u8],
    pps: &[u8],
    width: u32,
    height: u32,
    start_unix: i64,
    stream: u8,
) -> Vec<u8> {
    let created = u64::try_from(start_unix).unwrap_or(0) + MP4_EPOCH_OFFSET;
    let mut out = Vec::with_capacity(800 + sps.len() + pps.len());
    boxed(&mut out, b"ftyp", |o| {
        o.extend_from_slice(b"isom");
        put_u32(o, 0x200);
        for brand in [b"isom", b"iso6", b"avc1", b"mp41"] {
            o.extend_from_slice(brand);
        }
    });
    boxed(&mut out, b"moov", |o| {
        full_box(o, b"mvhd", 1, 0, |o| {
            put_u64(o, created);
            put_u64(o, created);
            put_u32(o, 1000);
            put_u64(o, 0);
            put_u32(o, 0x0001_0000);
            put_u16(o, 0x0100);
            o.extend_from_slice(&[0; 10]);
            MATRIX.iter().for_each(|&m| put_u32(o, m));
            o.extend_from_slice(&[0; 24]);
            put_u32(o, 2);
        });
        boxed(o, b"trak", |o| {
            full_box(o, b"tkhd", 0, 3, |o| {
                put_u32(o, 0);
                put_u32(o, 0);
                put_u32(o, 1);
                put_u32(o, 0);
                put_u32(o, 0);
                o.extend_from_slice(&[0; 8]);
                put_u16(o, 0);
                put_u16(o, 0);
                put_u16(o, 0);
                put_u16(o, 0);
                MATRIX.iter().for_each(|&m| put_u32(o, m));
                put_u32(o, width << 16);
                put_u32(o, height << 16);
            });
            boxed(o, b"mdia", |o| {
                full_box(o, b"mdhd", 0, 0, |o| {
                    put_u32(o, 0);
                    put_u32(o, 0);
                    put_u32(o, TIMESCALE);
                    put_u32(o, 0);
                    put_u16(o, 0x55C4); // "und"
                    put_u16(o, 0);
                });
                full_box(o, b"hdlr", 0, 0, |o| {
                    put_u32(o, 0);
                    o.extend_from_slice(b"vide");
                    o.extend_from_slice(&[0; 12]);
                    o.extend_from_slice(if stream == 0 {
                        HANDLER_MAIN
                    } else {
                        HANDLER_SUB
                    });
                });
                boxed(o, b"minf", |o| {
                    full_box(o, b"vmhd", 0, 1, |o| o.extend_from_slice(&[0; 8]));
                    boxed(o, b"dinf", |o| {
                        full_box(o, b"dref", 0, 0, |o| {
                            put_u32(o, 1);
                            full_box(o, b"url ", 0, 1, |_| {});
                        });
                    });
                    boxed(o, b"stbl", |o| {
                        full_box(o, b"stsd", 0, 0, |o| {
                            put_u32(o, 1);
                            avc1(o, sps, pps, width, height);
                        });
                        full_box(o, b"stts", 0, 0, |o| put_u32(o, 0));
                        full_box(o, b"stsc", 0, 0, |o| put_u32(o, 0));
                        full_box(o, b"stsz", 0, 0, |o| {
                            put_u32(o, 0);
                            put_u32(o, 0);
                        });
                        full_box(o, b"stco", 0, 0, |o| put_u32(o, 0));
                    });
                });
            });
        });
        boxed(o, b"mvex", |o| {
            full_box(o, b"trex", 0, 0, |o| {
                put_u32(o, 1);
                put_u32(o, 1);
                put_u32(o, 0);
                put_u32(o, 0);
                put_u32(o, 0);
            });
        });
    });
    out
}

fn avc1(o: &mut Vec<u8>, sps: &[u8], pps: &[u8], width: u32, height: u32) {
    boxed(o, b"avc1", |o| {
        o.extend_from_slice(&[0; 6]);
        put_u16(o, 1);
        o.extend_from_slice(&[0; 16]);
        put_u16(o, u16::try_from(width).unwrap_or(u16::MAX));
        put_u16(o, u16::try_from(height).unwrap_or(u16::MAX));
        put_u32(o, 0x0048_0000);
        put_u32(o, 0x0048_0000);
        put_u32(o, 0);
        put_u16(o, 1);
        let mut name = [0u8; 32];
        let label = b"ipcamd H.264";
        name[0] = label.len() as u8;
        name[1..=label.len()].copy_from_slice(label);
        o.extend_from_slice(&name);
        put_u16(o, 0x0018);
        put_u16(o, 0xFFFF);
        boxed(o, b"avcC", |o| {
            o.push(1);
            o.extend_from_slice(sps.get(1..4).unwrap_or(&[0x42, 0, 0x1F]));
            o.push(0xFF); // 4-byte NAL lengths
            o.push(0xE1); // one SPS
            put_u16(o, u16::try_from(sps.len()).unwrap_or(0));
            o.extend_from_slice(sps);
            o.push(1);
            put_u16(o, u16::try_from(pps.len()).unwrap_or(0));
            o.extend_from_slice(pps);
        });
    });
}

/// Sample flags of a key frame (depends on no other) and of any other frame.
const FLAGS_KEY: u32 = 0x0200_0000;
const FLAGS_DEPENDENT: u32 = 0x0101_0000;

/// One media fragment: `moof` (sequence `sequence`, first sample at `decode_time` ticks) and
/// its `mdat`.
pub fn fragment(sequence: u32, decode_time: u64, samples: &[Sample<'_>]) -> Vec<u8> {
    let payload: usize = samples.iter().map(|s| s.data.len()).sum();
    let mut out = Vec::with_capacity(120 + samples.len() * 12 + payload);
    let mut data_offset_at = 0;
    boxed(&mut out, b"moof", |o| {
        full_box(o, b"mfhd", 0, 0, |o| put_u32(o, sequence));
        boxed(o, b"traf", |o| {
            // default-base-is-moof: data offsets count from the moof's first byte.
            full_box(o, b"tfhd", 0, 0x02_0000, |o| put_u32(o, 1));
            full_box(o, b"tfdt", 1, 0, |o| put_u64(o, decode_time));
            // data-offset, sample duration, size and flags present.
            full_box(o, b"trun", 0, 0x0701, |o| {
                put_u32(o, u32::try_from(samples.len()).unwrap_or(0));
                data_offset_at = o.len();
                put_u32(o, 0);
                for s in samples {
                    put_u32(o, s.duration);
                    put_u32(o, u32::try_from(s.data.len()).unwrap_or(0));
                    put_u32(
                        o,
                        if s.keyframe {
                            FLAGS_KEY
                        } else {
                            FLAGS_DEPENDENT
                        },
                    );
                }
            });
        });
    });
    let data_offset = u32::try_from(out.len() + 8).unwrap_or(0);
    out[data_offset_at..data_offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    let mdat_size = u32::try_from(payload + 8).unwrap_or(u32::MAX);
    put_u32(&mut out, mdat_size);
    out.extend_from_slice(b"mdat");
    for s in samples {
        out.extend_from_slice(s.data);
    }
    out
}

/// What a segment file holds, read from its boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SegmentScan {
    /// Bytes of the file that are complete boxes ending with a whole fragment (or the init
    /// segment when no fragment is whole): a longer file was cut mid-fragment.
    pub valid_len: u64,
    /// Complete fragments.
    pub fragments: u32,
    /// Samples in the complete fragments.
    pub samples: u32,
    /// Footage duration in ticks (decode time of the last fragment plus its durations).
    pub duration_ticks: u64,
    /// UTC start from `mvhd` (unix seconds), when the init segment is whole.
    pub start_unix: Option<i64>,
    /// The stream recorded (0 main, 1 sub), from the handler name.
    pub stream: u8,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Child boxes of `body`: (type, body range).
fn children(body: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let size = be32(body, at)? as usize;
        let kind: [u8; 4] = body.get(at + 4..at + 8)?.try_into().ok()?;
        if size < 8 || at + size > body.len() {
            return None;
        }
        let inner = &body[at + 8..at + size];
        at += size;
        Some((kind, inner))
    })
}

/// Reads the top-level boxes of a segment from `file` (only box headers and the small `moov`
/// and `moof` boxes are read, never the media).
pub fn scan(file: &mut (impl std::io::Read + std::io::Seek)) -> std::io::Result<SegmentScan> {
    use std::io::SeekFrom;
    let len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    let mut scan = SegmentScan::default();
    let mut at = 0u64;
    let mut have_moov = false;
    let mut pending: Option<(u64, u32)> = None; // (decode time end, samples) of a moof awaiting its mdat
    loop {
        let mut head = [0u8; 8];
        if at + 8 > len {
            break;
        }
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut head)?;
        let mut size = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let kind = [head[4], head[5], head[6], head[7]];
        if size == 1 {
            let mut large = [0u8; 8];
            file.read_exact(&mut large)?;
            size = u64::from_be_bytes(large);
        }
        if size < 8 || at + size > len {
            break;
        }
        match &kind {
            b"moov" | b"moof" if size <= 1 << 20 => {
                let mut body = vec![0u8; (size - 8) as usize];
                file.read_exact(&mut body)?;
                if &kind == b"moov" {
                    have_moov = true;
                    scan.start_unix = children(&body)
                        .find(|(k, _)| k == b"mvhd")
                        .and_then(|(_, b)| match b.first() {
                            Some(1) => be64(b, 4),
                            _ => be32(b, 4).map(u64::from),
                        })
                        .and_then(|t| i64::try_from(t.checked_sub(MP4_EPOCH_OFFSET)?).ok());
                    let handler = children(&body)
                        .filter(|(k, _)| k == b"trak")
                        .flat_map(|(_, t)| children(t).filter(|(k, _)| k == b"mdia"))
                        .flat_map(|(_, m)| children(m).filter(|(k, _)| k == b"hdlr"))
                        .map(|(_, h)| h.get(24..).unwrap_or_default().to_vec())
                        .next()
                        .unwrap_or_default();
                    scan.stream = u8::from(handler == HANDLER_SUB);
                    scan.valid_len = at + size;
                } else {
                    pending = parse_moof(&body);
                }
            }
            b"mdat" => {
                if let (true, Some((end, samples))) = (have_moov, pending.take()) {
                    scan.fragments += 1;
                    scan.samples += samples;
                    scan.duration_ticks = end;
                    scan.valid_len = at + size;
                }
            }
            b"ftyp" => {}
            _ => {
                if !have_moov {
                    break;
                }
            }
        }
        at += size;
    }
    if !have_moov {
        scan.valid_len = 0;
    }
    Ok(scan)
}

/// (decode time after the fragment's last sample, sample count) of a `moof` body.
fn parse_moof(body: &[u8]) -> Option<(u64, u32)> {
    let (_, traf) = children(body).find(|(k, _)| k == b"traf")?;
    let mut decode = 0u64;
    let mut total = 0u64;
    let mut count = 0u32;
    for (kind, b) in children(traf) {
        match &kind {
            b"tfdt" => {
                decode = if b.first() == Some(&1) {
                    be64(b, 4)?
                } else {
                    u64::from(be32(b, 4)?)
                }
            }
            b"trun" => {
                let flags = be32(b, 0)? & 0x00FF_FFFF;
                count = be32(b, 4)?;
                let mut at = 8;
                if flags & 0x1 != 0 {
                    at += 4;
                }
                if flags & 0x4 != 0 {
                    at += 4;
                }
                let per = [0x100, 0x200, 0x400, 0x800]
                    .iter()
                    .filter(|f| flags & **f != 0)
                    .count()
                    * 4;
                for i in 0..count as usize {
                    if flags & 0x100 != 0 {
                        total += u64::from(be32(b, at + i * per)?);
                    }
                }
            }
            _ => {}
        }
    }
    Some((decode + total, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_scan_finds_whole_fragments_and_the_cut() {
        let sps = [0x67, 0x42, 0xC0, 0x1F, 0xDA];
        let pps = [0x68, 0xCE, 0x3C, 0x80];
        let mut file = init_segment(&sps, &pps, 320, 240, 1_700_000_000, 1);
        let init_len = file.len() as u64;
        let data = [0, 0, 0, 2, 0x65, 0x88];
        let s = |key| Sample {
            data: &data,
            duration: 3000,
            keyframe: key,
        };
        file.extend(fragment(1, 0, &[s(true), s(false)]));
        let one = file.len() as u64;
        file.extend(fragment(2, 6000, &[s(true), s(false), s(false)]));
        let two = file.len() as u64;
        let whole = scan(&mut std::io::Cursor::new(&file)).unwrap();
        assert_eq!(whole.valid_len, two);
        assert_eq!(whole.fragments, 2);
        assert_eq!(whole.samples, 5);
        assert_eq!(whole.duration_ticks, 15_000);
        assert_eq!(whole.start_unix, Some(1_700_000_000));
        assert_eq!(whole.stream, 1);
        for cut in [two - 1, two - 10, one + 20] {
            let r = scan(&mut std::io::Cursor::new(&file[..cut as usize])).unwrap();
            assert_eq!(
                (r.valid_len, r.fragments, r.samples),
                (one, 1, 2),
                "cut at {cut}"
            );
        }
        let r = scan(&mut std::io::Cursor::new(&file[..init_len as usize + 3])).unwrap();
        assert_eq!((r.valid_len, r.fragments), (init_len, 0));
        let r = scan(&mut std::io::Cursor::new(&file[..40])).unwrap();
        assert_eq!(r.valid_len, 0);
    }
}
