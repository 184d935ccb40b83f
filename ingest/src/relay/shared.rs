//! A stream's relay status, as the relay task updates it and `/status` reads it.

use std::sync::{Arc, Mutex};

use super::RelayStatus;

/// A stream's relay status, shared between the relay task and `/status`.
#[derive(Debug)]
pub struct RelayShared {
    status: Mutex<RelayStatus>,
}

impl RelayShared {
    pub fn new(status: RelayStatus) -> Arc<Self> {
        Arc::new(Self {
            status: Mutex::new(status),
        })
    }

    /// A copy for `/status`. (A status is plain data: a lock poisoned by a panic elsewhere
    /// is taken over as it stands, never left to hide the relay for good.)
    pub fn status(&self) -> Option<RelayStatus> {
        Some(self.lock().clone())
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut RelayStatus)) {
        f(&mut self.lock());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RelayStatus> {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
