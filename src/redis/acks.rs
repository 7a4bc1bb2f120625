//! Announcements waiting for the other replicas to apply them.
//!
//! `PUBLISH` says how many subscribers got an announcement; each of them
//! (but its sender) answers on the sender's own channel once it has dropped
//! what the announcement makes wrong. The sender's write returns when all
//! have answered, so a client that hears of the write and asks another
//! replica finds it already forgotten, or after `WAIT` when one is slow.

use std::{
    collections::HashMap,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::oneshot;

/// The longest a write waits for the other replicas' answers. One that does
/// not answer in time is slow or cut off; its own heartbeat and the entries'
/// lifetime bound how long it may serve what the write changed.
pub const WAIT: Duration = Duration::from_millis(250);

/// The announcements of one replica still waiting for answers, by number.
#[derive(Default)]
pub struct Acks {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, Waiting>>,
}

/// One announcement: the answers received, how many are due once `PUBLISH`
/// said so, and whom to wake when they are all in.
struct Waiting {
    received: u64,
    due: Option<u64>,
    done: Option<oneshot::Sender<()>>,
}

impl Waiting {
    fn complete(&mut self) {
        if self.due.is_some_and(|due| self.received >= due)
            && let Some(done) = self.done.take()
        {
            let _ = done.send(());
        }
    }
}

/// An announcement's place among the waiting ones; dropping it stops the
/// wait.
pub struct Ticket<'a> {
    acks: &'a Acks,
    /// The announcement's number, sent with it.
    pub number: u64,
    done: oneshot::Receiver<()>,
}

impl Acks {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Waiting>> {
        self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A number for the next announcement, registered before it is sent, so
    /// an answer faster than `PUBLISH`'s own reply is counted.
    pub fn ticket(&self) -> Ticket<'_> {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let (done, rx) = oneshot::channel();
        self.lock().insert(number, Waiting { received: 0, due: None, done: Some(done) });
        Ticket { acks: self, number, done: rx }
    }

    /// Another replica applied announcement `number`.
    pub fn answered(&self, number: u64) {
        if let Some(waiting) = self.lock().get_mut(&number) {
            waiting.received += 1;
            waiting.complete();
        }
    }
}

impl Ticket<'_> {
    /// Waits, at most `WAIT`, for `due` answers.
    pub async fn wait(mut self, due: u64) -> bool {
        if let Some(waiting) = self.acks.lock().get_mut(&self.number) {
            waiting.due = Some(due);
            waiting.complete();
        }
        tokio::time::timeout(WAIT, &mut self.done).await.is_ok_and(|r| r.is_ok())
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.acks.lock().remove(&self.number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_waits_for_every_answer_early_or_late() {
        let acks = Acks::default();
        let ticket = acks.ticket();
        acks.answered(ticket.number);
        let number = ticket.number;
        let wait = ticket.wait(2);
        tokio::pin!(wait);
        assert!(tokio::time::timeout(Duration::from_millis(20), &mut wait).await.is_err(), "one answer of two");
        acks.answered(number);
        assert!(wait.await);
        assert!(acks.lock().is_empty());
        assert!(acks.ticket().wait(0).await, "nobody to wait for");
        assert!(!acks.ticket().wait(1).await, "nobody answers: gives up after WAIT");
    }
}
