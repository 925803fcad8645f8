//! The remote-write queue: request bodies ready to send, in scrape order, each in memory or in
//! the disk queue's files ([`Body`]). Bodies held in memory are bounded to `capacity` samples
//! together: when the receiver is away long enough to fill it, the oldest are dropped (and their
//! samples counted), so memory stays bounded (a few bytes per sample, compressed) and what is
//! delivered on recovery is the most recent history. Bodies on disk are bounded by the disk
//! queue, in bytes; this queue only holds where they are.
//!
//! Batches are encoded by the scraper as it queues them, so the senders only send. Several
//! senders (shards) take batches at once ([`Queue::take`]), and per-series order holds: each
//! batch carries the lane (of `lanes`) its series were hashed into when it was encoded, and
//! a batch is handed out only when no earlier batch of its lane is still waiting or in flight,
//! and every earlier batch left was encoded with the same lanes (its `generation`): when the
//! shard count changes, the new split waits for the old one to be delivered. A batch leaves
//! only by being sent, refused by the receiver, or dropped for room. Batches are numbered from
//! the start, so an acknowledgement for a batch dropped while its request was in flight removes
//! nothing else.

use super::disk_queue::Location;
use std::collections::VecDeque;
use std::sync::Arc;

/// Where a request body is.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// The compressed `WriteRequest` itself.
    Memory(Arc<[u8]>),
    /// A record of the disk queue.
    Disk(Location),
}

/// One request body, how many samples it carries, and which series.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The compressed `WriteRequest`, or where it is.
    pub body: Body,
    /// Samples in it.
    pub samples: usize,
    /// The partition of its series, of `lanes`.
    pub lane: u16,
    /// How many partitions its scrape was split into.
    pub lanes: u16,
    /// Batches of one generation were split the same way; a new one starts when `lanes` changes.
    pub generation: u64,
}

impl Batch {
    /// A batch in memory, of the only lane.
    pub fn in_memory(body: impl Into<Arc<[u8]>>, samples: usize) -> Batch {
        Batch { body: Body::Memory(body.into()), samples, lane: 0, lanes: 1, generation: 0 }
    }
}

struct Entry {
    batch: Batch,
    in_flight: bool,
    /// Sent, refused or dropped: it only waits for the entries before it to leave.
    done: bool,
}

/// A FIFO of batches handed to several senders in per-series order.
pub struct Queue {
    entries: VecDeque<Entry>,
    /// Samples of entries not done, and of those in memory.
    samples: usize,
    memory_samples: usize,
    capacity: usize,
    /// The number of `entries[0]` among every batch ever pushed.
    front: u64,
    blocked: Vec<bool>,
}

impl Queue {
    /// An empty queue for at most `capacity` samples in memory (at least one).
    pub fn new(capacity: usize) -> Queue {
        Queue {
            entries: VecDeque::new(),
            samples: 0,
            memory_samples: 0,
            capacity: capacity.max(1),
            front: 0,
            blocked: Vec::new(),
        }
    }

    /// Samples waiting or in flight.
    pub fn len(&self) -> usize {
        self.samples
    }

    /// Whether nothing waits or is in flight.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends `batch`; one in memory first drops the oldest batches in memory to make room (or
    /// itself, if it is bigger than the whole capacity). Returns how many samples were dropped.
    pub fn push(&mut self, batch: Batch) -> u64 {
        if let Body::Memory(_) = batch.body {
            if batch.samples > self.capacity {
                return batch.samples as u64;
            }
            let mut dropped = 0;
            let mut index = 0;
            while self.memory_samples + batch.samples > self.capacity && index < self.entries.len() {
                let entry = &self.entries[index];
                if !entry.done && matches!(entry.batch.body, Body::Memory(_)) {
                    dropped += self.finish(index) as u64;
                }
                index += 1;
            }
            self.memory_samples += batch.samples;
            self.samples += batch.samples;
            self.entries.push_back(Entry { batch, in_flight: false, done: false });
            self.pop_done();
            return dropped;
        }
        self.samples += batch.samples;
        self.entries.push_back(Entry { batch, in_flight: false, done: false });
        0
    }

    /// The oldest batch that may be sent now, and its number, marked in flight: none of its
    /// lane before it is left, and every batch before it is of its generation.
    pub fn take(&mut self) -> Option<(u64, Batch)> {
        let generation = self.entries.iter().find(|e| !e.done)?.batch.generation;
        self.blocked.clear();
        let mut blocked = 0;
        for (index, entry) in self.entries.iter_mut().enumerate() {
            if entry.done {
                continue;
            }
            let batch = &entry.batch;
            if batch.generation != generation {
                return None;
            }
            let lane = usize::from(batch.lane);
            if self.blocked.len() <= lane {
                self.blocked.resize(lane + 1, false);
            }
            if !self.blocked[lane] && !entry.in_flight {
                entry.in_flight = true;
                return Some((self.front + index as u64, batch.clone()));
            }
            if !self.blocked[lane] {
                self.blocked[lane] = true;
                blocked += 1;
                if blocked >= usize::from(batch.lanes) {
                    return None; // every lane waits on a batch in flight
                }
            }
        }
        None
    }

    /// Whether batch `number` is still to be sent (not dropped meanwhile).
    pub fn is_pending(&self, number: u64) -> bool {
        self.index(number).is_some_and(|i| !self.entries[i].done)
    }

    /// Puts batch `number` back, not in flight, where it was (its sender gave up for now).
    pub fn release(&mut self, number: u64) {
        if let Some(index) = self.index(number) {
            self.entries[index].in_flight = false;
        }
    }

    /// Removes batch `number` (sent or refused); returns it unless it had left already.
    pub fn acknowledge(&mut self, number: u64) -> Option<Batch> {
        let index = self.index(number).filter(|&i| !self.entries[i].done)?;
        self.finish(index);
        let batch = self.entries[index].batch.clone();
        self.pop_done();
        Some(batch)
    }

    /// Drops every batch stored in one of `segments` (dropped by the disk queue for room);
    /// returns their samples.
    pub fn drop_segments(&mut self, segments: &[u64]) -> u64 {
        let mut dropped = 0;
        for index in 0..self.entries.len() {
            let entry = &self.entries[index];
            if let (false, Body::Disk(location)) = (entry.done, &entry.batch.body) {
                if segments.contains(&location.segment) {
                    dropped += self.finish(index) as u64;
                }
            }
        }
        self.pop_done();
        dropped
    }

    /// Removes every batch not in flight; returns how many samples were in memory and on disk.
    pub fn clear_idle(&mut self) -> (usize, usize) {
        let (mut memory, mut disk) = (0, 0);
        for index in 0..self.entries.len() {
            let entry = &self.entries[index];
            if !entry.done && !entry.in_flight {
                match entry.batch.body {
                    Body::Memory(_) => memory += self.finish(index),
                    Body::Disk(_) => disk += self.finish(index),
                }
            }
        }
        self.pop_done();
        (memory, disk)
    }

    fn index(&self, number: u64) -> Option<usize> {
        let index = usize::try_from(number.checked_sub(self.front)?).ok()?;
        (index < self.entries.len()).then_some(index)
    }

    /// Marks entry `index` done; returns its samples.
    fn finish(&mut self, index: usize) -> usize {
        let entry = &mut self.entries[index];
        entry.done = true;
        self.samples -= entry.batch.samples;
        if let Body::Memory(_) = entry.batch.body {
            self.memory_samples -= entry.batch.samples;
        }
        entry.batch.samples
    }

    fn pop_done(&mut self) {
        while self.entries.front().is_some_and(|e| e.done) {
            self.entries.pop_front();
            self.front += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(tag: u8, samples: usize) -> Batch {
        Batch::in_memory(&[tag][..], samples)
    }

    fn laned(tag: u8, lane: u16, lanes: u16, generation: u64) -> Batch {
        Batch { lane, lanes, generation, ..batch(tag, 1) }
    }

    fn tag(batch: &Batch) -> u8 {
        match &batch.body {
            Body::Memory(body) => body[0],
            Body::Disk(location) => location.offset as u8,
        }
    }

    fn tags(queue: &Queue) -> Vec<u8> {
        queue.entries.iter().filter(|e| !e.done).map(|e| tag(&e.batch)).collect()
    }

    fn on_disk(tag: u8, segment: u64) -> Batch {
        Batch { body: Body::Disk(Location { segment, offset: u64::from(tag), len: 1 }), ..batch(tag, 5) }
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
    fn acknowledged_batches_leave_and_batches_on_disk_do_not_count_against_memory() {
        let mut queue = Queue::new(10);
        queue.push(on_disk(9, 0));
        queue.push(batch(1, 2));
        queue.push(batch(2, 3));
        let (number, first) = queue.take().unwrap();
        assert_eq!(tag(&first), 9);
        assert_eq!(queue.acknowledge(number).map(|b| b.body), Some(first.body));
        assert_eq!((tags(&queue), queue.len()), (vec![1, 2], 5));
        assert_eq!(queue.push(on_disk(8, 1)), 0);
        assert_eq!(queue.push(batch(3, 8)), 5, "the memory bound drops memory batches only");
        assert_eq!(tags(&queue), [8, 3]);
        assert_eq!(queue.drop_segments(&[1]), 5);
        assert_eq!(queue.clear_idle(), (8, 0));
        assert!(queue.is_empty() && queue.take().is_none());
    }

    #[test]
    fn a_batch_dropped_during_its_send_is_not_acknowledged_twice() {
        let mut queue = Queue::new(4);
        queue.push(batch(1, 2));
        let (number, _) = queue.take().unwrap(); // batch 1 in flight
        queue.push(batch(2, 2));
        queue.push(batch(3, 2)); // drops batch 1 meanwhile
        assert!(!queue.is_pending(number));
        assert_eq!(queue.acknowledge(number), None);
        let (number, _) = queue.take().unwrap();
        assert!(queue.take().is_none(), "one lane: 3 waits for 2");
        queue.release(number);
        assert_eq!(queue.take().map(|(n, _)| n), Some(number), "released: the first again");
        assert_eq!(tags(&queue), [2, 3]);
    }

    #[test]
    fn lanes_go_in_parallel_but_each_in_order_and_a_new_split_waits_for_the_old() {
        let mut queue = Queue::new(100);
        for (tag, lane) in [(1, 0), (2, 1), (3, 0), (4, 1)] {
            queue.push(laned(tag, lane, 2, 0));
        }
        queue.push(laned(5, 0, 1, 1));
        let (one, first) = queue.take().unwrap();
        let (two, second) = queue.take().unwrap();
        assert_eq!((tag(&first), tag(&second)), (1, 2), "both lanes at once");
        assert!(queue.take().is_none(), "3 and 4 wait for their lane");
        queue.acknowledge(two);
        let (four, fourth) = queue.take().unwrap();
        assert_eq!(tag(&fourth), 4);
        queue.acknowledge(four);
        assert!(queue.take().is_none(), "3 waits for 1; 5 for all of generation 0");
        queue.acknowledge(one);
        let (three, third) = queue.take().unwrap();
        assert_eq!(tag(&third), 3);
        assert!(queue.take().is_none());
        queue.acknowledge(three);
        assert_eq!(tag(&queue.take().unwrap().1), 5);
    }
}
