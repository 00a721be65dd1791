//! Every status a client receives carries at most [`MAX_MESSAGE_BYTES`] of message, whoever
//! built it: a handler quoting a request value, a library error, tonic itself. This layer cuts
//! longer messages on the way out, in a trailers-only response's headers and in a stream's
//! trailers alike (the one place no status gets past).

use crate::auth::BoxFuture;
use crate::status::{cap, MAX_MESSAGE_BYTES};
use http::HeaderMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::body::Body;

/// Caps `grpc-message` in `headers`, if there is one over the limit.
fn cap_headers(headers: &mut HeaderMap) {
    // Percent-encoding only lengthens: a short header holds a short message.
    if headers
        .get("grpc-message")
        .is_none_or(|v| v.len() <= MAX_MESSAGE_BYTES)
    {
        return;
    }
    let Some(status) = tonic::Status::from_header_map(headers) else {
        return;
    };
    let mut fresh = HeaderMap::new();
    if cap(status).add_header(&mut fresh).is_ok() {
        if let Some(m) = fresh.remove("grpc-message") {
            headers.insert("grpc-message", m);
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct CapMessages;

impl<S> tower::Layer<S> for CapMessages {
    type Service = CapService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CapService { inner }
    }
}

#[derive(Clone)]
pub struct CapService<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for CapService<S>
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
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            cap_headers(resp.headers_mut());
            Ok(resp.map(|inner| Body::new(Capped { inner })))
        })
    }
}

/// A response body whose trailers are capped as they pass.
struct Capped<B> {
    inner: B,
}

impl<B: http_body::Body + Unpin> http_body::Body for Capped<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let mut polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &mut polled {
            if let Some(t) = frame.trailers_mut() {
                cap_headers(t);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    fn message(h: &HeaderMap) -> (tonic::Code, String) {
        let s = tonic::Status::from_header_map(h).unwrap();
        (s.code(), s.message().to_string())
    }

    #[test]
    fn long_messages_are_cut_in_headers_and_short_ones_left() {
        let mut h = HeaderMap::new();
        let long = tonic::Status::invalid_argument(format!("field `x`: `{}`", "ü".repeat(1 << 19)));
        long.add_header(&mut h).unwrap();
        assert!(h["grpc-message"].len() > 3 << 20);
        cap_headers(&mut h);
        let (code, m) = message(&h);
        assert_eq!(code, tonic::Code::InvalidArgument);
        assert!(
            m.len() <= MAX_MESSAGE_BYTES && m.starts_with("field `x`: `üü"),
            "{m}"
        );
        assert!(h["grpc-message"].len() <= 3 * MAX_MESSAGE_BYTES);
        let mut h = HeaderMap::new();
        tonic::Status::not_found("no file `a b`")
            .add_header(&mut h)
            .unwrap();
        cap_headers(&mut h);
        assert_eq!(message(&h).1, "no file `a b`");
    }

    /// A body that is only trailers.
    struct Trailers(Option<HeaderMap>);

    impl http_body::Body for Trailers {
        type Data = &'static [u8];
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
            Poll::Ready(self.0.take().map(|t| Ok(http_body::Frame::trailers(t))))
        }
    }

    #[tokio::test]
    async fn a_streams_trailers_are_cut() {
        let mut trailers = HeaderMap::new();
        tonic::Status::internal("z".repeat(1 << 20))
            .add_header(&mut trailers)
            .unwrap();
        let mut body = Capped {
            inner: Trailers(Some(trailers)),
        };
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .unwrap()
            .unwrap();
        let (code, m) = message(frame.trailers_ref().unwrap());
        assert_eq!(code, tonic::Code::Internal);
        assert!(m.len() <= MAX_MESSAGE_BYTES, "{} bytes", m.len());
    }
}
