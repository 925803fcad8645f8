//! The remote-write buffer: request bodies ready to send, in scrape order, holding at most
//! `capacity` samples together. When the receiver is away long enough to fill it, the oldest
//! batches are dropped (and their samples counted), so memory stays bounded (a few bytes per
//! sample, compressed) and what is delivered on recovery is the most recent history.
//!
//! Batches are encoded by the scraper as it queues them, so the sender only sends: encoding
//! the next batches overlaps with waiting for the receiver's answer. The sender reads the front
//! batch without taking it out ([`Queue::front`]) and removes it once the receiver has it
//! ([`Queue::acknowledge`]); a batch only ever leaves by being sent, refused by the receiver,
//! or dropped for room. Batches are numbered from the start, so an acknowledgement for a batch
//! dropped while its request was in flight removes nothing else.

use std::collections::VecDeque;
use std::sync::Arc;

/// One request body and how many samples it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The compressed `WriteRequest`.
    pub body: Arc<[u8]>,
    /// Samples in it.
    pub samples: usize,
}

/// A FIFO of batches bounded in samples that drops its oldest when full.
pub struct Queue {
    batches: VecDeque<Batch>,
    samples: usize,
    capacity: usize,
    /// The number of `batches[0]` among every batch ever pushed.
    front: u64,
}

impl Queue {
    /// An empty queue for at most `capacity` samples (at least one).
    pub fn new(capacity: usize) -> Queue {
        Queue { batches: VecDeque::new(), samples: 0, capacity: capacity.max(1), front: 0 }
    }

    /// Samples waiting.
    pub fn len(&self) -> usize {
        self.samples
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Appends `batch`, dropping the oldest batches to make room (or `batch` itself, if it is
    /// bigger than the whole queue); returns how many samples were dropped.
    pub fn push(&mut self, batch: Batch) -> u64 {
        if batch.samples > self.capacity {
            return batch.samples as u64;
        }
        let mut dropped = 0;
        while self.samples + batch.samples > self.capacity {
            dropped += self.pop().map_or(0, |b| b.samples as u64);
        }
        self.samples += batch.samples;
        self.batches.push_back(batch);
        dropped
    }

    /// The oldest batch and its number.
    pub fn front(&self) -> Option<(u64, Batch)> {
        self.batches.front().map(|batch| (self.front, batch.clone()))
    }

    /// Removes batch number `number` if it is still the oldest.
    pub fn acknowledge(&mut self, number: u64) {
        if number == self.front {
            self.pop();
        }
    }

    /// Removes every batch; returns how many samples they held.
    pub fn clear(&mut self) -> usize {
        let samples = self.samples;
        while self.pop().is_some() {}
        samples
    }

    fn pop(&mut self) -> Option<Batch> {
        let batch = self.batches.pop_front()?;
        self.samples -= batch.samples;
        self.front += 1;
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(tag: u8, samples: usize) -> Batch {
        Batch { body: Arc::from(&[tag][..]), samples }
    }

    fn tags(queue: &Queue) -> Vec<u8> {
        queue.batches.iter().map(|b| b.body[0]).collect()
    }

    #[test]
    fn full_queue_drops_the_oldest_batches_and_counts_their_samples() {
        let mut queue = Queue::new(10);
        assert_eq!(queue.push(batch(1, 4)), 0);
        assert_eq!(queue.push(batch(2, 4)), 0);
        assert_eq!(queue.push(batch(3, 4)), 4);
        assert_eq!(tags(&queue), [2, 3]);
        assert_eq!(queue.len(), 8);
        assert_eq!(queue.push(batch(4, 11)), 11, "bigger than the queue: dropped itself");
        assert_eq!(queue.push(batch(5, 10)), 8);
        assert_eq!((tags(&queue), queue.len()), (vec![5], 10));
    }

    #[test]
    fn acknowledged_batches_leave_from_the_front() {
        let mut queue = Queue::new(10);
        queue.push(batch(1, 2));
        queue.push(batch(2, 3));
        let (number, first) = queue.front().unwrap();
        assert_eq!(first, batch(1, 2));
        queue.acknowledge(number);
        assert_eq!((tags(&queue), queue.len()), (vec![2], 3));
        assert_eq!(queue.clear(), 3);
        assert!(queue.is_empty() && queue.front().is_none());
    }

    #[test]
    fn a_batch_dropped_during_its_send_is_not_acknowledged_twice() {
        let mut queue = Queue::new(4);
        queue.push(batch(1, 2));
        let (number, _) = queue.front().unwrap(); // batch 1 in flight
        queue.push(batch(2, 2));
        queue.push(batch(3, 2)); // drops batch 1 meanwhile
        queue.acknowledge(number);
        assert_eq!(tags(&queue), [2, 3]);
    }
}
