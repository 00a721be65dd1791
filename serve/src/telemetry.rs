//! Prometheus metrics: one registry per process, served as text at `/metrics` on the
//! plaintext health port, and the RPC layer every call passes (counts by method and code,
//! latencies by method). Each service registers its own series (runs, steps, ε, stages).

use crate::auth::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry};
use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::body::Body;

/// Labels of a series: (name, value) pairs.
pub type Labels = Vec<(&'static str, String)>;

type Buckets = fn() -> Histogram;

/// Most distinct `method` label values: a client sending random paths must not grow the
/// registry without bound (the rest count under `other`).
const MAX_METHODS: usize = 64;

/// The process's metrics. Cloning shares them.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Mutex<Registry>,
    rpcs: Family<Labels, Counter>,
    rpc_seconds: Family<Labels, Histogram, Buckets>,
    methods: Mutex<HashSet<String>>,
}

/// Latency buckets from 1 ms to about 4.7 h (RPCs range from a health check to a long
/// Evaluate stream).
pub fn seconds_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 4.0, 12))
}

impl Default for Telemetry {
    fn default() -> Self {
        let rpcs = Family::<Labels, Counter>::default();
        let rpc_seconds =
            Family::<Labels, Histogram, Buckets>::new_with_constructor(seconds_buckets as Buckets);
        let mut registry = Registry::with_prefix("triad");
        registry.register(
            "rpc_requests",
            "gRPC calls by method and final status code",
            rpcs.clone(),
        );
        registry.register(
            "rpc_duration_seconds",
            "gRPC call duration (to the end of its response stream) by method",
            rpc_seconds.clone(),
        );
        Telemetry {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                rpcs,
                rpc_seconds,
                methods: Mutex::default(),
            }),
        }
    }
}

impl Telemetry {
    /// Add a service's series (`name` gets the `triad_` prefix).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.inner
            .registry
            .lock()
            .expect("lock")
            .register(name, help, metric);
    }

    /// The text exposition format (version 0.0.4 / OpenMetrics text).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.inner.registry.lock().expect("lock");
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// The `method` label of a request path: `pkg.Service/Method`, or `other`.
    fn method(&self, path: &str) -> String {
        let m = path.trim_start_matches('/');
        let plausible = m.len() <= 128
            && m.split('/').count() == 2
            && m.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/'));
        if !plausible {
            return "other".into();
        }
        let mut seen = self.inner.methods.lock().expect("lock");
        if seen.contains(m) || seen.len() < MAX_METHODS {
            seen.insert(m.to_string());
            m.to_string()
        } else {
            "other".into()
        }
    }

    fn record(&self, method: &str, code: tonic::Code, seconds: f64) {
        let code = match code {
            tonic::Code::Ok => "OK".to_string(),
            c => format!("{c:?}"),
        };
        self.inner
            .rpcs
            .get_or_create(&vec![("method", method.to_string()), ("code", code)])
            .inc();
        self.inner
            .rpc_seconds
            .get_or_create(&vec![("method", method.to_string())])
            .observe(seconds);
    }
}

/// The layer that counts every call (outermost, so refused calls count too).
#[derive(Clone)]
pub struct RpcMetrics(pub Telemetry);

impl<S> tower::Layer<S> for RpcMetrics {
    type Service = RpcMetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            telemetry: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    telemetry: Telemetry,
}

impl<S, B> tower::Service<http::Request<B>> for RpcMetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let method = self.telemetry.method(req.uri().path());
        let telemetry = self.telemetry.clone();
        let started = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            let mut call = Call {
                telemetry,
                method,
                started,
                done: false,
            };
            // A trailers-only response (an error before any message) carries its status in
            // the headers; otherwise it comes in the trailers at the end of the body.
            if let Some(s) = tonic::Status::from_header_map(resp.headers()) {
                call.finish(s.code());
            }
            Ok(resp.map(|body| Body::new(Metered { inner: body, call })))
        })
    }
}

/// One call being measured; recorded once, when its status is known (or it is dropped).
struct Call {
    telemetry: Telemetry,
    method: String,
    started: Instant,
    done: bool,
}

impl Call {
    fn finish(&mut self, code: tonic::Code) {
        if !self.done {
            self.done = true;
            let s = self.started.elapsed().as_secs_f64();
            self.telemetry.record(&self.method, code, s);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // The body went away before its trailers: the client left.
        self.finish(tonic::Code::Cancelled);
    }
}

/// A response body that reads the final status from the trailers as they pass.
struct Metered {
    inner: Body,
    call: Call,
}

impl http_body::Body for Metered {
    type Data = <Body as http_body::Body>::Data;
    type Error = <Body as http_body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(t) = frame.trailers_ref() {
                    let code =
                        tonic::Status::from_header_map(t).map_or(tonic::Code::Ok, |s| s.code());
                    self.call.finish(code);
                }
            }
            Poll::Ready(Some(Err(_))) => self.call.finish(tonic::Code::Internal),
            Poll::Ready(None) => self.call.finish(tonic::Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The router of the health port: gRPC health, and `/metrics` over plain HTTP/1.1 or h2c.
pub fn health_routes(
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
    telemetry: Telemetry,
) -> tonic::service::Routes {
    let metrics = axum::routing::get(move || {
        let text = telemetry.encode();
        async move {
            (
                [(
                    http::header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                text,
            )
        }
    });
    let router = tonic::service::Routes::new(health)
        .into_axum_router()
        .route("/metrics", metrics);
    tonic::service::Routes::from(router)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::gauge::Gauge;

    #[test]
    fn series_are_encoded_and_methods_are_bounded() {
        let t = Telemetry::default();
        let g = Gauge::<i64>::default();
        t.register("trainer_queue_length", "runs waiting", g.clone());
        g.set(3);
        t.record("triad.v1.Trainer/StartRun", tonic::Code::Ok, 0.01);
        t.record(
            "triad.v1.Trainer/StartRun",
            tonic::Code::InvalidArgument,
            0.01,
        );
        let text = t.encode();
        assert!(text.contains("triad_trainer_queue_length 3"), "{text}");
        assert!(
            text.contains(
                "triad_rpc_requests_total{method=\"triad.v1.Trainer/StartRun\",code=\"OK\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("code=\"InvalidArgument\"} 1"), "{text}");
        assert!(
            text.contains(
                "triad_rpc_duration_seconds_count{method=\"triad.v1.Trainer/StartRun\"} 2"
            ),
            "{text}"
        );
        assert_eq!(t.method("/../etc/passwd"), "other");
        for i in 0..200 {
            t.method(&format!("/x.Y/M{i}"));
        }
        assert_eq!(t.method("/x.Y/M199"), "other");
        assert_eq!(t.method("/x.Y/M0"), "x.Y/M0");
    }
}
