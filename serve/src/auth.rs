//! Bearer-token authentication as a tower layer: every call but the health checks must carry
//! `authorization: Bearer <token>` with one of the configured tokens, compared in constant
//! time. Without tokens the layer lets everything through.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use subtle::ConstantTimeEq;
use tonic::body::Body;

/// Paths callable without a token (Kubernetes probes carry none).
const OPEN: &[&str] = &["/grpc.health.v1.Health/"];

#[derive(Clone, Default)]
pub struct BearerAuth {
    tokens: Arc<Vec<Vec<u8>>>,
}

impl BearerAuth {
    pub fn new(tokens: Vec<String>) -> Self {
        BearerAuth {
            tokens: Arc::new(tokens.into_iter().map(String::into_bytes).collect()),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Whether `header` (the `authorization` value) names a configured token. Every token is
    /// compared, whatever matched, so timing does not tell which prefix was right.
    pub fn allows(&self, header: Option<&[u8]>) -> bool {
        let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        let mut ok = subtle::Choice::from(0);
        for t in self.tokens.iter() {
            ok |= t.as_slice().ct_eq(given);
        }
        ok.into()
    }
}

impl<S> tower::Layer<S> for BearerAuth {
    type Service = BearerAuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        BearerAuthService {
            inner,
            auth: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct BearerAuthService<S> {
    inner: S,
    auth: BearerAuth,
}

/// What the layers' services return (shared with `limits`).
pub(crate) type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for BearerAuthService<S>
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
        let open = OPEN.iter().any(|p| req.uri().path().starts_with(p));
        let header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        if !self.auth.enabled() || open || self.auth.allows(header) {
            return Box::pin(self.inner.call(req));
        }
        let why = if header.is_none() {
            "missing bearer token (metadata `authorization: Bearer <token>`)"
        } else {
            "invalid bearer token"
        };
        tracing::warn!(path = req.uri().path(), why, "refused");
        let resp = tonic::Status::unauthenticated(why).into_http();
        Box::pin(async move { Ok(resp) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_tokens_pass() {
        let a = BearerAuth::new(vec!["s3cret".into(), "other".into()]);
        assert!(a.allows(Some(b"Bearer s3cret")));
        assert!(a.allows(Some(b"Bearer other")));
        assert!(!a.allows(Some(b"Bearer s3cre")));
        assert!(!a.allows(Some(b"Bearer s3cret2")));
        assert!(!a.allows(Some(b"s3cret")));
        assert!(!a.allows(None));
        assert!(!BearerAuth::default().enabled());
    }
}
