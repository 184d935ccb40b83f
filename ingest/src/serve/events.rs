//! The protocol policy of one connection: what an RTMP request becomes (a connect accepted or
//! refused, a publish begun in the stream table or refused with the reason the encoder shows,
//! media fed to the publish).

use std::{net::SocketAddr, sync::Arc, time::SystemTime};
use zonecast_contract::IndexSource;

use tracing::{info, warn};
use zonecast_contract::{StreamName, name::check_component};

use super::ConnectionError;
use crate::{
    ops::metrics::RefusalReason,
    publish::{
        claim::{PublishRequest, Refusal},
        context::IngestContext,
        relay_hook,
        session::{self, MessageKind, Publish},
        table::PublishEnd,
    },
    rtmp::{RtmpConnection, RtmpEvent},
    storage::object_store::ObjectStore,
};

pub(super) async fn on_event<S: ObjectStore, R: IndexSource>(
    event: RtmpEvent,
    conn: &mut RtmpConnection,
    reply: &mut Vec<u8>,
    publish: &mut Option<Publish<S, R>>,
    peer: SocketAddr,
    ctx: &Arc<IngestContext<S, R>>,
) -> Result<(), ConnectionError> {
    match event {
        RtmpEvent::ConnectRequested { request_id, app } => {
            if let Err(e) = check_component("app", &app) {
                ctx.metrics.refused(RefusalReason::BadName);
                warn!(error = %e, "refusing connect: bad app name");
                reply.extend(conn.reject(
                    request_id,
                    "NetConnection.Connect.Rejected",
                    &e.to_string(),
                )?);
                return Err(ConnectionError::Refused {
                    peer,
                    reason: e.to_string(),
                });
            }
            reply.extend(conn.accept(request_id)?);
        }
        RtmpEvent::PublishRequested {
            request_id,
            app,
            stream_key,
        } => {
            let refuse = |conn: &mut RtmpConnection,
                          reply: &mut Vec<u8>,
                          why: RefusalReason,
                          reason: String| {
                ctx.metrics.refused(why);
                let code = match why {
                    RefusalReason::Auth => "NetStream.Publish.Unauthorized",
                    RefusalReason::RelayBehindDirect => crate::relay::REFUSED_PEER_HAS_DIRECT,
                    _ => "NetStream.Publish.BadName",
                };
                reply.extend(conn.reject(request_id, code, &reason)?);
                Err::<(), _>(ConnectionError::Refused { peer, reason })
            };
            if publish.is_some() {
                let reason = "this connection already publishes".into();
                return refuse(conn, reply, RefusalReason::AlreadyPublishing, reason);
            }
            let name = match StreamName::from_publish(&app, &stream_key) {
                Ok(n) => n,
                Err(e) => {
                    warn!(error = %e, "refusing publish: bad stream name");
                    return refuse(conn, reply, RefusalReason::BadName, e.to_string());
                }
            };
            if let Err(e) = crate::auth::check_publish(
                ctx.config.publish_auth,
                ctx.config.publish_secret.as_ref(),
                &name,
                &stream_key,
                SystemTime::now(),
            ) {
                warn!(stream = %name, reason = e.reason(), error = %e, "refusing publish: publish auth");
                return refuse(conn, reply, RefusalReason::Auth, e.to_string());
            }
            let relayed_from = crate::relay::marker_of(&stream_key);
            let request = PublishRequest {
                name: name.clone(),
                publisher: peer,
                relayed: relayed_from.is_some(),
            };
            let mut p = match session::begin(ctx, &request).await {
                Ok(p) => p,
                Err(Refusal::RelayBehindDirect) => {
                    info!(stream = %name, "refusing the peer's relay: a direct publish of this stream is live here (direct wins)");
                    let reason = Refusal::RelayBehindDirect.message(&name);
                    let _ = refuse(conn, reply, RefusalReason::RelayBehindDirect, reason);
                    return Err(ConnectionError::RelayBehindDirect { peer, stream: name });
                }
                Err(refusal) => {
                    let reason = refusal.message(&name);
                    warn!(stream = %name, %reason, "refusing publish");
                    return refuse(conn, reply, refusal.reason(), reason);
                }
            };
            info!(stream = %p.name, az = %ctx.config.az, relayed = relayed_from.is_some(), "publishing");
            p.relay = relay_hook::start(ctx, &p.name, p.id(), &stream_key, relayed_from);
            *publish = Some(p);
            reply.extend(conn.accept(request_id)?);
        }
        RtmpEvent::PlayRequested {
            request_id,
            stream_key,
        } => {
            warn!(stream_key = %truncate(&stream_key), "refusing play: this is an ingest");
            reply.extend(conn.reject(request_id, "NetStream.Play.Failed", "ingest only")?);
        }
        RtmpEvent::PublishFinished { .. } => {
            if let Some(p) = publish.take() {
                session::end(p, PublishEnd::Unpublished);
            }
        }
        RtmpEvent::Video { timestamp, data } => {
            if let Some(p) = publish {
                if let Some(r) = &mut p.relay {
                    r.video(timestamp, &data);
                }
                push(p, MessageKind::Video, timestamp, &data, peer)?;
            }
        }
        RtmpEvent::Audio { timestamp, data } => {
            if let Some(p) = publish {
                if let Some(r) = &mut p.relay {
                    r.audio(timestamp, &data);
                }
                push(p, MessageKind::Audio, timestamp, &data, peer)?;
            }
        }
        RtmpEvent::Metadata { metadata } => {
            if let Some(r) = publish.as_mut().and_then(|p| p.relay.as_mut()) {
                r.metadata(&metadata);
            }
        }
    }
    Ok(())
}

fn push<S: ObjectStore, R: IndexSource>(
    p: &mut Publish<S, R>,
    kind: MessageKind,
    timestamp: u32,
    data: &bytes::Bytes,
    peer: SocketAddr,
) -> Result<(), ConnectionError> {
    p.push(kind, timestamp, data)
        .map_err(|source| ConnectionError::Media {
            peer,
            stream: p.name.clone(),
            source: Box::new(source),
        })
}

/// A peer-supplied key for a log line: short, and without its query string (which may carry
/// a publish token).
fn truncate(s: &str) -> String {
    let s = s.split_once('?').map_or(s, |(key, _)| key);
    s.chars().take(80).collect()
}
