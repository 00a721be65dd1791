//! What `triad-trainer` and `triad-evaluator` share: logging set-up, `grpc.health.v1` health,
//! server reflection (v1 for grpcurl, v1alpha for grpcio's helpers), binding, announcing the
//! bound address, and shutdown on Ctrl-C.
//!
//! Architecture and conventions: docs/design.md.

pub mod auth;
pub mod cap;
pub mod confine;
pub mod incident;
pub mod limits;
mod pem;
pub mod security;
pub mod status;
pub mod telemetry;

pub use auth::BearerAuth;
pub use cap::CapMessages;
pub use limits::OversizeIsExhausted;
pub use security::{ClientArgs, ClientSecurity, Security, SecurityArgs};
pub use status::status;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
pub use telemetry::Telemetry;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tower::layer::util::{Identity, Stack};

/// The router services are added to: every call passes the bearer-token layer first, an
/// oversized request is answered RESOURCE_EXHAUSTED, and no status message a client receives
/// is longer than [`status::MAX_MESSAGE_BYTES`].
pub type Routes = tonic::transport::server::Router<
    Stack<
        CapMessages,
        Stack<OversizeIsExhausted, Stack<BearerAuth, Stack<telemetry::RpcMetrics, Identity>>>,
    >,
>;

/// Whether the service can do its work (false: health says NOT_SERVING).
pub type Healthy = Arc<dyn Fn() -> bool + Send + Sync>;

/// How often health asks [`Served::healthy`].
const HEALTH_EVERY: Duration = Duration::from_secs(1);

/// What a binary serves: its gRPC service (named in health and reflection), how to tell
/// that it still works, and its metrics (at `/metrics` on the health port).
#[derive(Clone)]
pub struct Served {
    pub name: &'static str,
    pub healthy: Healthy,
    pub telemetry: Telemetry,
}

impl Served {
    /// `name` (e.g. `triad.v1.Trainer`), healthy while the process serves.
    pub fn new(name: &'static str) -> Self {
        Served {
            name,
            healthy: Arc::new(|| true),
            telemetry: Telemetry::default(),
        }
    }

    /// Serve these metrics (the service's own series registered in them).
    pub fn with_telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Health follows `healthy`, asked every second.
    pub fn healthy_when(mut self, healthy: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.healthy = Arc::new(healthy);
        self
    }
}

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
    service: Served,
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
    announce(&format!("listening on {addr}"));
    serve_on(listener, service, security, add, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// [`serve`] on a bound listener until `shutdown` completes (embedded services use this).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    served: Served,
    security: &Security,
    add: impl FnOnce(Routes) -> Routes,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    let service = served.name;
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(service, ServingStatus::Serving)
        .await;
    let watcher = tokio::spawn(follow_health(health, served.clone()));
    // Only this binary's service (and health) are advertised, though the descriptor set
    // holds both of Triad's.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(triad_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name(service)
            .with_service_name("grpc.health.v1.Health")
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
        // Printed like the main address, for whoever started us with port 0.
        announce(&format!("health on {}", l.local_addr()?));
        let routes = telemetry::health_routes(health_service.clone(), served.telemetry.clone());
        tokio::spawn(async move {
            let r = Server::builder()
                .accept_http1(true)
                .add_routes(routes)
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
        .layer(telemetry::RpcMetrics(served.telemetry.clone()))
        .layer(BearerAuth::new(security.tokens.clone()))
        .layer(OversizeIsExhausted)
        .layer(CapMessages)
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?);
    let served = add(router)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await;
    watcher.abort();
    served?;
    Ok(())
}

/// A line on stdout for whoever started us; a closed stdout is not an error worth dying for.
fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Keeps the service's health (and the server's, `""`) at what `served.healthy` says.
async fn follow_health(health: tonic_health::server::HealthReporter, served: Served) {
    let mut was = true;
    loop {
        tokio::time::sleep(HEALTH_EVERY).await;
        let now = (served.healthy)();
        if now == was {
            continue;
        }
        was = now;
        let status = if now {
            tracing::info!(service = served.name, "serving again");
            ServingStatus::Serving
        } else {
            tracing::error!(
                service = served.name,
                "not serving: the service reports itself stuck"
            );
            ServingStatus::NotServing
        };
        health.set_service_status(served.name, status).await;
        health.set_service_status("", status).await;
    }
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
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| ServeError::Probe(format!("{addr}: {e}")))?;
    let status = HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.to_string(),
        })
        .await
        .map_err(|s| {
            // A TLS port answers plaintext HTTP/2 with a broken connection.
            ServeError::Probe(format!(
                "{addr}: {} (the probe speaks plaintext: on a TLS server probe its \
                 --health-listen port, also read from TRIAD_HEALTH_LISTEN)",
                s.message()
            ))
        })?
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tonic_health::pb::{
        health_check_response::ServingStatus as S, health_client::HealthClient,
    };

    async fn status(addr: SocketAddr, service: &str) -> i32 {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status
    }

    async fn wait_for(addr: SocketAddr, service: &str, want: S) {
        let t = std::time::Instant::now();
        while status(addr, service).await != want as i32 {
            assert!(
                t.elapsed().as_secs() < 10,
                "{service} never became {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn health_follows_what_the_service_says_of_itself() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ok = Arc::new(AtomicBool::new(true));
        let flag = ok.clone();
        let served =
            Served::new("test.v1.Thing").healthy_when(move || flag.load(Ordering::Relaxed));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            serve_on(listener, served, &Security::default(), |r| r, async {
                let _ = stopped.await;
            })
            .await
        });
        wait_for(addr, "test.v1.Thing", S::Serving).await;
        ok.store(false, Ordering::Relaxed);
        wait_for(addr, "test.v1.Thing", S::NotServing).await;
        assert_eq!(status(addr, "").await, S::NotServing as i32);
        ok.store(true, Ordering::Relaxed);
        wait_for(addr, "test.v1.Thing", S::Serving).await;
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
