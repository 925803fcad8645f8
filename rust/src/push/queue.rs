//! The remote-write buffer: samples in scrape order, at most `capacity` of them. When the
//! receiver is away long enough to fill it, the oldest samples are dropped (and counted), so
//! memory stays bounded and what is delivered on recovery is the most recent history.
//!
//! The sender reads a batch from the front without taking it out ([`Queue::peek`]) and removes
//! it once the receiver has it ([`Queue::acknowledge`]); samples only ever leave by being sent,
//! refused by the receiver, or dropped for room. Positions are counted from the start, so an
//! acknowledgement for samples already dropped while the request was in flight removes nothing
//! twice.

use super::remote_write::QueuedSample;
use std::collections::VecDeque;

/// A bounded FIFO of samples that drops its oldest when full.
pub struct Queue {
    samples: VecDeque<QueuedSample>,
    capacity: usize,
    /// The position of `samples[0]` among every sample ever pushed.
    front: u64,
}

impl Queue {
    /// An empty queue for at most `capacity` samples (at least one).
    pub fn new(capacity: usize) -> Queue {
        Queue { samples: VecDeque::new(), capacity: capacity.max(1), front: 0 }
    }

    /// Samples waiting.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Appends `samples`, dropping the oldest beyond the capacity; returns how many were dropped.
    pub fn push(&mut self, samples: impl IntoIterator<Item = QueuedSample>) -> u64 {
        let mut dropped = 0;
        for sample in samples {
            if self.samples.len() == self.capacity {
                self.samples.pop_front();
                self.front += 1;
                dropped += 1;
            }
            self.samples.push_back(sample);
        }
        dropped
    }

    /// Copies up to `max` samples from the front into `out`; returns the position of the first.
    pub fn peek(&self, max: usize, out: &mut Vec<QueuedSample>) -> u64 {
        out.clear();
        out.extend(self.samples.iter().take(max).cloned());
        self.front
    }

    /// Removes every sample; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let count = self.samples.len();
        self.front += count as u64;
        self.samples.clear();
        count
    }

    /// Removes the `count` samples that started at position `start`, those still here.
    pub fn acknowledge(&mut self, start: u64, count: usize) {
        let end = start + count as u64;
        while self.front < end && !self.samples.is_empty() {
            self.samples.pop_front();
            self.front += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn samples(values: std::ops::Range<i64>) -> Vec<QueuedSample> {
        let series: Arc<[u8]> = Arc::from(&b""[..]);
        values.map(|t| QueuedSample { series: series.clone(), value: t as f64, timestamp_ms: t }).collect()
    }

    fn times(queue: &Queue) -> Vec<i64> {
        let mut out = Vec::new();
        queue.peek(usize::MAX, &mut out);
        out.iter().map(|s| s.timestamp_ms).collect()
    }

    #[test]
    fn full_queue_drops_the_oldest_and_counts_them() {
        let mut queue = Queue::new(5);
        assert_eq!(queue.push(samples(0..3)), 0);
        assert_eq!(queue.push(samples(3..8)), 3);
        assert_eq!(times(&queue), [3, 4, 5, 6, 7]);
        assert_eq!(queue.len(), 5);
    }

    #[test]
    fn acknowledged_batches_leave_from_the_front() {
        let mut queue = Queue::new(10);
        queue.push(samples(0..6));
        let mut batch = Vec::new();
        let start = queue.peek(4, &mut batch);
        assert_eq!(batch.len(), 4);
        queue.acknowledge(start, batch.len());
        assert_eq!(times(&queue), [4, 5]);
    }

    #[test]
    fn samples_dropped_during_a_send_are_not_acknowledged_twice() {
        let mut queue = Queue::new(4);
        queue.push(samples(0..4));
        let mut batch = Vec::new();
        let start = queue.peek(2, &mut batch); // samples 0 and 1 in flight
        queue.push(samples(4..7)); // drops 0, 1 and 2 meanwhile
        queue.acknowledge(start, batch.len());
        assert_eq!(times(&queue), [3, 4, 5, 6]);
    }
}
