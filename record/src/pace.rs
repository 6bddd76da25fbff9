//! [`Pacer`]: replays at a given rate.

use std::time::{Duration, Instant};

/// Spaces messages out to a rate: message `i` (from 0) is due `i / rate` seconds after the
/// first. A late message does not delay the ones after it (they are due when they were).
///
/// ```
/// use std::time::Duration;
/// use shm_disruptor_record::Pacer;
///
/// let mut pacer = Pacer::new(Some(1000.0)); // 1,000 messages a second
/// assert_eq!(pacer.due(100), 1); // the first is due at once, the second 1 ms later
/// pacer.sent(1);
/// std::thread::sleep(Duration::from_millis(20));
/// assert!(pacer.due(100) >= 20, "20 ms later, 20 more are due");
/// let mut unpaced = Pacer::new(None);
/// assert_eq!(unpaced.due(100), 100);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Pacer {
    rate: Option<f64>,
    start: Option<Instant>,
    sent: u64,
}

impl Pacer {
    /// Messages a second (`None`, or a rate that is not positive and finite: as fast as they
    /// are taken).
    pub fn new(rate: Option<f64>) -> Pacer {
        Pacer { rate: rate.filter(|r| r.is_finite() && *r > 0.0), start: None, sent: 0 }
    }

    /// How many of the next `wanted` messages are due now; when none is, sleeps until the next
    /// one is (at most 100 ms, so that a caller can check for a stop in between, and returns 0
    /// if it is still not due).
    pub fn due(&mut self, wanted: u64) -> u64 {
        let Some(rate) = self.rate else { return wanted };
        let start = *self.start.get_or_insert_with(Instant::now);
        let elapsed = start.elapsed().as_secs_f64();
        // Messages 0..=floor(elapsed * rate) are due.
        let due_total = (elapsed * rate).floor() as u64 + 1;
        let due = due_total.saturating_sub(self.sent).min(wanted);
        if due > 0 {
            return due;
        }
        let next_at = Duration::from_secs_f64(self.sent as f64 / rate);
        let wait = next_at.saturating_sub(start.elapsed()).min(Duration::from_millis(100));
        std::thread::sleep(wait);
        let elapsed = start.elapsed().as_secs_f64();
        ((elapsed * rate).floor() as u64 + 1).saturating_sub(self.sent).min(wanted)
    }

    /// Counts `n` messages as sent.
    pub fn sent(&mut self, n: u64) {
        self.sent += n;
    }
}
