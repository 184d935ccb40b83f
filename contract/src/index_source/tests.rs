use std::{
    pin::pin,
    task::{Context, Poll, Waker},
};

use super::*;
use crate::{Az, StreamState};

/// Runs a future that never waits (every source here answers at once).
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the future waited"),
    }
}

fn name(rendition: Option<&str>) -> StreamName {
    let n = StreamName::new("live", "show").unwrap();
    match rendition {
        Some(r) => n.with_rendition(r).unwrap(),
        None => n,
    }
}

struct Down;

impl IndexSource for Down {
    async fn read_index(
        &self,
        az: Az,
        _: &StreamName,
    ) -> Result<Option<StreamIndex>, IndexSourceError> {
        Err(IndexSourceError::Other(format!("{az} is down")))
    }

    async fn read_renditions(
        &self,
        az: Az,
        _: &StreamName,
    ) -> Result<Vec<StreamName>, IndexSourceError> {
        Err(IndexSourceError::Other(format!("{az} is down")))
    }
}

/// A source without renditions need not say so.
struct Plain;

impl IndexSource for Plain {
    async fn read_index(
        &self,
        _: Az,
        _: &StreamName,
    ) -> Result<Option<StreamIndex>, IndexSourceError> {
        Ok(None)
    }
}

/// What the ingest does with a source it holds generically: spawn the reads (`Send`).
fn spawnable<R: IndexSource>(source: &R, name: &StreamName) {
    fn send<T: Send>(_: T) {}
    send(source.read_index(Az::Az1, name));
    send(source.read_renditions(Az::Az1, name));
    send(source.read_index_or_none(Az::Az1, name));
    send(source.read_renditions_or_none(Az::Az1, name));
}

#[test]
fn memory_source_answers_by_az_and_name() {
    let mut source = MemoryIndexSource::new();
    for r in [None, Some("720p"), Some("360p")] {
        let mut b = StreamIndex::builder(Az::Az1).state(StreamState::Live);
        if let Some(r) = r {
            b = b.rendition(r);
        }
        source.insert(b.build()).unwrap();
    }
    spawnable(&source, &name(None));
    let plain = ready(source.read_index(Az::Az1, &name(None))).unwrap();
    assert_eq!(plain.map(|i| i.name().unwrap()), Some(name(None)));
    assert!(
        ready(source.read_index(Az::Az2, &name(None)))
            .unwrap()
            .is_none()
    );
    // Every rendition of the stream, sorted, whichever name asks.
    let expected = vec![name(Some("360p")), name(Some("720p"))];
    assert_eq!(
        ready(source.read_renditions(Az::Az1, &name(None))).unwrap(),
        expected
    );
    assert_eq!(
        ready(source.read_renditions(Az::Az1, &name(Some("720p")))).unwrap(),
        expected
    );
    assert!(
        ready(source.read_renditions(Az::Az2, &name(None)))
            .unwrap()
            .is_empty()
    );
    // An index whose name is not valid is refused.
    let mut bad = StreamIndex::builder(Az::Az1).build();
    bad.stream = "../x".into();
    assert!(source.insert(bad).is_err());
}

#[test]
fn the_or_none_forms_take_a_failed_read_as_none() {
    spawnable(&Down, &name(None));
    assert!(ready(Down.read_index(Az::Az1, &name(None))).is_err());
    assert!(
        !ready(Down.read_index(Az::Az1, &name(None)))
            .unwrap_err()
            .is_denied()
    );
    assert_eq!(ready(Down.read_index_or_none(Az::Az2, &name(None))), None);
    assert!(ready(Down.read_renditions_or_none(Az::Az2, &name(None))).is_empty());
    assert!(
        ready(Plain.read_renditions(Az::Az1, &name(None)))
            .unwrap()
            .is_empty()
    );
}
