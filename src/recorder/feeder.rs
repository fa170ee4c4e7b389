//! The recorder's feeder: the encoded-stream hub ([`crate::streams`]) as the recorder's
//! [`FrameSource`]. The recorder subscribes only while it needs a stream (recording, alarm
//! pending, pre-record), so the encoder runs for it only then; a consumer that falls behind is
//! skipped by the hub to the next key frame, which the recorder sees as a sequence gap and
//! resumes at that key frame.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{Feed, FrameFeed, FrameSource};
use crate::streams::{Decimation, StreamHub, StreamId, SubscribeOptions, Subscription};

/// Frames queued for the recorder: three seconds at 30 fps, so a slow fsync on the card does
/// not make the hub skip ahead.
pub const QUEUE: usize = 90;

/// The hub, seen by the recorder.
pub struct HubFrames {
    hub: StreamHub,
    /// A refusal was logged (the recorder asks again every second: one line, not one a second).
    refused: AtomicBool,
}

impl HubFrames {
    /// The recorder's view of `hub`.
    pub fn new(hub: StreamHub) -> HubFrames {
        HubFrames {
            hub,
            refused: AtomicBool::new(false),
        }
    }
}

struct HubFeed {
    subscription: Subscription,
    skipped: u64,
}

impl FrameSource for HubFrames {
    fn subscribe(&self, stream: u8) -> Option<Box<dyn FrameFeed>> {
        let id = if stream == 1 {
            StreamId::Sub
        } else {
            StreamId::Main
        };
        if !self.hub.available(id) {
            if self.refused.swap(true, Ordering::Relaxed) {
                return None;
            }
            tracing::warn!(
                stream = id.path(),
                "recording: the stream cannot be encoded on this board (no H.264 encoder, or the sub stream is MJPEG)"
            );
            return None;
        }
        self.refused.store(false, Ordering::Relaxed);
        let subscription = self.hub.subscribe(
            id,
            SubscribeOptions {
                queue: QUEUE,
                // recordLevel's dropping is the recorder's (it keeps what it writes decodable).
                decimation: Decimation::All,
            },
        );
        tracing::debug!(stream = id.path(), "recorder subscribed");
        Some(Box::new(HubFeed {
            subscription,
            skipped: 0,
        }))
    }
}

impl FrameFeed for HubFeed {
    fn next(&mut self, wait: Duration) -> Feed {
        let feed = match self.subscription.recv_timeout(wait) {
            Ok(Some(frame)) => Feed::Frame(frame),
            Ok(None) => Feed::Idle,
            Err(_closed) => Feed::Closed,
        };
        let skipped = self.subscription.skipped();
        if skipped != self.skipped {
            tracing::warn!(
                frames = skipped - self.skipped,
                "recorder behind the encoder: frames skipped, resuming at a key frame"
            );
            self.skipped = skipped;
        }
        feed
    }
}
