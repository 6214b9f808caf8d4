//! Requests that are not valid HTTP/1.1 get the JSON error shape too.
//!
//! actix-http's HTTP/1 dispatcher answers a request head its parser refuses
//! (raw bytes that are not ASCII in the request line, a target longer than
//! the 65,534 bytes a URI may have, a malformed header, a head over
//! 128 KiB) with a body-less 400 or 431 before any application code runs,
//! and has no hook to change that answer. [`ParseGuard`] sits between the
//! socket and the dispatcher and parses what the client sends first, with
//! the dispatcher's own codec, so both agree on where every request and
//! body begins and ends. The dispatcher is given only what the guard has
//! parsed whole (request heads, body chunks). A request head that cannot be
//! parsed is replaced by a request for [`REFUSED_PATH`] that closes the
//! connection: the dispatcher answers it in its turn, after the requests
//! before it, with the JSON error of [`refused`] — or not at all, when an
//! earlier answer already closed the connection. What follows the refused
//! head cannot be framed and is never read as requests.
//!
//! Only request *heads* are refused here. A body the parser refuses (broken
//! chunked framing) belongs to a request the application already has; it is
//! left to the dispatcher, as is everything after a request that closes the
//! connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use actix_codec::Decoder;
use actix_http::error::ParseError;
use actix_http::h1::{Codec, Message, MessageType};
use actix_web::http::StatusCode;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::api::error::ErrorBody;

/// The route the guard puts in place of a refused request head;
/// `{kind}` is `invalid` or `too_large`.
pub(crate) const REFUSED_PATH: &str = "/.pricesync/refused/{kind}";

/// How long, and how much, a refused connection's input is read and
/// dropped after the answer, so that closing it does not reset the
/// connection (and lose the answer) while the client is still sending.
const DRAIN_TIME: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 1 << 20;

/// A connection whose request heads are checked before the HTTP dispatcher
/// reads them.
pub(crate) struct ParseGuard<T> {
    io: T,
    /// Parsed bytes (whole heads, body chunks) the dispatcher has not read
    /// yet.
    ready: BytesMut,
    state: State,
    /// Whether refusals are logged at INFO (`PRICESYNC_ACCESS_LOG`).
    access_log: bool,
}

enum State {
    /// Every byte read is parsed by `shadow` before the dispatcher gets it.
    Watching {
        shadow: Box<Codec>,
        /// The bytes read and not parsed whole yet, as `shadow` consumes
        /// them.
        unparsed: BytesMut,
        /// The same bytes as received (the codec's parse consumes its own
        /// copy).
        raw: BytesMut,
        /// Whether `shadow` is inside a request body.
        in_body: bool,
    },
    /// Bytes pass through unchecked: after a request that closes the
    /// connection, or a body the parser refused.
    PassThrough,
    /// A request head could not be parsed, and the dispatcher has the
    /// refusal request in its place: nothing more is read until shutdown.
    Refused {
        /// The write half is closed; the client's input is being drained.
        closed: bool,
        drained: usize,
        deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

/// Why a request head was refused, as [`REFUSED_PATH`]'s `{kind}`.
fn refusal_kind(error: &ParseError) -> &'static str {
    match error {
        // A head over 128 KiB, or with more than 96 headers.
        ParseError::TooLarge => "too_large",
        _ => "invalid",
    }
}

/// The answer to a request for [`REFUSED_PATH`]. The messages are ours:
/// the parser's own say how it works inside (and actix reports a bad
/// request-line byte as a header error).
pub(crate) async fn refused(kind: actix_web::web::Path<String>) -> actix_web::HttpResponse {
    let (status, code, message) = match kind.as_str() {
        "too_large" => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_head_too_large",
            "the request head is too large: over 128 KiB, or more than 96 headers",
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request line or a header is not valid HTTP/1.1: the method must be a token, \
             the target ASCII (percent-encode other bytes) and at most 65,534 bytes long, the \
             version HTTP/1.0 or HTTP/1.1, and each header a name, a colon and a value",
        ),
    };
    actix_web::HttpResponse::build(status).json(ErrorBody::new(code, message.to_owned()))
}

impl<T> ParseGuard<T> {
    pub(crate) fn new(io: T, access_log: bool) -> Self {
        Self {
            io,
            ready: BytesMut::new(),
            state: State::Watching {
                shadow: Box::default(),
                unparsed: BytesMut::new(),
                raw: BytesMut::new(),
                in_body: false,
            },
            access_log,
        }
    }

    /// Parses `read`, the bytes just read, after those read before, and
    /// moves what is parsed whole to `ready`.
    fn check(&mut self, read: &[u8]) {
        let State::Watching {
            shadow,
            unparsed,
            raw,
            in_body,
        } = &mut self.state
        else {
            self.ready.extend_from_slice(read);
            return;
        };
        unparsed.extend_from_slice(read);
        raw.extend_from_slice(read);
        loop {
            let before = unparsed.len();
            let decoded = shadow.decode(unparsed);
            let parsed = before - unparsed.len();
            self.ready.extend_from_slice(&raw.split_to(parsed));
            match decoded {
                Ok(None) => return,
                Ok(Some(Message::Item(_))) => {
                    if !shadow.keep_alive() {
                        // The dispatcher closes the connection after this
                        // request; what follows is not its business.
                        self.ready.extend_from_slice(raw);
                        self.state = State::PassThrough;
                        return;
                    }
                    *in_body = !matches!(shadow.message_type(), MessageType::None);
                }
                Ok(Some(Message::Chunk(Some(_)))) => {}
                Ok(Some(Message::Chunk(None))) => *in_body = false,
                Err(_) if *in_body => {
                    self.ready.extend_from_slice(raw);
                    self.state = State::PassThrough;
                    return;
                }
                Err(error) => {
                    let kind = refusal_kind(&error);
                    self.log(kind);
                    self.ready.extend_from_slice(
                        format!(
                            "GET {} HTTP/1.1\r\nHost: pricesync\r\nConnection: close\r\n\r\n",
                            REFUSED_PATH.replace("{kind}", kind)
                        )
                        .as_bytes(),
                    );
                    self.state = State::Refused {
                        closed: false,
                        drained: 0,
                        deadline: None,
                    };
                    return;
                }
            }
        }
    }

    fn log(&self, kind: &str) {
        if self.access_log {
            tracing::info!(target: "pricesync::access", kind,
                "refused a request head the HTTP parser cannot read");
        } else {
            tracing::debug!(kind, "refused a request head the HTTP parser cannot read");
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ParseGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready[..n]);
                this.ready.advance(n);
                return Poll::Ready(Ok(()));
            }
            match this.state {
                State::PassThrough => return Pin::new(&mut this.io).poll_read(cx, buf),
                // The dispatcher has the refusal request, which closes the
                // connection: there is nothing more for it to read.
                State::Refused { .. } => return Poll::Pending,
                State::Watching { .. } => {}
            }
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // The end of the stream (a partial head the client never
                // finished is dropped with it).
                return Poll::Ready(Ok(()));
            }
            this.check(read.filled());
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ParseGuard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    /// On a refused connection, after closing the write half, what the
    /// client still sends is read and dropped until it closes, for at most
    /// [`DRAIN_TIME`] and [`DRAIN_BYTES`]: closing a socket with unread
    /// input resets the connection, and the client could lose the answer.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let State::Refused {
            closed,
            drained,
            deadline,
        } = &mut this.state
        else {
            return Pin::new(&mut this.io).poll_shutdown(cx);
        };
        if !*closed {
            ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            *closed = true;
        }
        let deadline = deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(DRAIN_TIME)));
        let mut chunk = [0u8; 8192];
        while *drained < DRAIN_BYTES {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut unread = ReadBuf::new(&mut chunk);
            match ready!(Pin::new(&mut this.io).poll_read(cx, &mut unread)) {
                Ok(()) if unread.filled().is_empty() => return Poll::Ready(Ok(())),
                Ok(()) => *drained += unread.filled().len(),
                // The client is gone: nothing more to protect.
                Err(_) => return Poll::Ready(Ok(())),
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Everything the dispatcher can read now: reads until one would wait
    /// (what the client wrote is already in the pipe) or the stream ends.
    async fn readable(guard: &mut ParseGuard<tokio::io::DuplexStream>) -> Vec<u8> {
        use futures_util::FutureExt;
        let mut seen = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match guard.read(&mut chunk).now_or_never() {
                None | Some(Ok(0)) => return seen,
                Some(Ok(n)) => seen.extend_from_slice(&chunk[..n]),
                Some(Err(e)) => panic!("read: {e}"),
            }
        }
    }

    const REFUSAL: &[u8] =
        b"GET /.pricesync/refused/invalid HTTP/1.1\r\nHost: pricesync\r\nConnection: close\r\n\r\n";

    #[actix_web::test]
    async fn a_refused_head_is_replaced_by_the_refusal_request_after_the_good_ones() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut guard = ParseGuard::new(server, false);
        let good = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        client.write_all(good).await.expect("write");
        client.write_all(b"GET /v1/").await.expect("write");
        // The good request; the start of the next head is held back.
        assert_eq!(readable(&mut guard).await, good);
        client
            .write_all(b"\xc3\xbc HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        assert_eq!(readable(&mut guard).await, REFUSAL);
        // The answer is written; closing drains what the client sent.
        guard
            .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            .await
            .expect("write");
        client.shutdown().await.expect("client done sending");
        guard.shutdown().await.expect("shutdown");
        let mut answers = Vec::new();
        client.read_to_end(&mut answers).await.expect("answers");
        assert_eq!(answers, b"HTTP/1.1 400 Bad Request\r\n\r\n");
    }

    #[actix_web::test]
    async fn bodies_pass_whatever_they_hold_and_the_next_request_is_checked() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut guard = ParseGuard::new(server, false);
        let body = b"\xff\xfe GET /\xc3\xbc HTTP/1.1\r\n\r\n";
        let head = format!(
            "POST /v1/pricing/cost HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let sent = [head.as_bytes(), &body[..5]].concat();
        client.write_all(&sent).await.expect("write");
        assert_eq!(readable(&mut guard).await, sent);
        let next = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        client
            .write_all(&[&body[5..], next, b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n"].concat())
            .await
            .expect("write");
        // The rest of the body and the good request, then the refusal.
        assert_eq!(
            readable(&mut guard).await,
            [&body[5..], next.as_slice(), REFUSAL].concat()
        );
    }

    #[actix_web::test]
    async fn a_head_over_the_limit_is_refused_as_too_large_without_reaching_the_dispatcher() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut guard = ParseGuard::new(server, false);
        let mut huge = b"GET /health HTTP/1.1\r\nX-Big: ".to_vec();
        huge.extend(std::iter::repeat_n(b'b', 200_000));
        client.write_all(&huge).await.expect("write");
        let seen = readable(&mut guard).await;
        assert_eq!(
            seen,
            b"GET /.pricesync/refused/too_large HTTP/1.1\r\nHost: pricesync\r\nConnection: close\r\n\r\n"
        );
    }
}
