//! Requests over `--max-request-bytes` answer RESOURCE_EXHAUSTED, as gRPC specifies for a
//! message over the receiver's limit. tonic's decoder says OUT_OF_RANGE ("decoded message
//! length too large"), which a client reads as a bad argument; this layer renames that one
//! status, on the way out, before any handler could have run.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::body::Body;

/// The text tonic's decoder puts in its OUT_OF_RANGE status (tonic 0.14, `codec/decode.rs`).
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large";

#[derive(Clone, Copy, Debug, Default)]
pub struct OversizeIsExhausted;

impl OversizeIsExhausted {
    /// Rewrites a trailers-only OUT_OF_RANGE from the decoder, leaving every other response.
    fn rewrite(&self, resp: &mut http::Response<Body>) {
        let h = resp.headers();
        if h.get("grpc-status").is_none_or(|v| v != "11") {
            return;
        }
        let message = h
            .get("grpc-message")
            .map(|v| percent_decoded(v.as_bytes()))
            .unwrap_or_default();
        // "…: found N bytes, the limit is: M bytes"
        let Some(sizes) = message.strip_prefix(TONIC_TOO_LARGE) else {
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

/// grpc-message is percent-encoded; only the ASCII prefix matters here.
fn percent_decoded(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (raw[i], raw.get(i + 1).copied(), raw.get(i + 2).copied()) {
            (b'%', Some(a), Some(b)) if hex(a).is_some() && hex(b).is_some() => {
                out.push((hex(a).unwrap_or(0) * 16 + hex(b).unwrap_or(0)) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

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
