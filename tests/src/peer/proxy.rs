//! A loopback TCP relay in front of the server, one per publisher, that notes when the
//! publisher connected. ffmpeg's `-re` clock starts at its first packet, right after it has
//! connected and published, so that moment is the stream's origin: spawning many ffmpegs at
//! once on a small machine delays each one's start by hundreds of milliseconds, which must
//! not count against the server.

use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{Arc, Mutex},
    time::Instant,
};

/// When the publisher connected, once it has.
pub type Connected = Arc<Mutex<Option<Instant>>>;

/// Listens on a free loopback port; relays the first connection to `upstream`. Returns the
/// port to publish to.
pub fn start(upstream: SocketAddr) -> anyhow::Result<(SocketAddr, Connected)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let connected: Connected = Arc::default();
    let seen = connected.clone();
    std::thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else {
            return;
        };
        if let Ok(mut at) = seen.lock() {
            *at = Some(Instant::now());
        }
        let Ok(server) = TcpStream::connect(upstream) else {
            return;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
            return;
        };
        std::thread::spawn(move || pipe(s2, c2));
        pipe(client, server);
    });
    Ok((addr, connected))
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
