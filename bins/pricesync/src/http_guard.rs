//! Requests that are not valid HTTP/1.1 get the JSON error shape too.
//!
//! actix-http's HTTP/1 dispatcher answers a request head its parser refuses
//! (raw bytes that are not ASCII in the request line, a target longer than
//! the 65,534 bytes a URI may have, a malformed header, a head over
//! 128 KiB) with a body-less 400 or 431 before any application code runs,
//! and has no hook to change that answer. [`ParseGuard`] sits between the
//! socket and the dispatcher and parses what the client sends a second
//! time, with the dispatcher's own codec, so both agree on where every
//! request and body begins and ends. When a request head cannot be parsed,
//! the dispatcher is shown the connection ending just before it (it answers
//! the requests before it as usual), and the guard then writes a JSON error
//! before closing the connection.
//!
//! Only request *heads* are refused here. A body the parser refuses (broken
//! chunked framing) belongs to a request the application already has; it is
//! left to the dispatcher, as is everything after a request that closes the
//! connection.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use actix_codec::Decoder;
use actix_http::error::ParseError;
use actix_http::h1::{Codec, Message, MessageType};
use actix_web::http::StatusCode;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::api::error::ErrorBody;

/// A connection whose request heads are checked before the HTTP dispatcher
/// reads them.
pub(crate) struct ParseGuard<T> {
    io: T,
    state: State,
    /// Whether refusals are logged at INFO (`PRICESYNC_ACCESS_LOG`).
    access_log: bool,
}

enum State {
    /// Every byte read is parsed by `shadow` before the dispatcher gets it.
    Watching {
        shadow: Box<Codec>,
        /// Bytes read that `shadow` has not consumed yet (a partial head or
        /// body chunk).
        unparsed: BytesMut,
        /// Whether `shadow` is inside a request body.
        in_body: bool,
    },
    /// Bytes pass through unchecked: after a request that closes the
    /// connection, or a body the parser refused.
    PassThrough,
    /// The next request head cannot be parsed: the dispatcher reads the end
    /// of the stream, and `answer` is written when it shuts the connection
    /// down.
    Refused {
        answer: Bytes,
        written: usize,
        /// Whether the answer is sent and the write half closed.
        sent: bool,
    },
}

impl<T> ParseGuard<T> {
    pub(crate) fn new(io: T, access_log: bool) -> Self {
        Self {
            io,
            state: State::Watching {
                shadow: Box::default(),
                unparsed: BytesMut::new(),
                in_body: false,
            },
            access_log,
        }
    }

    /// Parses `read`, the bytes just read, after those read before; returns
    /// how many of them the dispatcher may have (all of them, unless a
    /// request head in them cannot be parsed: then those before it).
    fn check(&mut self, read: &[u8]) -> usize {
        let State::Watching {
            shadow,
            unparsed,
            in_body,
        } = &mut self.state
        else {
            return read.len();
        };
        // Where `read` begins in `unparsed`, and how much of `unparsed` the
        // shadow has consumed in whole messages and body chunks.
        let start = unparsed.len();
        unparsed.extend_from_slice(read);
        let mut consumed: usize = 0;
        loop {
            let before = unparsed.len();
            match shadow.decode(unparsed) {
                Ok(None) => return read.len(),
                Ok(Some(Message::Item(_))) => {
                    if !shadow.keep_alive() {
                        // The dispatcher closes the connection after this
                        // request; it reads nothing after it.
                        self.state = State::PassThrough;
                        return read.len();
                    }
                    *in_body = !matches!(shadow.message_type(), MessageType::None);
                }
                Ok(Some(Message::Chunk(Some(_)))) => {}
                Ok(Some(Message::Chunk(None))) => *in_body = false,
                Err(_) if *in_body => {
                    self.state = State::PassThrough;
                    return read.len();
                }
                Err(error) => {
                    let (status, body) = refusal(&error);
                    self.log(status, &body.message);
                    self.state = State::Refused {
                        answer: answer(status, &body),
                        written: 0,
                        sent: false,
                    };
                    return consumed.saturating_sub(start);
                }
            }
            consumed += before - unparsed.len();
        }
    }

    fn log(&self, status: StatusCode, message: &str) {
        if self.access_log {
            tracing::info!(target: "pricesync::access", status = status.as_u16(), reason = %message,
                "refused a request the HTTP parser cannot read");
        } else {
            tracing::debug!(
                status = status.as_u16(),
                reason = %message,
                "refused a request the HTTP parser cannot read"
            );
        }
    }
}

/// The status and error body for a request head the parser refused. The
/// messages are ours: the parser's own say how it works inside.
fn refusal(error: &ParseError) -> (StatusCode, ErrorBody) {
    let (status, code, message) = match error {
        ParseError::TooLarge => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_head_too_large",
            "the request line and headers are larger than 128 KiB",
        ),
        ParseError::Method => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request method is not a valid HTTP method token",
        ),
        ParseError::Uri(_) => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request target is not a valid URI: it must be ASCII (percent-encode other \
             bytes) and at most 65,534 bytes long",
        ),
        ParseError::Version => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request's HTTP version is not HTTP/1.0 or HTTP/1.1",
        ),
        ParseError::Header => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a request header is malformed, repeated where it may not be, or one of more than \
             96 headers",
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request is not valid HTTP/1.1",
        ),
    };
    (status, ErrorBody::new(code, message.to_owned()))
}

/// A whole HTTP/1.1 answer that closes the connection.
fn answer(status: StatusCode, body: &ErrorBody) -> Bytes {
    let json = serde_json::to_vec(body).unwrap_or_default();
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Client Error"),
        json.len()
    )
    .into_bytes();
    answer.extend_from_slice(&json);
    Bytes::from(answer)
}

impl<T: AsyncRead + Unpin> AsyncRead for ParseGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.state {
            // The end of the stream, for the dispatcher.
            State::Refused { .. } => return Poll::Ready(Ok(())),
            State::PassThrough => return Pin::new(&mut this.io).poll_read(cx, buf),
            State::Watching { .. } => {}
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let keep = this.check(&buf.filled()[before..]);
        buf.set_filled(before + keep);
        Poll::Ready(Ok(()))
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

    /// The dispatcher has answered every request before a refused one: the
    /// refusal's answer goes last. Then what the client still sends is read
    /// and dropped until it closes (for at most the dispatcher's disconnect
    /// time-out): closing a socket with unread input resets the connection,
    /// and the client could lose the answer.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let State::Refused {
            answer,
            written,
            sent,
        } = &mut this.state
        else {
            return Pin::new(&mut this.io).poll_shutdown(cx);
        };
        if !*sent {
            while *written < answer.len() {
                let n = ready!(Pin::new(&mut this.io).poll_write(cx, &answer[*written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *written += n;
            }
            ready!(Pin::new(&mut this.io).poll_flush(cx))?;
            ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            *sent = true;
        }
        let mut scratch = [0u8; 8192];
        loop {
            let mut unread = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut this.io).poll_read(cx, &mut unread)) {
                Ok(()) if unread.filled().is_empty() => return Poll::Ready(Ok(())),
                Ok(()) => {}
                // The client is gone: nothing more to protect.
                Err(_) => return Poll::Ready(Ok(())),
            }
        }
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

    /// Everything the dispatcher can read until the guard ends the stream.
    async fn read_until_end(guard: &mut ParseGuard<tokio::io::DuplexStream>) -> Vec<u8> {
        let mut seen = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = guard.read(&mut chunk).await.expect("read");
            if n == 0 {
                return seen;
            }
            seen.extend_from_slice(&chunk[..n]);
        }
    }

    #[actix_web::test]
    async fn a_head_refused_in_a_later_read_ends_the_stream_before_it_and_is_answered_last() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut guard = ParseGuard::new(server, false);
        let good = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        client.write_all(good).await.expect("write");
        client.write_all(b"GET /v1/").await.expect("write");
        let mut chunk = [0u8; 1024];
        let n = guard.read(&mut chunk).await.expect("read");
        // The good request and the start of the next head, still valid.
        assert_eq!(&chunk[..n], [good.as_slice(), b"GET /v1/"].concat());
        client
            .write_all(b"\xc3\xbc HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        client.shutdown().await.expect("client done sending");
        assert_eq!(read_until_end(&mut guard).await, b"");
        guard
            .write_all(b"HTTP/1.1 200 OK\r\n\r\n")
            .await
            .expect("write");
        guard.shutdown().await.expect("shutdown");
        let mut answers = Vec::new();
        client.read_to_end(&mut answers).await.expect("answers");
        let answers = String::from_utf8(answers).expect("text");
        let (first, refusal) = answers.split_at("HTTP/1.1 200 OK\r\n\r\n".len());
        assert_eq!(first, "HTTP/1.1 200 OK\r\n\r\n");
        assert!(
            refusal.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{refusal}"
        );
        let body = refusal.split("\r\n\r\n").nth(1).expect("a body");
        let body: ErrorBody = serde_json::from_str(body).expect("the JSON error shape");
        assert_eq!(body.error, "invalid_request");
    }

    #[actix_web::test]
    async fn bodies_pass_whatever_they_hold_and_the_next_request_is_checked() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut guard = ParseGuard::new(server, false);
        let body = b"\xff\xfe GET /\xc3\xbc HTTP/1.1\r\n\r\n";
        let sent = [
            format!(
                "POST /v1/pricing/cost HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
            &body[..5],
        ]
        .concat();
        client.write_all(&sent).await.expect("write");
        let mut chunk = [0u8; 1024];
        let n = guard.read(&mut chunk).await.expect("read");
        assert_eq!(&chunk[..n], sent);
        let bad = b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n";
        let rest = [
            &body[5..],
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".as_slice(),
            bad,
        ]
        .concat();
        client.write_all(&rest).await.expect("write");
        client.shutdown().await.expect("client done sending");
        let passed = read_until_end(&mut guard).await;
        // The rest of the body and the good request, not the bad one.
        assert_eq!(passed, rest[..rest.len() - bad.len()]);
        assert!(matches!(guard.state, State::Refused { .. }));
    }
}
