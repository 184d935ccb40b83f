//! The embedded S3-compatible store: s3s over a directory (s3s-fs), on a loopback port.
//! The ingests and the edge talk to it with aws-sdk-s3 over HTTP, as they talk to AWS.

use std::path::Path;

use hyper_util::rt::TokioIo;
use s3s::{auth::SimpleAuth, service::S3ServiceBuilder};
use tokio::net::TcpListener;
use tracing::{debug, info};

/// The local store's fixed credentials (loopback only).
pub const ACCESS_KEY: &str = "zonecast-local";
pub const SECRET_KEY: &str = "zonecast-local-secret";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("preparing data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("starting s3s-fs on {path}: {message}")]
    Fs { path: String, message: String },
}

/// Serves `data_dir` as S3 on `listener`; `bucket` is created as a directory if missing.
pub async fn serve_store(
    listener: TcpListener,
    data_dir: &Path,
    bucket: &str,
) -> Result<impl std::future::Future<Output = ()> + use<>, StoreError> {
    let bucket_dir = data_dir.join(bucket);
    std::fs::create_dir_all(&bucket_dir).map_err(|source| StoreError::DataDir {
        path: bucket_dir.display().to_string(),
        source,
    })?;
    let fs = s3s_fs::FileSystem::new(data_dir).map_err(|e| StoreError::Fs {
        path: data_dir.display().to_string(),
        message: format!("{e:?}"),
    })?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, dir = %data_dir.display(), "S3-compatible store listening");
    }
    Ok(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await
                {
                    debug!(error = %e, "store connection");
                }
            });
        }
    })
}
