//! A bounded in-memory queue with one consumer. Pushing never waits: when
//! the queue is full the oldest item makes room, so a dead endpoint costs a
//! fixed amount of memory and never holds up the request that publishes.

use std::{collections::VecDeque, sync::Mutex};

use tokio::sync::Notify;

/// A queue of at most `capacity` items, drained by one task.
pub struct Queue<T> {
    state: Mutex<State<T>>,
    ready: Notify,
    capacity: usize,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

/// What a push did.
#[derive(Debug, PartialEq)]
pub enum Pushed<T> {
    /// The item was queued.
    Queued,
    /// The item was queued; the oldest one was dropped to make room.
    Displaced(T),
    /// The queue is closed: the item was not queued.
    Closed(T),
}

impl<T> Queue<T> {
    /// An empty queue holding at most `capacity` items (at least one).
    pub fn new(capacity: usize) -> Queue<T> {
        Queue {
            state: Mutex::new(State { items: VecDeque::new(), closed: false }),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// Adds an item at the back, dropping the front one when full.
    pub fn push(&self, item: T) -> Pushed<T> {
        let pushed = {
            let mut state = self.lock();
            if state.closed {
                return Pushed::Closed(item);
            }
            let displaced = if state.items.len() >= self.capacity { state.items.pop_front() } else { None };
            state.items.push_back(item);
            displaced.map_or(Pushed::Queued, Pushed::Displaced)
        };
        // One consumer: a permit stored while it is busy wakes its next wait.
        self.ready.notify_one();
        pushed
    }

    /// The front item, waiting for one; `None` once the queue is closed and
    /// empty.
    pub async fn pop(&self) -> Option<T> {
        loop {
            {
                let mut state = self.lock();
                if let Some(item) = state.items.pop_front() {
                    return Some(item);
                }
                if state.closed {
                    return None;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Refuses further pushes; items already queued can still be popped.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // A panic elsewhere cannot leave the deque half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use super::*;

    #[tokio::test]
    async fn keeps_order() {
        let q = Queue::new(3);
        assert_eq!(q.push(1), Pushed::Queued);
        assert_eq!(q.push(2), Pushed::Queued);
        assert_eq!(q.pop().await, Some(1));
        assert_eq!(q.pop().await, Some(2));
    }

    #[tokio::test]
    async fn full_queue_drops_the_oldest() {
        let q = Queue::new(3);
        for i in 1..=3 {
            assert_eq!(q.push(i), Pushed::Queued);
        }
        assert_eq!(q.push(4), Pushed::Displaced(1));
        assert_eq!(q.push(5), Pushed::Displaced(2));
        q.close();
        assert_eq!(q.pop().await, Some(3));
        assert_eq!(q.pop().await, Some(4));
        assert_eq!(q.pop().await, Some(5));
        assert_eq!(q.pop().await, None);
    }

    #[tokio::test]
    async fn pop_waits_for_a_push() {
        let q = Arc::new(Queue::new(2));
        let consumer = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!consumer.is_finished());
        q.push("a");
        assert_eq!(consumer.await.unwrap(), Some("a"));
    }

    #[tokio::test]
    async fn closed_queue_drains_then_ends() {
        let q = Queue::new(2);
        q.push(1);
        q.close();
        assert_eq!(q.push(2), Pushed::Closed(2));
        assert_eq!(q.pop().await, Some(1));
        assert_eq!(q.pop().await, None);
    }
}
