//! What `triad-trainer` and `triad-evaluator` share: logging set-up, `grpc.health.v1` health,
//! server reflection (v1 for grpcurl, v1alpha for grpcio's helpers), binding, announcing the
//! bound address, and shutdown on Ctrl-C.

pub mod auth;
pub mod security;

pub use auth::BearerAuth;
pub use security::{ClientArgs, ClientSecurity, Security, SecurityArgs};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tonic::transport::Server;
use tower::layer::util::{Identity, Stack};

/// The router services are added to: every call passes the bearer-token layer first.
pub type Routes = tonic::transport::server::Router<Stack<BearerAuth, Identity>>;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("--listen {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("{0}")]
    Security(String),
    #[error("probe: {0}")]
    Probe(String),
    #[error("--data-root {path}: {message}")]
    DataRoot { path: PathBuf, message: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The `--data-root` folder, absolute and with links resolved (paths in requests are
/// confined to it).
pub fn data_root(path: &Path) -> Result<PathBuf, ServeError> {
    let bad = |message: String| ServeError::DataRoot {
        path: path.to_path_buf(),
        message,
    };
    if !path.is_dir() {
        return Err(bad("not a directory".into()));
    }
    path.canonicalize().map_err(|e| bad(e.to_string()))
}

/// Log to stderr, filtered by `TRIAD_LOG` (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRIAD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Serve health, reflection and the services `add` puts on the router, on `listen`, until
/// Ctrl-C. `service` (e.g. `triad.v1.Evaluator`) is reported SERVING. The bound address is
/// printed on stdout as `listening on ADDR` (port 0 picks one) for whoever started us.
pub async fn serve(
    listen: SocketAddr,
    service: &str,
    security: &Security,
    add: impl FnOnce(Routes) -> Routes,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    println!("listening on {addr}");
    serve_on(listener, service, security, add, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// [`serve`] on a bound listener until `shutdown` completes (embedded services use this).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    service: &str,
    security: &Security,
    add: impl FnOnce(Routes) -> Routes,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(service, tonic_health::ServingStatus::Serving)
        .await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(triad_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    tracing::info!(
        addr = %listener.local_addr()?,
        service,
        tls = security.tls.is_some(),
        tokens = security.tokens.len(),
        "serving"
    );
    if let Some(addr) = security.health_listen {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let health_only = health_service.clone();
        tokio::spawn(async move {
            let r = Server::builder()
                .add_service(health_only)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l))
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "health endpoint stopped");
            }
        });
    }
    let mut builder = Server::builder();
    if let Some(tls) = &security.tls {
        builder = builder.tls_config(tls.clone())?;
    }
    if let Some(t) = security.request_timeout {
        builder = builder.timeout(t);
    }
    let router = builder
        .layer(BearerAuth::new(security.tokens.clone()))
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?);
    add(router)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await?;
    Ok(())
}

/// Ask the server listening on `listen` whether `service` is SERVING (for container health
/// checks: `triad-trainer --probe`). An unspecified address (`[::]`, `0.0.0.0`) is probed on
/// loopback.
pub async fn probe(listen: SocketAddr, service: &str) -> Result<(), ServeError> {
    use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient};
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv6() {
            std::net::Ipv6Addr::LOCALHOST.into()
        } else {
            std::net::Ipv4Addr::LOCALHOST.into()
        });
    }
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(ServeError::Transport)?
        .timeout(std::time::Duration::from_secs(5))
        .connect()
        .await?;
    let status = HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.to_string(),
        })
        .await
        .map_err(|s| ServeError::Probe(format!("{addr}: {}", s.message())))?
        .into_inner()
        .status;
    if status == ServingStatus::Serving as i32 {
        Ok(())
    } else {
        Err(ServeError::Probe(format!(
            "{addr}: {service} is not serving"
        )))
    }
}
