//! RTP for H.264 (RFC 6184 packetization mode 1: single NAL unit packets and FU-A
//! fragments) and the RTCP sender report with its SDES (RFC 3550), written into reused
//! buffers: one frame's packets go out in one write on TCP, one datagram each on UDP.

use std::ops::Range;
use std::time::{Duration, SystemTime};

use ipcamd_hal::video::h264::nal_units;

/// Dynamic RTP payload type of the H.264 track.
pub const PAYLOAD_TYPE: u8 = 96;
/// RTP clock rate of video (RFC 6184).
pub const CLOCK_RATE: u64 = 90_000;
/// Largest RTP packet (header included): fits a 1500-byte Ethernet MTU with IP/UDP headers.
pub const MAX_PACKET: usize = 1400;
const HEADER: usize = 12;
const FU_A: u8 = 28;

/// How packets are framed in the output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Bare packets (UDP: one datagram per range).
    Datagram,
    /// RTSP interleaved: `$`, channel, 16-bit length before each packet (RFC 2326 10.12).
    Interleaved(u8),
}

/// One RTP sender: SSRC, sequence numbers and the counts the sender report needs.
#[derive(Debug, Clone)]
pub struct Packetizer {
    ssrc: u32,
    sequence: u16,
    timestamp_base: u32,
    packets: u32,
    octets: u32,
    last: Option<(u32, SystemTime)>,
}

impl Packetizer {
    /// A sender with the given SSRC, first sequence number and timestamp offset (random per
    /// RFC 3550).
    pub fn new(ssrc: u32, sequence: u16, timestamp_base: u32) -> Packetizer {
        Packetizer {
            ssrc,
            sequence,
            timestamp_base,
            packets: 0,
            octets: 0,
            last: None,
        }
    }

    /// The sequence number the next packet gets.
    pub fn next_sequence(&self) -> u16 {
        self.sequence
    }

    /// The RTP timestamp of a presentation time.
    pub fn timestamp(&self, pts: Duration) -> u32 {
        let ticks = pts.as_micros() as u64 * CLOCK_RATE / 1_000_000;
        self.timestamp_base.wrapping_add(ticks as u32)
    }

    /// Appends the packets of one access unit (Annex-B) to `out` and their byte ranges to
    /// `packets` (both cleared first). The last packet carries the marker bit.
    pub fn packetize(
        &mut self,
        access_unit: &[u8],
        pts: Duration,
        captured: SystemTime,
        framing: Framing,
        out: &mut Vec<u8>,
        packets: &mut Vec<Range<usize>>,
    ) {
        out.clear();
        packets.clear();
        let timestamp = self.timestamp(pts);
        self.last = Some((timestamp, captured));
        let max_payload = MAX_PACKET - HEADER;
        let mut nals = nal_units(access_unit).peekable();
        while let Some(nal) = nals.next() {
            let last_nal = nals.peek().is_none();
            if nal.len() <= max_payload {
                self.push(out, packets, framing, timestamp, last_nal, &[], nal);
                continue;
            }
            let indicator = (nal[0] & 0xe0) | FU_A;
            let kind = nal[0] & 0x1f;
            let body = &nal[1..];
            let chunk = max_payload - 2;
            let count = body.len().div_ceil(chunk);
            for (i, part) in body.chunks(chunk).enumerate() {
                let start = if i == 0 { 0x80 } else { 0 };
                let end = if i + 1 == count { 0x40 } else { 0 };
                let marker = last_nal && i + 1 == count;
                let fu = [indicator, start | end | kind];
                self.push(out, packets, framing, timestamp, marker, &fu, part);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        out: &mut Vec<u8>,
        packets: &mut Vec<Range<usize>>,
        framing: Framing,
        timestamp: u32,
        marker: bool,
        prefix: &[u8],
        payload: &[u8],
    ) {
        let len = HEADER + prefix.len() + payload.len();
        if let Framing::Interleaved(channel) = framing {
            out.extend_from_slice(&[b'$', channel]);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        let start = out.len();
        out.push(0x80);
        out.push(PAYLOAD_TYPE | if marker { 0x80 } else { 0 });
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(prefix);
        out.extend_from_slice(payload);
        packets.push(start..out.len());
        self.sequence = self.sequence.wrapping_add(1);
        self.packets = self.packets.wrapping_add(1);
        self.octets = self
            .octets
            .wrapping_add((prefix.len() + payload.len()) as u32);
    }

    /// An RTCP compound packet (sender report + SDES CNAME) for the last frame sent, mapping
    /// its RTP timestamp to its capture time (wall clock), into `out` (cleared first).
    /// Nothing when no frame was sent yet.
    pub fn sender_report(&self, cname: &str, framing: Framing, out: &mut Vec<u8>) -> bool {
        out.clear();
        let Some((timestamp, captured)) = self.last else {
            return false;
        };
        let since_unix = captured
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        // NTP time: seconds since 1900 and a 32-bit binary fraction.
        let ntp_seconds = since_unix.as_secs() + 2_208_988_800;
        let fraction = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
        let name = &cname.as_bytes()[..cname.len().min(255)];
        // SDES chunk: SSRC, CNAME item (type, length, text), end, padded to 32 bits.
        let sdes_len = (4 + 2 + name.len() + 1).div_ceil(4) * 4;
        let total = 28 + 4 + sdes_len;
        if let Framing::Interleaved(channel) = framing {
            out.extend_from_slice(&[b'$', channel]);
            out.extend_from_slice(&(total as u16).to_be_bytes());
        }
        out.extend_from_slice(&[0x80, 200]);
        out.extend_from_slice(&6u16.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&(ntp_seconds as u32).to_be_bytes());
        out.extend_from_slice(&(fraction as u32).to_be_bytes());
        out.extend_from_slice(&timestamp.to_be_bytes());
        out.extend_from_slice(&self.packets.to_be_bytes());
        out.extend_from_slice(&self.octets.to_be_bytes());
        out.extend_from_slice(&[0x81, 202]);
        out.extend_from_slice(&((sdes_len / 4) as u16).to_be_bytes());
        let chunk_start = out.len();
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&[1, name.len() as u8]);
        out.extend_from_slice(name);
        out.push(0);
        while (out.len() - chunk_start) % 4 != 0 {
            out.push(0);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_small_nals_are_single_packets_and_marker_ends_the_frame() {
        let mut p = Packetizer::new(0x1234_5678, 65535, 1000);
        let au = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 4, 5, 6,
        ];
        let (mut out, mut ranges) = (Vec::new(), Vec::new());
        let pts = Duration::from_millis(100);
        p.packetize(
            &au,
            pts,
            SystemTime::now(),
            Framing::Datagram,
            &mut out,
            &mut ranges,
        );
        assert_eq!(ranges.len(), 3);
        let pkt = |i: usize| &out[ranges[i].clone()];
        assert_eq!(&pkt(0)[12..], &[0x67, 1, 2]);
        assert_eq!(pkt(0)[1], PAYLOAD_TYPE);
        assert_eq!(pkt(2)[1], PAYLOAD_TYPE | 0x80);
        assert_eq!(u16::from_be_bytes([pkt(0)[2], pkt(0)[3]]), 65535);
        assert_eq!(u16::from_be_bytes([pkt(1)[2], pkt(1)[3]]), 0);
        let ts = u32::from_be_bytes(pkt(1)[4..8].try_into().unwrap());
        assert_eq!(ts, 1000 + 9000);
    }

    #[test]
    fn test_large_nal_is_fragmented_as_fu_a_and_reassembles() {
        let mut nal = vec![0x65u8];
        nal.extend((0..5000u32).map(|i| (i % 251) as u8 + 1));
        let mut au = vec![0, 0, 0, 1];
        au.extend_from_slice(&nal);
        let mut p = Packetizer::new(7, 0, 0);
        let (mut out, mut ranges) = (Vec::new(), Vec::new());
        p.packetize(
            &au,
            Duration::ZERO,
            SystemTime::now(),
            Framing::Interleaved(4),
            &mut out,
            &mut ranges,
        );
        assert!(ranges.len() >= 4);
        let mut rebuilt = vec![];
        for (i, r) in ranges.iter().enumerate() {
            let head = &out[r.start - 4..r.start];
            assert_eq!(head[0], b'$');
            assert_eq!(head[1], 4);
            assert_eq!(u16::from_be_bytes([head[2], head[3]]) as usize, r.len());
            assert!(r.len() <= MAX_PACKET);
            let pkt = &out[r.clone()];
            assert_eq!(pkt[12] & 0x1f, FU_A);
            assert_eq!(pkt[12] & 0xe0, 0x60);
            let fu = pkt[13];
            assert_eq!(fu & 0x80 != 0, i == 0);
            assert_eq!(fu & 0x40 != 0, i + 1 == ranges.len());
            assert_eq!(pkt[1] & 0x80 != 0, i + 1 == ranges.len());
            if i == 0 {
                rebuilt.push((pkt[12] & 0xe0) | (fu & 0x1f));
            }
            rebuilt.extend_from_slice(&pkt[14..]);
        }
        assert_eq!(rebuilt, nal);
    }

    #[test]
    fn test_sender_report_maps_rtp_time_to_wall_clock() {
        let mut p = Packetizer::new(9, 0, 0);
        let mut out = Vec::new();
        assert!(!p.sender_report("cam", Framing::Datagram, &mut out));
        let captured = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        let mut ranges = Vec::new();
        let mut buf = Vec::new();
        p.packetize(
            &[0, 0, 1, 0x41, 1],
            Duration::from_secs(1),
            captured,
            Framing::Datagram,
            &mut buf,
            &mut ranges,
        );
        assert!(p.sender_report("cam", Framing::Datagram, &mut out));
        assert_eq!(out[1], 200);
        assert_eq!(
            u32::from_be_bytes(out[8..12].try_into().unwrap()),
            (1_700_000_000u64 + 2_208_988_800) as u32
        );
        let frac = u32::from_be_bytes(out[12..16].try_into().unwrap());
        assert!((frac as i64 - (1u64 << 31) as i64).abs() < 10);
        assert_eq!(u32::from_be_bytes(out[16..20].try_into().unwrap()), 90_000);
        assert_eq!(u32::from_be_bytes(out[20..24].try_into().unwrap()), 1);
        assert_eq!(out.len() % 4, 0);
        assert_eq!(out[29], 202);
    }
}
