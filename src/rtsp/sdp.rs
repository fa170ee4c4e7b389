//! The session description a DESCRIBE answers (RFC 4566, RFC 6184 section 8.2.1): one H.264
//! video track with its profile-level-id and sprop-parameter-sets, so a client can set up its
//! decoder before the first key frame arrives.

use std::fmt::Write;
use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ipcamd_hal::video::encoded::H264Config;
use ipcamd_hal::video::h264::profile_level_id;

use super::rtp::PAYLOAD_TYPE;

/// The track's control URL, relative to the Content-Base (`rtsp://host/videoMain/`).
pub const TRACK: &str = "trackID=0";

/// SDP for one stream.
pub fn describe(
    name: &str,
    server: IpAddr,
    session_id: u64,
    config: &H264Config,
    fps: u32,
) -> String {
    let family = if server.is_ipv6() { "IP6" } else { "IP4" };
    let mut sdp = String::with_capacity(512);
    let _ = write!(
        sdp,
        "v=0\r\no=- {session_id} 1 IN {family} {server}\r\ns={name}\r\nc=IN {family} {unspecified}\r\nt=0 0\r\na=control:*\r\na=range:npt=0-\r\n",
        unspecified = if server.is_ipv6() { "::" } else { "0.0.0.0" },
    );
    let _ = write!(
        sdp,
        "m=video 0 RTP/AVP {PAYLOAD_TYPE}\r\na=rtpmap:{PAYLOAD_TYPE} H264/90000\r\na=fmtp:{PAYLOAD_TYPE} packetization-mode=1"
    );
    if let Some([a, b, c]) = profile_level_id(config) {
        let _ = write!(sdp, ";profile-level-id={a:02x}{b:02x}{c:02x}");
    }
    let _ = write!(
        sdp,
        ";sprop-parameter-sets={},{}\r\na=framerate:{fps}\r\na=control:{TRACK}\r\n",
        STANDARD.encode(&config.sps),
        STANDARD.encode(&config.pps),
    );
    sdp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_describe_carries_profile_and_parameter_sets() {
        let config = H264Config {
            sps: vec![0x67, 0x42, 0xc0, 0x1f, 0xaa],
            pps: vec![0x68, 0xce, 0x3c, 0x80],
            width: 640,
            height: 480,
        };
        let sdp = describe("videoMain", [127, 0, 0, 1].into(), 42, &config, 15);
        assert!(sdp.starts_with("v=0\r\no=- 42 1 IN IP4 127.0.0.1\r\n"));
        assert!(sdp.contains("m=video 0 RTP/AVP 96\r\n"));
        assert!(sdp.contains("a=rtpmap:96 H264/90000\r\n"));
        assert!(sdp.contains("profile-level-id=42c01f;"));
        assert!(sdp.contains("sprop-parameter-sets=Z0LAH6o=,aM48gA==\r\n"));
        assert!(sdp.contains("a=control:trackID=0\r\n"));
    }
}
