//! One stream's encoder thread: takes processed frames from the capture feed at the stream's
//! frame rate, brings them to the stream's size in a reused buffer, encodes them and publishes
//! each access unit to the stream's consumers. Parameter changes reach the running encoder
//! (hardware backends) or a new encoder opened at the end of the current GOP (software).
//!
//! The thread needs no tokio runtime: it waits for the capture feed (a `watch` channel, which
//! works without one) by polling its future with a waker that unparks the thread, bounded by
//! `park_timeout`. So it keeps running, and stops cleanly, when the daemon's runtime shuts
//! down first (a tokio timer there would panic).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use ipcamd_hal::HalErrorKind;
use ipcamd_hal::video::h264::{H264Encoder, H264Params};
use ipcamd_hal::video::{Frame, PixelFormat, convert};

use super::{HubInner, LINGER, StreamId, lock};

/// Consecutive encoder failures before the stream is closed (its consumers see the end).
const MAX_FAILURES: u32 = 10;
/// Longest wait for a captured frame before the loop re-checks its consumers.
const FRAME_WAIT: Duration = Duration::from_millis(500);

/// The encoder thread of `stream`; returns when the stream has had no consumer for
/// [`LINGER`] or cannot be encoded.
pub(super) fn run(inner: &Arc<HubInner>, stream: StreamId) {
    let slot = &inner.streams[stream.index()];
    // Not running once returned: idle, not stalled.
    let _idle = slot.heartbeat.idle_on_drop();
    let Some(factory) = inner.factory.clone() else {
        slot.close_all("this board has no H.264 encoder");
        return;
    };
    let Some(mut feed) = inner.frames.clone() else {
        slot.close_all("this board has no video");
        return;
    };
    let mut generation = None;
    let mut wanted: Option<H264Params> = None;
    let mut encoder: Option<Box<dyn H264Encoder>> = None;
    let mut since_key = 0u32;
    let mut idle_since: Option<Instant> = None;
    let mut next_due = Instant::now();
    let mut scaler = Scaler::default();
    let mut failures = 0u32;
    let epoch = Instant::now();
    let mut sequence = 0u64;
    loop {
        if inner.stopping.load(Ordering::Acquire) {
            slot.close_all("the daemon is stopping");
            return;
        }
        // Every turn waits at most FRAME_WAIT for a frame.
        slot.heartbeat.beat();
        {
            let mut state = lock(&slot.state);
            if state.subscribers.is_empty() {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= LINGER {
                    state.running = false;
                    return;
                }
            } else {
                idle_since = None;
            }
        }
        let current_generation = inner.settings.generation();
        if generation != Some(current_generation) {
            generation = Some(current_generation);
            let settings = inner.settings.read();
            wanted = match stream {
                StreamId::Main => Some(settings.main),
                StreamId::Sub => settings.sub,
            };
            let Some(params) = wanted else {
                tracing::info!("sub stream switched to MJPEG: H.264 sub-stream consumers end");
                slot.close_all("the sub stream is MJPEG (setSubStreamFormat)");
                return;
            };
            if let Some(running) = encoder.as_mut() {
                match running.reconfigure(params) {
                    Ok(()) => {}
                    Err(err) if err.kind() == HalErrorKind::NotSupported => {
                        tracing::debug!(?stream, "new encoder at the end of this GOP");
                    }
                    Err(err) => tracing::warn!(%err, ?stream, "encoder refused new parameters"),
                }
            }
        }
        let Some(params) = wanted else { continue };
        let changed = match feed.has_changed() {
            Ok(true) => Ok(true),
            Ok(false) => wait_changed(&mut feed, FRAME_WAIT),
            Err(closed) => Err(closed),
        };
        match changed {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => {
                slot.close_all("the capture pipeline stopped");
                return;
            }
        }
        let Some(frame) = feed.borrow_and_update().clone() else {
            continue;
        };
        let now = Instant::now();
        if now < next_due {
            continue;
        }
        let interval = Duration::from_secs(1) / params.fps.max(1);
        // Keep the cadence, but do not run ahead to catch up after a stall.
        next_due = (next_due + interval).max(now + interval / 2);
        let reopen = match &encoder {
            None => true,
            Some(running) => {
                let old = running.params();
                old != params && (since_key >= old.gop || size_changed(&old, &params))
            }
        };
        if reopen {
            match factory.open(params) {
                Ok(fresh) => {
                    tracing::info!(?stream, ?params, encoder = factory.name(), "encoder opened");
                    encoder = Some(fresh);
                    since_key = 0;
                }
                Err(err) => {
                    tracing::warn!(%err, ?stream, "cannot open the H.264 encoder");
                    slot.close_all(&err.to_string());
                    return;
                }
            }
        }
        let Some(running) = encoder.as_mut() else {
            continue;
        };
        let input = match scaler.fit(&frame, params.width, params.height) {
            Ok(input) => input,
            Err(why) => {
                tracing::warn!(?stream, why, "frame cannot be encoded");
                slot.close_all(why);
                return;
            }
        };
        let force_key = slot.key_requested.swap(false, Ordering::AcqRel);
        match running.encode(&input, force_key) {
            Ok(Some(mut encoded)) => {
                failures = 0;
                since_key = if encoded.keyframe { 1 } else { since_key + 1 };
                // One time line per stream, across encoder re-opens.
                encoded.pts = now.duration_since(epoch);
                encoded.sequence = sequence;
                sequence += 1;
                slot.publish(&Arc::new(encoded));
            }
            Ok(None) => {}
            Err(err) => {
                failures += 1;
                tracing::warn!(%err, ?stream, failures, "encode failed");
                if failures >= MAX_FAILURES {
                    slot.close_all(&err.to_string());
                    return;
                }
                encoder = None;
            }
        }
        drop(input);
    }
}

/// Wakes the thread that polls a future.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Waits at most `timeout` for a new value of `feed` on this (non-async) thread, without a
/// runtime: `Ok(false)` on time-out, `Err` when the sender is gone.
fn wait_changed<T>(
    feed: &mut tokio::sync::watch::Receiver<T>,
    timeout: Duration,
) -> Result<bool, tokio::sync::watch::error::RecvError> {
    let deadline = Instant::now() + timeout;
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut changed = std::pin::pin!(feed.changed());
    loop {
        if let Poll::Ready(result) = changed.as_mut().poll(&mut context) {
            return result.map(|()| true);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        std::thread::park_timeout(left);
    }
}

fn size_changed(a: &H264Params, b: &H264Params) -> bool {
    a.width != b.width || a.height != b.height || a.temporal_layers != b.temporal_layers
}

/// Brings captured frames to a stream's size and to I420, in one reused buffer.
#[derive(Default)]
struct Scaler {
    buffer: Option<Arc<[u8]>>,
}

impl Scaler {
    /// `frame` itself when it already fits, else a scaled copy in the reused buffer.
    fn fit(&mut self, frame: &Frame, width: u32, height: u32) -> Result<Frame, &'static str> {
        let fits = frame.width == width && frame.height == height;
        match frame.format {
            PixelFormat::I420 if fits => return Ok(frame.clone()),
            PixelFormat::I420 | PixelFormat::Gray8 => {}
            PixelFormat::Yuyv | PixelFormat::Mjpeg => {
                return Err("the capture delivers compressed or packed frames; H.264 needs I420");
            }
        }
        let (sw, sh) = (frame.width as usize, frame.height as usize);
        let (dw, dh) = (width as usize, height as usize);
        let len = convert::i420_len(dw, dh);
        let reusable = self
            .buffer
            .as_mut()
            .filter(|b| b.len() == len)
            .and_then(Arc::get_mut)
            .is_some();
        if !reusable {
            self.buffer = Some(Arc::from(vec![0u8; len]));
        }
        let buffer = self.buffer.as_mut().expect("buffer set above");
        let out = Arc::get_mut(buffer).ok_or("scaler buffer still in use")?;
        let (dst_cw, dst_ch) = convert::i420_chroma_size(dw, dh);
        let (dst_y, dst_rest) = out.split_at_mut(dw * dh);
        let (dst_u, dst_v) = dst_rest.split_at_mut(dst_cw * dst_ch);
        let luma = frame.luma().ok_or("frame shorter than its size")?;
        convert::scale_plane_nearest(luma, sw, sh, dst_y, dw, dh, 0, 0);
        if frame.format == PixelFormat::I420 {
            let (src_cw, src_ch) = convert::i420_chroma_size(sw, sh);
            let chroma = &frame.data[sw * sh..];
            if chroma.len() < 2 * src_cw * src_ch {
                return Err("frame shorter than its size");
            }
            let (src_u, src_v) = chroma.split_at(src_cw * src_ch);
            convert::scale_plane_nearest(src_u, src_cw, src_ch, dst_u, dst_cw, dst_ch, 0, 0);
            convert::scale_plane_nearest(src_v, src_cw, src_ch, dst_v, dst_cw, dst_ch, 0, 0);
        } else {
            dst_u.fill(128);
            dst_v.fill(128);
        }
        Ok(Frame {
            width,
            height,
            format: PixelFormat::I420,
            data: buffer.clone(),
            sequence: frame.sequence,
            captured: frame.captured,
        })
    }
}
