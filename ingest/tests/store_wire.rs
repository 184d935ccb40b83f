//! What a segment PUT looks like on the wire: `S3Store` with the real aws-sdk-s3 client
//! against a loopback listener that records the request and answers 200.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zonecast_contract::s3::{S3ClientConfig, s3_client};
use zonecast_ingest::storage::object_store::{ObjectStore, PutRequest, S3Store};

/// Reads one HTTP request (head and a body of Content-Length bytes) and answers 200.
async fn one_request(listener: tokio::net::TcpListener) -> (String, Vec<u8>) {
    let (mut socket, _) = listener.accept().await.expect("accept");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed before the request head");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().expect("content-length"))
        .expect("a content-length header");
    while buf.len() < head_end + len {
        let n = socket.read(&mut chunk).await.expect("read body");
        assert!(n > 0, "connection closed inside the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    socket
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        .await
        .expect("answer");
    (head, buf[head_end..head_end + len].to_vec())
}

/// The body goes out as is (no aws-chunked framing), signed as UNSIGNED-PAYLOAD (no SHA-256
/// of the segment), with a CRC32 checksum header for S3 to verify.
#[tokio::test]
async fn segment_puts_are_unsigned_payload_with_a_crc32() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(one_request(listener));
    let client = s3_client(&S3ClientConfig {
        region: "us-east-1".into(),
        endpoint: Some(endpoint),
        static_credentials: Some(("key".into(), "secret".into())),
    })
    .await;
    let store = S3Store {
        client,
        bucket: "media".into(),
    };
    let body = Bytes::from((0..200_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    store
        .put(PutRequest {
            key: "az1/live/show/seg-1.ts".into(),
            body: body.clone(),
            content_type: "video/mp2t",
            cache_control: "max-age=86400",
        })
        .await
        .expect("put");
    let (head, sent) = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("request within 10 s")
        .expect("server task");
    assert!(
        head.starts_with("put /media/az1/live/show/seg-1.ts"),
        "{head}"
    );
    assert!(
        head.contains("x-amz-content-sha256: unsigned-payload"),
        "{head}"
    );
    assert!(head.contains("x-amz-checksum-crc32:"), "{head}");
    assert!(!head.contains("aws-chunked"), "{head}");
    assert_eq!(sent, body.as_ref());
}
