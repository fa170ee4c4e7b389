//! The hub with the real software encoder, fed by a thread that plays the part of the capture
//! pipeline (a moving gradient).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ipcamd_hal::video::h264::{self, H264Params, software_factory};
use ipcamd_hal::video::{Frame, PixelFormat, convert};
use tokio::sync::watch;

use super::*;

struct TestSettings {
    generation: AtomicU64,
    settings: Mutex<StreamSettings>,
}

impl StreamSettingsSource for TestSettings {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
    fn read(&self) -> StreamSettings {
        *self.settings.lock().unwrap()
    }
}

fn params(width: u32, height: u32, gop: u32) -> H264Params {
    H264Params {
        width,
        height,
        fps: 30,
        bitrate: 300_000,
        vbr: false,
        gop,
        temporal_layers: false,
    }
}

struct Rig {
    hub: StreamHub,
    settings: Arc<TestSettings>,
    stop: Arc<AtomicBool>,
    /// The runtime the hub is made in, as in the daemon (a test may shut it down first).
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// A hub over a 160x120 capture at about 50 frames a second.
fn rig(sub: Option<H264Params>) -> Rig {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = watch::channel(None::<Arc<Frame>>);
    let stop = Arc::new(AtomicBool::new(false));
    let halt = stop.clone();
    std::thread::spawn(move || {
        let (w, h) = (160usize, 120usize);
        let mut n = 0u64;
        while !halt.load(Ordering::Acquire) {
            let mut data = vec![128u8; convert::i420_len(w, h)];
            for (i, p) in data[..w * h].iter_mut().enumerate() {
                *p = ((i % w) as u64 + n * 3) as u8;
            }
            tx.send_replace(Some(Arc::new(Frame {
                width: w as u32,
                height: h as u32,
                format: PixelFormat::I420,
                data: Arc::from(data),
                sequence: n,
                captured: SystemTime::now(),
            })));
            n += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let settings = Arc::new(TestSettings {
        generation: AtomicU64::new(1),
        settings: Mutex::new(StreamSettings {
            main: params(160, 120, 10),
            sub,
        }),
    });
    let hub =
        runtime.block_on(async { StreamHub::new(Some(rx), software_factory(), settings.clone()) });
    Rig {
        hub,
        settings,
        stop,
        runtime: Some(runtime),
    }
}

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn test_every_consumer_starts_at_a_key_frame_and_shares_the_same_access_units() {
    let rig = rig(None);
    let mut first = rig
        .hub
        .subscribe(StreamId::Main, SubscribeOptions::default());
    let head = first.recv_timeout(WAIT).unwrap().expect("a frame");
    assert!(head.keyframe);
    assert_eq!((head.config.width, head.config.height), (160, 120));
    for _ in 0..5 {
        first.recv_timeout(WAIT).unwrap().expect("a frame");
    }
    let mut second = rig
        .hub
        .subscribe(StreamId::Main, SubscribeOptions::default());
    let joined = second.recv_timeout(WAIT).unwrap().expect("a frame");
    assert!(joined.keyframe, "a late consumer starts at a key frame");
    // The same frame reaches both consumers as one shared allocation.
    let mine = loop {
        let f = first.recv_timeout(WAIT).unwrap().expect("a frame");
        if f.sequence == joined.sequence {
            break f;
        }
        assert!(f.sequence < joined.sequence);
    };
    assert!(Arc::ptr_eq(&mine, &joined));
    assert!(Arc::ptr_eq(&mine.data, &joined.data));
    assert_eq!(rig.hub.consumers(StreamId::Main), 2);
}

#[test]
fn test_measured_gop_follows_the_setting_and_changes_without_resubscribing() {
    let rig = rig(None);
    let mut sub = rig
        .hub
        .subscribe(StreamId::Main, SubscribeOptions::default());
    let gaps = |sub: &mut Subscription, count: usize| {
        let mut last_key = None;
        let mut gaps = Vec::new();
        while gaps.len() < count {
            let f = sub.recv_timeout(WAIT).unwrap().expect("a frame");
            if f.keyframe {
                if let Some(last) = last_key {
                    gaps.push(f.sequence - last);
                }
                last_key = Some(f.sequence);
            }
        }
        gaps
    };
    assert_eq!(gaps(&mut sub, 2), vec![10, 10]);
    {
        let mut s = rig.settings.settings.lock().unwrap();
        s.main = params(96, 64, 4);
    }
    rig.settings.generation.fetch_add(1, Ordering::AcqRel);
    // At the next GOP the new encoder takes over: smaller picture, shorter GOP.
    let resized = loop {
        let f = sub.recv_timeout(WAIT).unwrap().expect("a frame");
        if f.config.width == 96 {
            break f;
        }
    };
    assert!(resized.keyframe);
    assert_eq!(resized.config.height, 64);
    assert_eq!(gaps(&mut sub, 2), vec![4, 4]);
}

#[test]
fn test_a_consumer_that_stops_reading_skips_to_a_key_frame_without_holding_back_others() {
    let rig = rig(None);
    let mut slow = rig.hub.subscribe(
        StreamId::Main,
        SubscribeOptions {
            queue: 3,
            decimation: Decimation::All,
        },
    );
    let mut fast = rig
        .hub
        .subscribe(StreamId::Main, SubscribeOptions::default());
    let mut received = 0;
    let mut last = None;
    while received < 40 {
        let f = fast.recv_timeout(WAIT).unwrap().expect("a frame");
        if let Some(prev) = last {
            assert_eq!(f.sequence, prev + 1, "the fast consumer misses nothing");
        }
        last = Some(f.sequence);
        received += 1;
    }
    assert!(slow.skipped() > 0);
    // The slow one gets its three queued frames, then resumes at a key frame.
    let queued: Vec<_> = (0..3).map(|_| slow.try_next().unwrap().unwrap()).collect();
    assert!(queued[0].keyframe);
    assert_eq!(queued[2].sequence, queued[0].sequence + 2);
    assert!(slow.try_next().is_none());
    let resumed = slow.recv_timeout(WAIT).unwrap().expect("a frame");
    assert!(resumed.keyframe);
}

#[test]
fn test_key_frames_only_and_the_encoder_stops_without_consumers() {
    let rig = rig(None);
    let mut keys = rig.hub.subscribe(
        StreamId::Main,
        SubscribeOptions {
            queue: 4,
            decimation: Decimation::KeyFramesOnly,
        },
    );
    for _ in 0..2 {
        assert!(keys.recv_timeout(WAIT).unwrap().expect("a frame").keyframe);
    }
    drop(keys);
    let encoded = rig.hub.encoded_frames(StreamId::Main);
    std::thread::sleep(LINGER + Duration::from_secs(1));
    let stopped = rig.hub.encoded_frames(StreamId::Main);
    std::thread::sleep(Duration::from_millis(300));
    assert!(stopped >= encoded);
    assert_eq!(
        rig.hub.encoded_frames(StreamId::Main),
        stopped,
        "idle: nothing encoded"
    );
    // And it starts again for the next consumer.
    let mut again = rig
        .hub
        .subscribe(StreamId::Main, SubscribeOptions::default());
    assert!(again.recv_timeout(WAIT).unwrap().expect("a frame").keyframe);
}

#[test]
fn test_sub_stream_is_scaled_and_closed_while_it_is_mjpeg() {
    let rig = rig(None);
    assert!(!rig.hub.available(StreamId::Sub));
    let mut none = rig
        .hub
        .subscribe(StreamId::Sub, SubscribeOptions::default());
    assert_eq!(none.recv_timeout(WAIT).unwrap_err(), StreamClosed);
    {
        let mut s = rig.settings.settings.lock().unwrap();
        s.sub = Some(params(80, 60, 5));
    }
    rig.settings.generation.fetch_add(1, Ordering::AcqRel);
    let mut sub = rig
        .hub
        .subscribe(StreamId::Sub, SubscribeOptions::default());
    let f = sub.recv_timeout(WAIT).unwrap().expect("a frame");
    assert_eq!((f.config.width, f.config.height), (80, 60));
    rig.settings.settings.lock().unwrap().sub = None;
    rig.settings.generation.fetch_add(1, Ordering::AcqRel);
    let ended = loop {
        match sub.recv_timeout(WAIT) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the sub stream should end"),
            Err(closed) => break closed,
        }
    };
    assert_eq!(ended, StreamClosed);
}

#[test]
fn test_typed_settings_pick_the_live_parameter_set_and_the_sub_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(crate::store::Store::open(&dir.path().join("ipcamd.db")).unwrap());
    let board = ipcamd_hal::board::BoardSpec::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("board/sim.toml"),
    )
    .unwrap();
    let settings = Settings::new(store, Arc::new(board));
    let source: &dyn StreamSettingsSource = &settings;
    let before = source.generation();
    let factory = source.read();
    assert_eq!(factory.sub, None, "factory sub stream is MJPEG");
    assert!(!factory.main.temporal_layers);
    settings
        .write(
            "main_stream",
            &[
                ("resolution2", "3"),
                ("bitRate2", "300000"),
                ("frameRate2", "12"),
                ("GOP2", "24"),
                ("isVBR2", "1"),
            ],
        )
        .unwrap();
    settings
        .write("main_stream_type", &[("streamType", "2")])
        .unwrap();
    settings
        .write("sub_stream_format", &[("format", "0")])
        .unwrap();
    settings.write("h264_frame_ref", &[("mode", "1")]).unwrap();
    assert_ne!(source.generation(), before);
    let live = source.read();
    assert_eq!(
        live.main,
        H264Params {
            width: 320,
            height: 240,
            fps: 12,
            bitrate: 300_000,
            vbr: true,
            gop: 24,
            temporal_layers: true,
        }
    );
    let sub = live.sub.expect("sub stream is H.264 now");
    assert!(
        sub.width <= 320 && sub.height <= 240,
        "never larger than main"
    );
    assert!(sub.temporal_layers);
}

#[test]
fn test_encoders_outlive_the_runtime_and_stop_cleanly() {
    let mut rig = rig(None);
    let mut sub = rig
        .hub
        .subscribe(StreamId::Main, SubscribeOptions::default());
    assert!(sub.recv_timeout(WAIT).unwrap().expect("a frame").keyframe);
    // The daemon's runtime shuts down first: the encoder thread (which used a tokio timer
    // and panicked here) keeps encoding.
    drop(rig.runtime.take());
    for _ in 0..5 {
        sub.recv_timeout(WAIT)
            .unwrap()
            .expect("frames without the runtime");
    }
    assert!(
        rig.hub.stop(WAIT),
        "every encoder thread ended, none panicked"
    );
    assert!(matches!(sub.recv_timeout(WAIT), Err(StreamClosed)));
    let mut late = rig
        .hub
        .subscribe(StreamId::Main, SubscribeOptions::default());
    assert!(
        matches!(late.recv_timeout(WAIT), Err(StreamClosed)),
        "a stopped hub starts no encoder"
    );
}

#[test]
fn test_a_consumer_asking_for_half_the_rate_of_a_layered_stream_gets_every_referenced_frame() {
    let rig = rig(None);
    {
        let mut live = rig.settings.settings.lock().unwrap();
        live.main.temporal_layers = true;
        live.main.vbr = true;
    }
    rig.settings.generation.fetch_add(1, Ordering::AcqRel);
    let mut all = rig
        .hub
        .subscribe(StreamId::Main, SubscribeOptions::default());
    let mut half = rig.hub.subscribe(
        StreamId::Main,
        SubscribeOptions {
            queue: 64,
            decimation: Decimation::Share { keep: 1, of: 2 },
        },
    );
    let every: Vec<Arc<EncodedFrame>> = (0..40)
        .map(|_| all.recv_timeout(WAIT).unwrap().expect("a frame"))
        .collect();
    assert!(
        every.iter().any(|f| h264::is_droppable(f)),
        "the layered encoder makes droppable pictures"
    );
    let thinned: Vec<Arc<EncodedFrame>> = (0..15)
        .map(|_| half.recv_timeout(WAIT).unwrap().expect("a frame"))
        .collect();
    assert!(thinned[0].keyframe);
    assert!(thinned.iter().all(|f| !h264::is_droppable(f)));
    // Consecutive referenced pictures: none lost between two kept ones.
    let gaps: Vec<u64> = thinned
        .windows(2)
        .map(|w| w[1].sequence - w[0].sequence)
        .collect();
    assert!(gaps.iter().all(|&g| g <= 2), "{gaps:?}");
}
