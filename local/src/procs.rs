//! The two ingest processes the stack owns, one slot per AZ: stopped (SIGTERM: the ingest
//! drains), killed (SIGKILL) and started again from the status page, so a person can watch
//! failover happen.

use std::time::Duration;

use tokio::{process::Child, sync::Mutex};
use tracing::{info, warn};
use zonecast_contract::Az;

use crate::stack::StackError;

/// Starts one AZ's ingest process.
pub type Spawner = Box<dyn Fn(Az) -> Result<Child, StackError> + Send + Sync>;

/// What the status page asks of an AZ's ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestAction {
    /// SIGTERM: the ingest drains (closes and uploads its open segments, index `draining`).
    Stop,
    /// SIGKILL: the ingest dies mid-segment; its AZ goes stale.
    Kill,
    /// Stop it (SIGTERM, then SIGKILL after the drain deadline) if it runs, then start it.
    Restart,
}

impl IngestAction {
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "stop" => Some(Self::Stop),
            "kill" => Some(Self::Kill),
            "restart" => Some(Self::Restart),
            _ => None,
        }
    }
}

/// Whether an AZ's ingest process runs, for the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProcessState {
    pub running: bool,
    pub pid: Option<u32>,
}

pub struct IngestProcesses {
    slots: Mutex<Vec<(Az, Option<Child>)>>,
    spawn: Spawner,
}

impl IngestProcesses {
    /// Starts both ingests.
    pub fn start(spawn: Spawner) -> Result<Self, StackError> {
        let mut slots = Vec::new();
        for az in Az::ALL {
            slots.push((az, Some(spawn(az)?)));
        }
        Ok(Self {
            slots: Mutex::new(slots),
            spawn,
        })
    }

    pub async fn state(&self, az: Az) -> ProcessState {
        let mut slots = self.slots.lock().await;
        match slots.iter_mut().find(|(a, _)| *a == az) {
            Some((_, Some(child))) => match child.try_wait() {
                Ok(None) => ProcessState {
                    running: true,
                    pid: child.id(),
                },
                _ => ProcessState {
                    running: false,
                    pid: None,
                },
            },
            _ => ProcessState {
                running: false,
                pid: None,
            },
        }
    }

    /// Carries out `action` on `az`'s ingest; returns what happened, for the page.
    pub async fn act(&self, az: Az, action: IngestAction) -> Result<String, String> {
        let mut slots = self.slots.lock().await;
        let Some((_, slot)) = slots.iter_mut().find(|(a, _)| *a == az) else {
            return Err(format!("no {az} ingest"));
        };
        let running_pid = match slot.as_mut() {
            Some(c) => match c.try_wait() {
                Ok(None) => c.id(),
                _ => None,
            },
            None => None,
        };
        match action {
            IngestAction::Stop | IngestAction::Kill => {
                let Some(pid) = running_pid else {
                    return Err(format!("the {az} ingest is not running"));
                };
                let (signal, word) = match action {
                    IngestAction::Stop => (libc::SIGTERM, "SIGTERM"),
                    _ => (libc::SIGKILL, "SIGKILL"),
                };
                info!(%az, pid, signal = word, "status page: signalling the ingest");
                // SAFETY: kill(2) on the pid of our own child, which has not been reaped
                // (try_wait saw it running), so the pid names that process.
                unsafe {
                    libc::kill(pid as i32, signal);
                }
                Ok(format!("sent {word} to the {az} ingest (pid {pid})"))
            }
            IngestAction::Restart => {
                // The old process drains without the lock held, so the status page keeps
                // answering meanwhile (it shows the AZ not running).
                let old = slot.take();
                drop(slots);
                if let Some(mut child) = old {
                    stop_child(&mut child).await;
                }
                let mut slots = self.slots.lock().await;
                let Some((_, slot)) = slots.iter_mut().find(|(a, _)| *a == az) else {
                    return Err(format!("no {az} ingest"));
                };
                if slot.is_some() {
                    return Err(format!("the {az} ingest was started meanwhile"));
                }
                let child = (self.spawn)(az).map_err(|e| e.to_string())?;
                let pid = child.id().unwrap_or(0);
                info!(%az, pid, "status page: ingest started again");
                *slot = Some(child);
                Ok(format!("started the {az} ingest again (pid {pid})"))
            }
        }
    }

    /// Stops every ingest (the stack is going down).
    pub async fn stop_all(&self) {
        let mut slots = self.slots.lock().await;
        for (_, slot) in slots.iter_mut() {
            if let Some(child) = slot.as_mut() {
                stop_child(child).await;
            }
        }
    }
}

/// SIGTERM first: the ingest drains (its own deadline is 10 s) and exits; SIGKILL after 12 s.
pub async fn stop_child(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own, not yet reaped child.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(12), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    if let Err(e) = child.kill().await {
        warn!(error = %e, "killing ingest");
    }
}
