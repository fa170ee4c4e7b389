//! Every stored settings section, one typed struct each, with its factory values (from the
//! board file where the board decides). Field names are Rust's; the string beside each is the
//! store key, which is the guide's wire name, so CGI handlers map parameters to fields by it.
//! A section lists every field that any of its guide commands reads or writes (a test checks
//! this against the command catalogue).

use ipcamd_hal::ptz::{Parity, Protocol};

use crate::section;

/// A weekly schedule row with every half hour set (the guide's `scheduleN` bitmap).
pub const WHOLE_DAY: i64 = (1 << 48) - 1;
/// The 10×10 motion grid's row with every cell set.
pub const WHOLE_ROW: i64 = (1 << 10) - 1;

/// Resolution codes of the stock firmware: index -> (width, height).
pub const RESOLUTIONS: &[(u32, u32)] =
    &[(1280, 720), (640, 480), (640, 360), (320, 240), (320, 180)];

/// Stream types per stream (setVideoStreamParam's `streamType`).
pub const STREAM_TYPES: usize = 4;

/// `wanted`, or the first (largest) resolution code after it that the board's sensor fits.
pub fn fitting_resolution(board: &ipcamd_hal::board::BoardSpec, wanted: i64) -> i64 {
    let video = &board.video;
    RESOLUTIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(wanted).unwrap_or(0))
        .find(|(_, (w, h))| *w <= video.max_width && *h <= video.max_height)
        .map_or(wanted, |(i, _)| i as i64)
}

fn rs485_default(board: &ipcamd_hal::board::BoardSpec, key: &str) -> i64 {
    let Some(ptz) = &board.ptz else { return 0 };
    match key {
        "rs485Protocol" => i64::from(ptz.protocol == Protocol::PelcoP),
        "rs485Addr" => i64::from(ptz.address),
        "rs485Baud" => i64::from(ptz.baud),
        "rs485DataBit" => i64::from(ptz.data_bits),
        "rs485StopBit" => i64::from(ptz.stop_bits),
        _ => match ptz.parity {
            Parity::None => 0,
            Parity::Odd => 1,
            Parity::Even => 2,
        },
    }
}

section! {
    /// getImageSetting and the five picture setters.
    pub struct Image("image", board) {
        /// 0..100.
        brightness: i64 = "brightness", 50;
        /// 0..100.
        contrast: i64 = "contrast", 50;
        /// 0..100.
        hue: i64 = "hue", 50;
        /// 0..100.
        saturation: i64 = "saturation", 50;
        /// 0..100.
        sharpness: i64 = "sharpness", 50;
        /// Reported only.
        denoise_level: i64 = "denoiseLevel", 0;
    }
}

section! {
    /// mirrorVideo, flipVideo.
    pub struct MirrorFlip("mirror_flip", board) {
        /// Mirror the picture.
        mirror: bool = "isMirror", false;
        /// Flip the picture.
        flip: bool = "isFlip", false;
    }
}

section! {
    /// setRatio.
    pub struct Ratio("ratio", board) {
        /// The guide's ratio code.
        ratio: i64 = "ratio", 430;
    }
}

section! {
    /// setH264FrmRefMode.
    pub struct H264FrameRef("h264_frame_ref", board) {
        /// 0 normal, 1 jump.
        mode: i64 = "mode", 0;
    }
}

section! {
    /// setScheduleRecordStreamChn.
    pub struct RecordStream("record_stream", board) {
        /// 0 main, 1 sub.
        chn: i64 = "chn", 0;
    }
}

section! {
    /// setPwrFreq.
    pub struct PowerFrequency("power_frequency", board) {
        /// 0: 60 Hz, 1: 50 Hz.
        freq: i64 = "freq", i64::from(board.defaults.mains_hz == 50);
    }
}

section! {
    /// setMainVideoStreamType.
    pub struct MainStreamType("main_stream_type", board) {
        /// Which of the four stream types the main stream uses.
        stream_type: i64 = "streamType", 0;
    }
}

section! {
    /// getSubVideoStreamType.
    pub struct SubStreamType("sub_stream_type", board) {
        /// Which of the four stream types the sub stream uses.
        stream_type: i64 = "streamType", 0;
    }
}

section! {
    /// setSubStreamFormat.
    pub struct SubStreamFormat("sub_stream_format", board) {
        /// 0 H.264, 1 MJPEG.
        format: i64 = "format", 1;
    }
}

section! {
    /// The four stream types of the main stream (setVideoStreamParam).
    pub struct MainStream("main_stream", board) {
        /// Resolution code per stream type.
        resolution: [i64; 4] = "resolution#",
            [fitting_resolution(board, i64::from(board.defaults.main_resolution)); 4];
        /// Bits per second.
        bit_rate: [i64; 4] = "bitRate#", std::array::from_fn(|t| 2_097_152 >> t);
        /// Frames per second.
        frame_rate: [i64; 4] = "frameRate#", std::array::from_fn(|t| 30 - 5 * t as i64);
        /// Key frame interval.
        gop: [i64; 4] = "GOP#", std::array::from_fn(|t| 30 - 5 * t as i64);
        /// Variable bit rate.
        vbr: [i64; 4] = "isVBR#", [0; 4];
    }
}

section! {
    /// The four stream types of the sub stream (setSubVideoStreamParam).
    pub struct SubStream("sub_stream", board) {
        /// Resolution code per stream type.
        resolution: [i64; 4] = "resolution#", [fitting_resolution(board, 1); 4];
        /// Bits per second.
        bit_rate: [i64; 4] = "bitRate#", std::array::from_fn(|t| 524_288 >> t);
        /// Frames per second.
        frame_rate: [i64; 4] = "frameRate#", [15; 4];
        /// Key frame interval.
        gop: [i64; 4] = "GOP#", [15; 4];
        /// Variable bit rate.
        vbr: [i64; 4] = "isVBR#", [0; 4];
    }
}

section! {
    /// setOSDSetting, setOSDMask.
    pub struct Osd("osd", board) {
        /// Burn in the time.
        timestamp: bool = "isEnableTimeStamp", true;
        /// Burn in the device name.
        dev_name: bool = "isEnableDevName", true;
        /// Position code (reported only).
        disp_pos: i64 = "dispPos", 0;
        /// Black out the privacy masks.
        mask: bool = "isEnableOSDMask", false;
    }
}

section! {
    /// setOsdMaskArea: four masks in a 10000×10000 space over the picture.
    pub struct OsdMaskArea("osd_mask_area", board) {
        /// Left edges.
        x1: [i64; 4] = "x1_#", [0; 4];
        /// Top edges.
        y1: [i64; 4] = "y1_#", [0; 4];
        /// Right edges.
        x2: [i64; 4] = "x2_#", [0; 4];
        /// Bottom edges.
        y2: [i64; 4] = "y2_#", [0; 4];
    }
}

section! {
    /// setMotionDetectConfig.
    pub struct Motion("motion", board) {
        /// Detection on.
        enabled: bool = "isEnable", false;
        /// Linkage bits.
        linkage: i64 = "linkage", 0;
        /// Seconds between snapshots of a lasting alarm.
        snap_interval: i64 = "snapInterval", 2;
        /// The guide's sensitivity code.
        sensitivity: i64 = "sensitivity", 1;
        /// Seconds before a new alarm may start.
        trigger_interval: i64 = "triggerInterval", 10;
        /// Half-hour bitmaps, Monday first.
        schedule: [i64; 7] = "schedule#", [WHOLE_DAY; 7];
        /// Grid rows.
        area: [i64; 10] = "area#", [WHOLE_ROW; 10];
    }
}

section! {
    /// setLocalAlarmRecordConfig.
    pub struct LocalAlarmRecord("local_alarm_record", board) {
        /// Record locally on alarm.
        enabled: bool = "isEnableLocalAlarmRecord", false;
        /// Seconds.
        secs: i64 = "localAlarmRecordSecs", 30;
    }
}

section! {
    /// setSnapConfig.
    pub struct Snap("snap", board) {
        /// 0 low, 1 normal, 2 high.
        quality: i64 = "snapPicQuality", 2;
        /// 0 SD card, 2 FTP.
        save_location: i64 = "saveLocation", 0;
    }
}

section! {
    /// setScheduleSnapConfig.
    pub struct ScheduleSnap("schedule_snap", board) {
        /// On.
        enabled: bool = "isEnable", false;
        /// Seconds.
        snap_interval: i64 = "snapInterval", 60;
        /// Half-hour bitmaps.
        schedule: [i64; 7] = "schedule#", [WHOLE_DAY; 7];
    }
}

section! {
    /// setAlarmRecordConfig.
    pub struct AlarmRecord("alarm_record", board) {
        /// Keep the seconds before an alarm.
        pre_record: bool = "isEnablePreRecord", false;
        /// Seconds before.
        pre_record_secs: i64 = "preRecordSecs", 5;
        /// Seconds after.
        alarm_record_secs: i64 = "alarmRecordSecs", 30;
    }
}

section! {
    /// setScheduleRecordConfig.
    pub struct ScheduleRecord("schedule_record", board) {
        /// On.
        enabled: bool = "isEnable", false;
        /// Quality level.
        record_level: i64 = "recordLevel", 4;
        /// 0 overwrite, 1 stop.
        space_full_mode: i64 = "spaceFullMode", 0;
        /// Record sound.
        audio: bool = "isEnableAudio", false;
        /// Half-hour bitmaps.
        schedule: [i64; 7] = "schedule#", [WHOLE_DAY; 7];
    }
}

section! {
    /// setIOAlarmConfig.
    pub struct IoAlarm("io_alarm", board) {
        /// On.
        enabled: bool = "isEnable", false;
        /// Linkage bits.
        linkage: i64 = "linkage", 0;
        /// 0: the alarm is the line's low level, 1: its high level.
        alarm_level: i64 = "alarmLevel", 0;
        /// Seconds between snapshots of a lasting alarm.
        snap_interval: i64 = "snapInterval", 2;
        /// Seconds before a new alarm may start.
        trigger_interval: i64 = "triggerInterval", 10;
        /// Half-hour bitmaps.
        schedule: [i64; 7] = "schedule#", [WHOLE_DAY; 7];
    }
}

section! {
    /// setPCAudioAlarmCfg.
    pub struct PcAudioAlarm("pc_audio_alarm", board) {
        /// Web clients sound an alarm.
        enabled: bool = "isEnablePCAudioAlarm", false;
    }
}

section! {
    /// setPTZSpeed.
    pub struct PtzSpeed("ptz_speed", board) {
        /// 0 fastest .. 4 slowest.
        speed: i64 = "speed", 2;
    }
}

section! {
    /// setCruiseTime.
    pub struct CruiseTime("cruise_time", board) {
        /// Seconds.
        time: i64 = "time", 60;
    }
}

section! {
    /// setCruiseTimeCustomed.
    pub struct CruiseTimeCustomed("cruise_time_customed", board) {
        /// Seconds.
        time: i64 = "time", 60;
        /// Use the custom time.
        customed: bool = "customed", false;
    }
}

section! {
    /// setCruiseLoopCnt.
    pub struct CruiseLoop("cruise_loop", board) {
        /// Loops.
        count: i64 = "count", 1;
    }
}

section! {
    /// setCruiseCtrlMode.
    pub struct CruiseMode("cruise_mode", board) {
        /// 0 by time, 1 by loops.
        mode: i64 = "mode", 0;
    }
}

section! {
    /// setZoomSpeed.
    pub struct ZoomSpeed("zoom_speed", board) {
        /// 0 slow .. 2 fast.
        speed: i64 = "speed", 1;
    }
}

section! {
    /// setPTZSelfTestMode and setPTZPrePointForSelfTest.
    pub struct PtzSelfTest("ptz_selftest", board) {
        /// 0 none, 1 normal, 2 then go to the preset.
        mode: i64 = "mode", 0;
        /// The preset of mode 2.
        name: String = "name", String::new();
    }
}

section! {
    /// set485Info: the motor controller's line (factory values from the board's `[ptz]`).
    pub struct Rs485("rs485", board) {
        /// 0 Pelco-D, 1 Pelco-P.
        protocol: i64 = "rs485Protocol", rs485_default(board, "rs485Protocol");
        /// Controller address.
        address: i64 = "rs485Addr", rs485_default(board, "rs485Addr");
        /// Baud rate.
        baud: i64 = "rs485Baud", rs485_default(board, "rs485Baud");
        /// Data bits.
        data_bits: i64 = "rs485DataBit", rs485_default(board, "rs485DataBit");
        /// Stop bits.
        stop_bits: i64 = "rs485StopBit", rs485_default(board, "rs485StopBit");
        /// 0 none, 1 odd, 2 even.
        check: i64 = "rs485Check", rs485_default(board, "rs485Check");
    }
}

section! {
    /// setIpInfo.
    pub struct Ip("ip", board) {
        /// DHCP on.
        dhcp: bool = "isDHCP", true;
        /// Static address.
        ip: String = "ip", "0.0.0.0".into();
        /// Gateway.
        gate: String = "gate", "0.0.0.0".into();
        /// Net mask.
        mask: String = "mask", "255.255.255.0".into();
        /// First DNS server.
        dns1: String = "dns1", "0.0.0.0".into();
        /// Second DNS server.
        dns2: String = "dns2", "0.0.0.0".into();
    }
}

section! {
    /// setWifiSetting.
    pub struct Wifi("wifi", board) {
        /// On.
        enabled: bool = "isEnable", false;
        /// Use Wi-Fi rather than the cable.
        use_wifi: bool = "isUseWifi", false;
        /// Reported: connected.
        connected: bool = "isConnected", false;
        /// Reported: the access point.
        connected_ap: String = "connectedAp", String::new();
        /// Network name.
        ssid: String = "ssid", String::new();
        /// Encryption code.
        encrypt_type: i64 = "encryptType", 0;
        /// WPA key.
        psk: String = "psk", String::new();
        /// WEP authentication.
        auth_mode: i64 = "authMode", 0;
        /// WEP key format.
        key_format: i64 = "keyFormat", 0;
        /// WEP key in use.
        default_key: i64 = "defaultKey", 1;
        /// WEP keys.
        key: [String; 4] = "key@", Default::default();
        /// WEP key lengths.
        key_len: [i64; 4] = "key@Len", [64; 4];
        /// Infrastructure or ad hoc.
        net_type: i64 = "netType", 0;
    }
}

section! {
    /// setPortInfo (factory ports from the board file).
    pub struct Ports("ports", board) {
        /// HTTP.
        web_port: i64 = "webPort", i64::from(board.defaults.web_port);
        /// HTTPS.
        https_port: i64 = "httpsPort", i64::from(board.defaults.https_port);
        /// Media (the guide's default shares the web port).
        media_port: i64 = "mediaPort", i64::from(board.defaults.media_port);
        /// ONVIF.
        onvif_port: i64 = "onvifPort", i64::from(board.defaults.onvif_port);
    }
}

section! {
    /// setUPnPConfig.
    pub struct Upnp("upnp", board) {
        /// On.
        enabled: bool = "isEnable", false;
    }
}

section! {
    /// setDDNSConfig.
    pub struct Ddns("ddns", board) {
        /// On.
        enabled: bool = "isEnable", false;
        /// Host name to keep updated.
        host_name: String = "hostName", String::new();
        /// Provider code.
        server: i64 = "ddnsServer", 0;
        /// Provider account.
        user: String = "user", String::new();
        /// Provider password.
        password: String = "password", String::new();
        /// The factory DDNS name (from the board's P2P UID).
        factory_ddns: String = "factoryDDNS", board
            .identity
            .p2p_uid
            .as_deref()
            .map(|uid| format!("{}.myfoscam.org", uid.to_ascii_lowercase()))
            .unwrap_or_default();
    }
}

section! {
    /// setFtpConfig.
    pub struct Ftp("ftp", board) {
        /// `ftp://host[:port]/dir/`.
        address: String = "ftpAddr", String::new();
        /// Port when the address names none.
        port: i64 = "ftpPort", 21;
        /// 0 passive, 1 active.
        mode: i64 = "mode", 0;
        /// Login.
        user: String = "userName", String::new();
        /// Password.
        password: String = "password", String::new();
    }
}

section! {
    /// setSMTPConfig.
    pub struct Smtp("smtp", board) {
        /// On.
        enabled: bool = "isEnable", false;
        /// Server host.
        server: String = "server", String::new();
        /// Server port.
        port: i64 = "port", 25;
        /// Log in.
        need_auth: bool = "isNeedAuth", false;
        /// 0 none, 1 TLS, 2 STARTTLS.
        tls: i64 = "tls", 0;
        /// Login.
        user: String = "user", String::new();
        /// Password.
        password: String = "password", String::new();
        /// From.
        sender: String = "sender", String::new();
        /// Receivers, comma separated (the guide's spelling).
        receivers: String = "reciever", String::new();
    }
}

section! {
    /// setP2PEnable (factory value: whether the board has P2P).
    pub struct P2p("p2p", board) {
        /// On.
        enabled: bool = "enable", board.capabilities.p2p;
    }
}

section! {
    /// setP2PPort.
    pub struct P2pPort("p2p_port", board) {
        /// UDP port.
        port: i64 = "port", 32100;
    }
}

section! {
    /// setPPPoEConfig.
    pub struct Pppoe("pppoe", board) {
        /// On.
        enabled: bool = "isEnable", false;
        /// Login.
        user: String = "userName", String::new();
        /// Password.
        password: String = "password", String::new();
    }
}

section! {
    /// setInfraLedConfig (factory mode from the board file).
    pub struct InfraLed("infra_led", board) {
        /// 0 auto, 1 manual.
        mode: i64 = "mode", i64::from(board.defaults.ir_mode);
    }
}

section! {
    /// setScheduleInfraLedConfig: three night windows.
    pub struct InfraLedSchedule("infra_led_schedule", board) {
        /// Window starts, hours.
        start_hour: [i64; 3] = "startHour#", [19; 3];
        /// Window starts, minutes.
        start_min: [i64; 3] = "startMin#", [0; 3];
        /// Window ends, hours.
        end_hour: [i64; 3] = "endHour#", [7; 3];
        /// Window ends, minutes.
        end_min: [i64; 3] = "endMin#", [0; 3];
    }
}

section! {
    /// setDevName (factory name from the board file).
    pub struct DevName("dev_name", board) {
        /// The name.
        name: String = "devName", board.defaults.dev_name.clone();
    }
}

section! {
    /// setFirewallConfig.
    pub struct Firewall("firewall", board) {
        /// On.
        enabled: bool = "isEnable", false;
        /// 0 block the list, 1 allow only the list.
        rule: i64 = "rule", 0;
        /// Addresses ("0" unused).
        ip_list: [String; 8] = "ipList#", std::array::from_fn(|_| "0".to_owned());
    }
}

section! {
    /// setSystemTime, plus the manual clock's offset from the system clock (so a manual time
    /// survives a restart).
    pub struct Time("time", board) {
        /// 0 NTP, 1 manual.
        source: i64 = "timeSource", 0;
        /// NTP server.
        ntp_server: String = "ntpServer", String::new();
        /// 0 YYYY-MM-DD, 1 DD/MM/YYYY, 2 MM/DD/YYYY.
        date_format: i64 = "dateFormat", 0;
        /// 0 12-hour, 1 24-hour.
        time_format: i64 = "timeFormat", 0;
        /// Seconds west of UTC (the guide's inverted sign).
        zone: i64 = "timeZone", 0;
        /// Daylight saving on.
        dst: bool = "isDst", false;
        /// DST rule code.
        dst_rule: i64 = "dst", 0;
        /// Seconds the manual clock runs ahead of the system clock.
        manual_offset: i64 = "manualOffset", 0;
    }
}
