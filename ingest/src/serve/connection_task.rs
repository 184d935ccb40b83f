//! One RTMP connection: the handshake and reads with their bounds (handshake deadline, idle
//! timeout), the writes, and feeding the publish. The protocol policy is in [`super::events`].

use std::{net::SocketAddr, sync::Arc, time::Duration};
use zonecast_contract::IndexSource;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};
use tracing::info;

use super::{ConnectionError, events::on_event};
use crate::{
    ops::metrics::Metrics,
    publish::{
        context::IngestContext,
        session::{self, Publish},
        table::PublishEnd,
    },
    rtmp::{RtmpConnection, RtmpLimits},
    storage::object_store::ObjectStore,
};

pub async fn handle_connection<S: ObjectStore, R: IndexSource>(
    mut socket: TcpStream,
    peer: SocketAddr,
    ctx: Arc<IngestContext<S, R>>,
) -> Result<(), ConnectionError> {
    let _ = socket.set_nodelay(true);
    let mut conn = RtmpConnection::with_limits(
        peer,
        RtmpLimits {
            max_message_bytes: ctx.config.max_message_bytes,
            max_chunk_size: ctx.config.max_chunk_size,
            ..RtmpLimits::default()
        },
    );
    let mut buf = vec![0u8; 64 * 1024];
    let mut publish: Option<Publish<S, R>> = None;
    let idle = Duration::from_secs(ctx.config.idle_timeout_secs);
    // A peer gets this long to complete the handshake, however it trickles bytes.
    let handshake_deadline =
        Instant::now() + Duration::from_secs(ctx.config.handshake_timeout_secs);
    // One timer for the connection's life, re-armed only when it fires and input came since:
    // a timer per read (tens per second per stream) showed in the profile.
    let mut last_input = Instant::now();
    let read_timer = tokio::time::sleep_until((last_input + idle).min(handshake_deadline));
    tokio::pin!(read_timer);
    let result = async {
        loop {
            let stopped = async {
                match &mut publish {
                    Some(p) => {
                        let _ = p.stop.changed().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let n = tokio::select! {
                read = socket.read(&mut buf) => read?,
                () = &mut read_timer => {
                    let handshaking = conn.is_handshaking();
                    let now = Instant::now();
                    let idle_at = last_input + idle;
                    if handshaking && (now >= handshake_deadline || now >= idle_at) {
                        return Err(ConnectionError::Handshake {
                            peer,
                            secs: ctx.config.handshake_timeout_secs,
                        });
                    }
                    if now >= idle_at {
                        return Err(ConnectionError::Idle { peer, secs: idle.as_secs() });
                    }
                    let next = if handshaking { idle_at.min(handshake_deadline) } else { idle_at };
                    read_timer.as_mut().reset(next);
                    continue;
                }
                () = stopped => {
                    info!("replaced by a new publisher of the same stream");
                    return Ok(Some(PublishEnd::Replaced));
                }
                () = ctx.shutdown.cancelled() => return Ok(Some(PublishEnd::Shutdown)),
            };
            last_input = Instant::now();
            if n == 0 {
                Metrics::inc(&ctx.metrics.connections_closed_by_peer);
                return Ok(None);
            }
            let out = conn.handle_input(&buf[..n])?;
            let mut reply = out.send;
            for event in out.events {
                if let Err(e) =
                    on_event(event, &mut conn, &mut reply, &mut publish, peer, &ctx).await
                {
                    // A refusal's status goes out before the connection closes, so the encoder
                    // shows why (ffmpeg: "Server error: <description>"); a peer that does not
                    // read gets a second.
                    if !reply.is_empty() {
                        let flush = async {
                            socket.write_all(&reply).await?;
                            socket.shutdown().await
                        };
                        let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
                    }
                    return Err(e);
                }
            }
            if !reply.is_empty() {
                socket.write_all(&reply).await?;
            }
        }
    }
    .await;
    if let Some(p) = publish.take() {
        let end = match &result {
            Ok(Some(end)) => *end,
            Ok(None) | Err(_) => PublishEnd::Dropped,
        };
        session::end(p, end);
    }
    result.map(|_| ())
}
