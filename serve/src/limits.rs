//! Requests over `--max-request-bytes` answer RESOURCE_EXHAUSTED, as gRPC specifies for a
//! message over the receiver's limit. tonic's decoder says OUT_OF_RANGE ("decoded message
//! length too large"), which a client reads as a bad argument; this layer renames that one
//! status, on the way out, before any handler could have run.

use crate::auth::BoxFuture;
use std::task::{Context, Poll};
use tonic::body::Body;

/// The text tonic's decoder puts in its OUT_OF_RANGE status (tonic 0.14, `codec/decode.rs`).
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large";

#[derive(Clone, Copy, Debug, Default)]
pub struct OversizeIsExhausted;

impl OversizeIsExhausted {
    /// Rewrites a trailers-only OUT_OF_RANGE from the decoder, leaving every other response.
    fn rewrite(&self, resp: &mut http::Response<Body>) {
        let Some(decoded) = tonic::Status::from_header_map(resp.headers()) else {
            return;
        };
        if decoded.code() != tonic::Code::OutOfRange {
            return;
        }
        // "…: found N bytes, the limit is: M bytes"
        let Some(sizes) = decoded.message().strip_prefix(TONIC_TOO_LARGE) else {
            return;
        };
        let status = tonic::Status::resource_exhausted(format!(
            "the request is larger than this server accepts ({}; --max-request-bytes)",
            sizes.trim_start_matches([':', ' '])
        ));
        let mut fresh = status.into_http::<Body>();
        let headers = resp.headers_mut();
        for name in ["grpc-status", "grpc-message"] {
            headers.remove(name);
            if let Some(v) = fresh.headers_mut().remove(name) {
                headers.insert(name, v);
            }
        }
    }
}

impl<S> tower::Layer<S> for OversizeIsExhausted {
    type Service = OversizeService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        OversizeService {
            inner,
            layer: *self,
        }
    }
}

#[derive(Clone)]
pub struct OversizeService<S> {
    inner: S,
    layer: OversizeIsExhausted,
}

impl<S, B> tower::Service<http::Request<B>> for OversizeService<S>
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
        let layer = self.layer;
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            layer.rewrite(&mut resp);
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: tonic::Status) -> http::Response<Body> {
        status.into_http()
    }

    #[test]
    fn only_the_decoders_out_of_range_is_renamed() {
        let l = OversizeIsExhausted;
        let mut r = response(tonic::Status::out_of_range(format!(
            "{TONIC_TOO_LARGE}: found 5000000 bytes, the limit is: 4194304 bytes"
        )));
        l.rewrite(&mut r);
        let s = tonic::Status::from_header_map(r.headers()).unwrap();
        assert_eq!(s.code(), tonic::Code::ResourceExhausted);
        assert!(
            s.message()
                .contains("(found 5000000 bytes, the limit is: 4194304 bytes;"),
            "{}",
            s.message()
        );
        // A handler's own OUT_OF_RANGE stays.
        let mut r = response(tonic::Status::out_of_range("step 9 of 4"));
        l.rewrite(&mut r);
        let s = tonic::Status::from_header_map(r.headers()).unwrap();
        assert_eq!(
            (s.code(), s.message()),
            (tonic::Code::OutOfRange, "step 9 of 4")
        );
    }
}
