//! The ingest processes the stack owns, one slot per AZ of each instance pair (two with one
//! pair, the default): stopped (SIGTERM: the ingest drains), killed (SIGKILL) and started
//! again from the status page, so a person can watch failover happen.

use std::{fmt, time::Duration};

use tokio::{process::Child, sync::Mutex};
use tracing::{info, warn};
use zonecast_contract::Az;

/// One ingest of the stack: an AZ of an instance pair (`zonecast-local --pairs K`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IngestId {
    pub pair: u16,
    pub az: Az,
}

impl IngestId {
    /// The ingests of `pairs` pairs, pair by pair.
    pub fn all(pairs: u16) -> impl Iterator<Item = IngestId> {
        (0..pairs.max(1)).flat_map(|pair| Az::ALL.map(|az| IngestId { pair, az }))
    }

    /// The other AZ of the same pair: where this one relays to.
    pub fn peer(self) -> IngestId {
        IngestId {
            az: self.az.peer(),
            ..self
        }
    }

    /// `az1` (pair 0, as with one pair) or `p1-az1`: the status page's name, the log prefix.
    pub fn parse(text: &str) -> Option<Self> {
        let (pair, az) = match text.split_once('-') {
            Some((p, az)) => (p.strip_prefix('p')?.parse().ok().filter(|&k| k > 0)?, az),
            None => (0, text),
        };
        Some(IngestId {
            pair,
            az: az.parse().ok()?,
        })
    }
}

impl fmt::Display for IngestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pair {
            0 => write!(f, "{}", self.az),
            k => write!(f, "p{k}-{}", self.az),
        }
    }
}

/// An ingest process that could not be started.
#[derive(Debug, thiserror::Error)]
#[error("starting the {ingest} ingest process: {source}")]
pub struct SpawnError {
    pub ingest: IngestId,
    pub source: std::io::Error,
}

/// Starts one ingest process.
pub type Spawner = Box<dyn Fn(IngestId) -> Result<Child, SpawnError> + Send + Sync>;

/// What the status page asks of an ingest.
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

/// Whether an ingest process runs, for the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProcessState {
    pub running: bool,
    pub pid: Option<u32>,
}

pub struct IngestProcesses {
    slots: Mutex<Vec<(IngestId, Option<Child>)>>,
    spawn: Spawner,
}

impl IngestProcesses {
    /// Starts both ingests of each of `pairs` pairs.
    pub fn start(spawn: Spawner, pairs: u16) -> Result<Self, SpawnError> {
        let mut slots = Vec::new();
        for id in IngestId::all(pairs) {
            slots.push((id, Some(spawn(id)?)));
        }
        Ok(Self {
            slots: Mutex::new(slots),
            spawn,
        })
    }

    pub async fn state(&self, az: IngestId) -> ProcessState {
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

    /// Carries out `action` on ingest `az`; returns what happened, for the page.
    pub async fn act(&self, az: IngestId, action: IngestAction) -> Result<String, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_names() {
        let ids: Vec<String> = IngestId::all(2).map(|i| i.to_string()).collect();
        assert_eq!(ids, ["az1", "az2", "p1-az1", "p1-az2"]);
        for id in IngestId::all(3) {
            assert_eq!(IngestId::parse(&id.to_string()), Some(id));
            assert_eq!(id.peer().pair, id.pair);
            assert_ne!(id.peer().az, id.az);
        }
        assert_eq!(IngestId::all(1).count(), 2);
        for bad in ["az3", "p0-az1", "p-az1", "1-az1", "pp1-az1", "p1-", ""] {
            assert_eq!(IngestId::parse(bad), None, "{bad}");
        }
    }
}
