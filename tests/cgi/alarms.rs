//! The alarm input and output, the IR LED, and the alarm linkage through the real daemon: the
//! simulated board's GPIO lines are driven from outside through its control socket, and mail
//! and FTP go to real servers started by the tests (`servers.rs`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::servers::{FtpServer, SmtpSink};
use crate::support::Camera;

/// All 48 half-hours of a day.
const WHOLE_DAY: &str = "281474976710655";

/// The sim board's GPIO control socket, as a person at a terminal would use it.
struct Gpio {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Gpio {
    fn open(cam: &Camera) -> Gpio {
        let stream = UnixStream::connect(cam.data.join("sim-gpio.sock")).expect("control socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Gpio {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    fn command(&mut self, line: &str) -> String {
        writeln!(self.writer, "{line}").unwrap();
        let mut reply = String::new();
        self.reader.read_line(&mut reply).unwrap();
        assert!(reply.starts_with("ok"), "{line}: {reply}");
        reply.trim().to_owned()
    }

    fn set(&mut self, line: &str, level: bool) {
        self.command(&format!("set {line} {}", u8::from(level)));
    }

    fn get(&mut self, line: &str) -> bool {
        let reply = self.command(&format!("get {line}"));
        reply.ends_with(" 1")
    }

    fn history(&mut self, line: &str) -> Vec<bool> {
        let reply = self.command(&format!("history {line}"));
        reply
            .split_whitespace()
            .skip(2)
            .map(|level| level == "1")
            .collect()
    }
}

/// Polls `check` every 100 ms until it holds or `limit` passes; returns whether it held.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn dev_state(cam: &Camera, field: &str) -> String {
    let reply = cam.cgi("getDevState", &[]);
    assert_eq!(reply.result, 0);
    reply.get(field).to_owned()
}

fn io_alarm_log_entries(cam: &Camera) -> usize {
    let reply = cam.cgi("getLog", &[("offset", "0"), ("count", "10")]);
    assert_eq!(reply.result, 0);
    reply
        .fields
        .iter()
        .filter(|(k, v)| k.starts_with("log") && v.ends_with("+5"))
        .count()
}

fn set_io_alarm(cam: &Camera, linkage: &str, schedules: [&str; 7]) {
    let mut params = vec![
        ("isEnable", "1"),
        ("linkage", linkage),
        ("snapInterval", "1"),
        ("alarmLevel", "1"),
        ("triggerInterval", "60"),
    ];
    let names = [
        "schedule0",
        "schedule1",
        "schedule2",
        "schedule3",
        "schedule4",
        "schedule5",
        "schedule6",
    ];
    params.extend(names.iter().copied().zip(schedules));
    let reply = cam.cgi("setIOAlarmConfig", &params);
    assert_eq!(reply.result, 0, "{:?}", reply.fields);
}

#[test]
fn test_io_alarm_input_raised_shows_alarm_logs_and_holds_output_until_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let mut gpio = Gpio::open(&cam);
    set_io_alarm(&cam, "1", [WHOLE_DAY; 7]);
    assert_eq!(dev_state(&cam, "IOAlarm"), "1");
    assert!(!gpio.get("alarm_out"));

    gpio.set("alarm_in", true);
    assert!(
        eventually(Duration::from_secs(10), || dev_state(&cam, "IOAlarm")
            == "2"),
        "IOAlarm never became 2"
    );
    assert_eq!(io_alarm_log_entries(&cam), 1);
    assert!(
        gpio.get("alarm_out"),
        "ring linkage drives the alarm output"
    );

    // The input returns to normal, but the output is held until cleared (at least 5 s).
    gpio.set("alarm_in", false);
    let reply = cam.cgi("clearIOAlarmOutput", &[]);
    assert_eq!(reply.result, 0);
    assert!(
        !gpio.get("alarm_out"),
        "clearIOAlarmOutput releases the output"
    );
    assert_eq!(dev_state(&cam, "IOAlarm"), "1");
    assert_eq!(gpio.history("alarm_out"), vec![true, false]);
}

#[test]
fn test_io_alarm_input_low_active_level_alarms_on_low_without_output_linkage() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let mut gpio = Gpio::open(&cam);
    gpio.set("alarm_in", true);
    // Mail only (disabled SMTP): no output; alarmLevel 0 means the low level is the alarm.
    set_io_alarm(&cam, "2", [WHOLE_DAY; 7]);
    let reply = cam.cgi("setIOAlarmConfig", &[("alarmLevel", "0")]);
    assert_eq!(reply.result, 0);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        dev_state(&cam, "IOAlarm"),
        "1",
        "high is not the alarm level"
    );
    gpio.set("alarm_in", false);
    assert!(eventually(Duration::from_secs(10), || dev_state(
        &cam, "IOAlarm"
    ) == "2"));
    assert!(
        !gpio.get("alarm_out"),
        "linkage without ring leaves the output"
    );
}

#[test]
fn test_io_alarm_outside_schedule_raises_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let mut gpio = Gpio::open(&cam);
    // The camera's time zone is UTC by default; clear today and tomorrow (Monday = 0), so a
    // day boundary during the test changes nothing.
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    let today = ((days + 3) % 7) as usize;
    let mut schedules = [WHOLE_DAY; 7];
    schedules[today] = "0";
    schedules[(today + 1) % 7] = "0";
    set_io_alarm(&cam, "1", schedules);
    gpio.set("alarm_in", true);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(dev_state(&cam, "IOAlarm"), "1");
    assert_eq!(io_alarm_log_entries(&cam), 0);
    assert!(!gpio.get("alarm_out"));
    // The same input inside the schedule alarms at once (settings apply without restart).
    set_io_alarm(&cam, "1", [WHOLE_DAY; 7]);
    assert!(eventually(Duration::from_secs(10), || dev_state(
        &cam, "IOAlarm"
    ) == "2"));
}

#[test]
fn test_ir_auto_mode_light_sensor_dark_turns_led_on_after_dwell_without_flapping() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let mut gpio = Gpio::open(&cam);
    assert_eq!(cam.cgi("getInfraLedConfig", &[]).get("mode"), "0");
    // Boot decision: the sensor reads light, so the LED is off.
    assert!(eventually(Duration::from_secs(5), || !gpio.get("ir_led")));
    assert_eq!(dev_state(&cam, "infraLedState"), "0");
    gpio.set("light_sensor", true);
    // Confirmation (5 s) and the minimum dwell since the boot decision (30 s).
    assert!(
        eventually(Duration::from_secs(60), || dev_state(&cam, "infraLedState")
            == "1"),
        "the LED never came on"
    );
    assert!(gpio.get("ir_cut"), "the IR cut switches with the LED");
    let history = gpio.history("ir_led");
    assert_eq!(
        history.iter().filter(|on| **on).count(),
        1,
        "one switch to night: {history:?}"
    );
    // Auto mode refuses manual switching.
    let reply = cam.cgi("closeInfraLed", &[]);
    assert_eq!(reply.get("ctrlResult"), "-1");
    assert!(gpio.get("ir_led"));
}

#[test]
fn test_ir_reentering_auto_mode_decides_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let mut gpio = Gpio::open(&cam);
    assert_eq!(cam.cgi("setInfraLedConfig", &[("mode", "1")]).result, 0);
    assert_eq!(cam.cgi("closeInfraLed", &[]).get("ctrlResult"), "0");
    gpio.set("light_sensor", true);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!gpio.get("ir_led"), "manual mode ignores the sensor");
    assert_eq!(cam.cgi("setInfraLedConfig", &[("mode", "0")]).result, 0);
    assert!(eventually(Duration::from_secs(5), || gpio.get("ir_led")));
}

#[test]
fn test_ir_manual_mode_open_and_close_switch_led() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let mut gpio = Gpio::open(&cam);
    // No schedule windows, so no window edge interferes with the manual commands.
    let fields: Vec<String> = (0..3)
        .flat_map(|n| ["startHour", "startMin", "endHour", "endMin"].map(|f| format!("{f}{n}")))
        .collect();
    let params: Vec<(&str, &str)> = fields.iter().map(|f| (f.as_str(), "0")).collect();
    assert_eq!(cam.cgi("setScheduleInfraLedConfig", &params).result, 0);
    assert_eq!(cam.cgi("setInfraLedConfig", &[("mode", "1")]).result, 0);
    let reply = cam.cgi("openInfraLed", &[]);
    assert_eq!((reply.result, reply.get("ctrlResult")), (0, "0"));
    assert!(gpio.get("ir_led"));
    assert_eq!(dev_state(&cam, "infraLedState"), "1");
    let reply = cam.cgi("closeInfraLed", &[]);
    assert_eq!((reply.result, reply.get("ctrlResult")), (0, "0"));
    assert!(!gpio.get("ir_led"));
    assert_eq!(dev_state(&cam, "infraLedState"), "0");
}

#[test]
fn test_smtp_test_sends_real_mail_with_given_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let cam = Camera::start(dir.path());
    let sink = SmtpSink::start();
    let port = sink.port.to_string();
    let reply = cam.cgi(
        "setSMTPConfig",
        &[("reciever", "ops@example.com,night@example.org")],
    );
    assert_eq!(reply.result, 0);
    let reply = cam.cgi(
        "smtpTest",
        &[
            ("smtpServer", "127.0.0.1"),
            ("port", &port),
            ("isNeedAuth", "1"),
            ("tls", "0"),
            ("user", "cam-user"),
            ("password", "s3cret"),
            ("sender", "camera@example.com"),
        ],
    );
    assert_eq!(reply.result, 0);
    assert_eq!(reply.get("testResult"), "0");
    let mail = sink
        .mails
        .recv_timeout(Duration::from_secs(10))
        .expect("the test mail arrived");
    assert_eq!(mail.from, "camera@example.com");
    assert_eq!(
        mail.recipients,
        vec!["ops@example.com", "night@example.org"]
    );
    assert_eq!(mail.auth_user.as_deref(), Some("cam-user"));
    assert_eq!(mail.auth_password.as_deref(), Some("s3cret"));
    assert!(mail.data.contains("Subject:"), "{}", mail.data);
    // The password never reaches the log.
    let logged: Vec<String> = cam.log.try_iter().collect();
    assert!(logged.iter().all(|l| !l.contains("s3cret")), "{logged:?}");

    // A server that is not there fails the test.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let reply = cam.cgi(
        "smtpTest",
        &[
            ("smtpServer", "127.0.0.1"),
            ("port", &closed_port),
            ("isNeedAuth", "0"),
            ("tls", "0"),
            ("user", ""),
            ("password", ""),
            ("sender", "camera@example.com"),
        ],
    );
    assert_eq!(reply.get("testResult"), "-1");
}

#[test]
fn test_test_ftp_server_logs_in_and_checks_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("cams")).unwrap();
    let server = FtpServer::start(root.path(), "uploader", "pw-ftp");
    let cam = Camera::start(dir.path());
    let address = format!("ftp://127.0.0.1:{}/cams", server.port);
    let run = |address: &str, password: &str, mode: &str| {
        cam.cgi(
            "testFtpServer",
            &[
                ("ftpAddr", address),
                ("ftpPort", "21"),
                ("mode", mode),
                ("userName", "uploader"),
                ("password", password),
            ],
        )
    };
    let reply = run(&address, "pw-ftp", "0");
    assert_eq!((reply.result, reply.get("testResult")), (0, "0"));
    assert_eq!(run(&address, "wrong", "0").get("testResult"), "-1");
    let missing = format!("ftp://127.0.0.1:{}/nope", server.port);
    assert_eq!(run(&missing, "pw-ftp", "0").get("testResult"), "-1");
    assert_eq!(run(&address, "pw-ftp", "1").result, -4, "PORT mode");
}

#[test]
fn test_io_alarm_mail_and_ftp_snap_linkage_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("snaps")).unwrap();
    let ftp = FtpServer::start(root.path(), "cam", "ftp-pw");
    let sink = SmtpSink::start();
    let cam = Camera::start(dir.path());
    let mut gpio = Gpio::open(&cam);
    let smtp_port = sink.port.to_string();
    let reply = cam.cgi(
        "setSMTPConfig",
        &[
            ("isEnable", "1"),
            ("server", "127.0.0.1"),
            ("port", &smtp_port),
            ("tls", "0"),
            ("isNeedAuth", "0"),
            ("sender", "camera@example.com"),
            ("reciever", "ops@example.com"),
        ],
    );
    assert_eq!(reply.result, 0);
    let ftp_address = "ftp://127.0.0.1/snaps".to_owned();
    let ftp_port = ftp.port.to_string();
    let reply = cam.cgi(
        "setFtpConfig",
        &[
            ("ftpAddr", &ftp_address),
            ("ftpPort", &ftp_port),
            ("mode", "0"),
            ("userName", "cam"),
            ("password", "ftp-pw"),
        ],
    );
    assert_eq!(reply.result, 0);
    let reply = cam.cgi(
        "setSnapConfig",
        &[("snapPicQuality", "2"), ("saveLocation", "2")],
    );
    assert_eq!(reply.result, 0);
    set_io_alarm(&cam, "6", [WHOLE_DAY; 7]);
    // Whether this build has pictures at all decides what the alarm can attach and upload.
    let (_, content_type, _) =
        cam.get_raw("/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2&usr=admin&pwd=");
    let has_pictures = content_type.starts_with("image/jpeg");

    gpio.set("alarm_in", true);
    let mail = sink
        .mails
        .recv_timeout(Duration::from_secs(30))
        .expect("the alarm mail arrived");
    assert_eq!(mail.recipients, vec!["ops@example.com"]);
    assert!(mail.data.contains("IO alarm"), "{}", mail.data);
    assert!(
        !gpio.get("alarm_out"),
        "mail+snap linkage leaves the output"
    );
    if has_pictures {
        assert!(mail.data.contains("image/jpeg"), "snapshot attached");
        let upload = ftp
            .uploads
            .recv_timeout(Duration::from_secs(30))
            .expect("the snapshot was uploaded");
        assert!(upload.path.starts_with("snaps/IO"), "{}", upload.path);
        assert!(upload.path.ends_with(".jpg"));
        assert_eq!(&upload.data[..2], &[0xFF, 0xD8], "a JPEG");
        assert!(root.path().join(&upload.path).is_file());
    } else {
        assert!(
            mail.data.contains("No picture was available"),
            "{}",
            mail.data
        );
    }
}

/// Decodes a JPEG with a real decoder; returns its dimensions.
fn decode_jpeg(jpeg: &[u8]) -> (usize, usize) {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let mut decoder =
        zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(jpeg), DecoderOptions::default());
    decoder.decode().expect("the snapshot decodes");
    decoder.dimensions().expect("dimensions")
}

/// The base64 body of the first `image/jpeg` part of a MIME message.
fn jpeg_attachment(message: &str) -> Vec<u8> {
    let at = message.find("image/jpeg").expect("a JPEG part");
    let part = &message[at..];
    let body_start = part.find("\r\n\r\n").expect("part body") + 4;
    let body: String = part[body_start..]
        .lines()
        .take_while(|l| !l.starts_with("--") && !l.is_empty())
        .collect();
    crate::servers::base64_decode(&body)
}

/// The daemon's own start-up path, in process: the composed services run (the IO alarm
/// thread among them), and the alarm linkage takes its pictures from the media pipeline
/// (real frames from the simulated sensor, real JPEG encoding).
fn in_process_camera(
    data: &std::path::Path,
) -> (
    tokio::runtime::Runtime,
    std::sync::Arc<ipcamd::cgi::Context>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let options = ipcamd::daemon::Options {
        board: crate::support::repo().join("board/sim.toml"),
        data: data.to_path_buf(),
        listen: Some("127.0.0.1:0".parse().unwrap()),
    };
    let mut started = runtime.block_on(ipcamd::daemon::start(&options)).unwrap();
    started.launch().unwrap();
    (runtime, started.ctx)
}

fn schedule_always(app: &ipcamd::cgi::Context, linkage: &str) {
    let mut values = vec![
        ("isEnable", "1"),
        ("linkage", linkage),
        ("alarmLevel", "1"),
        ("triggerInterval", "60"),
        ("snapInterval", "1"),
    ];
    for day in [
        "schedule0",
        "schedule1",
        "schedule2",
        "schedule3",
        "schedule4",
        "schedule5",
        "schedule6",
    ] {
        values.push((day, WHOLE_DAY));
    }
    app.settings.write("io_alarm", &values).unwrap();
}

#[test]
// In-process camera under qemu-user: the first snapshot renders and encodes at emulation
// speed and its timing is at the mercy of the machine's load; the ARM IO alarm path is
// checked end to end in the hardware-in-the-loop lab.
#[cfg_attr(
    ipcamd_qemu_user,
    ignore = "snapshot timing under qemu-user; the lab covers ARM"
)]
fn test_io_alarm_with_snapshot_provider_mails_and_uploads_decodable_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let ftp = FtpServer::start(root.path(), "cam", "ftp-pw");
    let sink = SmtpSink::start();
    let (_runtime, app) = in_process_camera(dir.path());
    let smtp_port = sink.port.to_string();
    app.settings
        .write(
            "smtp",
            &[
                ("isEnable", "1"),
                ("server", "127.0.0.1"),
                ("port", &smtp_port),
                ("tls", "0"),
                ("isNeedAuth", "0"),
                ("sender", "camera@example.com"),
                ("reciever", "ops@example.com"),
            ],
        )
        .unwrap();
    let ftp_address = format!("ftp://127.0.0.1:{}/", ftp.port);
    app.settings
        .write(
            "ftp",
            &[
                ("ftpAddr", &ftp_address),
                ("mode", "0"),
                ("userName", "cam"),
                ("password", "ftp-pw"),
            ],
        )
        .unwrap();
    app.settings
        .write("snap", &[("saveLocation", "2")])
        .unwrap();
    schedule_always(&app, "6");
    let sim = app.hal.sim.as_ref().expect("sim board");
    sim.alarm_in.drive(true);

    let mail = sink
        .mails
        .recv_timeout(Duration::from_secs(30))
        .expect("the alarm mail arrived");
    let attached = jpeg_attachment(&mail.data);
    let (width, height) = decode_jpeg(&attached);
    assert!(width > 0 && height > 0);
    let upload = ftp
        .uploads
        .recv_timeout(Duration::from_secs(30))
        .expect("the snapshot was uploaded");
    assert!(
        upload.path.starts_with("IO") && upload.path.ends_with(".jpg"),
        "{}",
        upload.path
    );
    assert_eq!(decode_jpeg(&upload.data), (width, height));
    // snapInterval (1 s) while the input stays raised: more snapshots follow.
    let next = ftp
        .uploads
        .recv_timeout(Duration::from_secs(30))
        .expect("a second snapshot while the alarm lasts");
    assert_ne!(next.path, upload.path);
    assert_eq!(app.state.io_alarm.get(), ipcamd::state::AlarmState::Alarm);
}

#[test]
// In-process camera under qemu-user: the first snapshot renders and encodes at emulation
// speed and its timing is at the mercy of the machine's load; the ARM IO alarm path is
// checked end to end in the hardware-in-the-loop lab.
#[cfg_attr(
    ipcamd_qemu_user,
    ignore = "snapshot timing under qemu-user; the lab covers ARM"
)]
fn test_io_alarm_snap_to_sd_card_saves_decodable_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let (_runtime, app) = in_process_camera(dir.path());
    app.settings
        .write("snap", &[("saveLocation", "0")])
        .unwrap();
    schedule_always(&app, "4");
    app.hal
        .sim
        .as_ref()
        .expect("sim board")
        .alarm_in
        .drive(true);
    let snap_dir = app
        .hal
        .storage
        .as_ref()
        .expect("SD card")
        .root()
        .join("snap");
    let mut saved = Vec::new();
    assert!(
        eventually(Duration::from_secs(60), || {
            saved = std::fs::read_dir(&snap_dir)
                .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
                .unwrap_or_default();
            !saved.is_empty()
        }),
        "no snapshot in {}",
        snap_dir.display()
    );
    let name = saved[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("IO") && name.ends_with(".jpg"), "{name}");
    let (width, height) = decode_jpeg(&std::fs::read(&saved[0]).unwrap());
    assert!(width > 0 && height > 0);
}
