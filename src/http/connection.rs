//! Serving connections: hyper's HTTP/1.1 server under our own accept loop, because `axum::serve` has
//! no time limits on a connection. Each connection is closed when a request head takes longer than
//! `header_read_timeout_secs` from its first byte (slow-header clients), or when nothing arrives for
//! `keep_alive_idle_secs` while no request is in progress (just opened, or kept alive after a
//! response). At most `max_connections` are served at once: the accept loop stops accepting at the
//! cap, so more wait unaccepted in the kernel's listen backlog until one closes. On shutdown the loop
//! stops accepting, every connection finishes the request in hand and closes, and `serve` returns once
//! all have.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::settings::ServiceSettings;

/// The largest request head hyper buffers (line and headers); `limits::check_headers` answers 431
/// problem+json well below it, so only a head past this gets hyper's own bare 431.
pub const MAX_HEAD_BUFFER: usize = 64 << 10;
/// Headers hyper parses; `limits` refuses more than `limits::MAX_HEADERS` with 431 problem+json.
const MAX_PARSED_HEADERS: usize = 256;

/// The time limits on a connection that is not busy with a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionLimits {
    pub header_read: Duration,
    pub idle: Duration,
    pub max_connections: usize,
}

impl ConnectionLimits {
    pub fn from_settings(s: &ServiceSettings) -> Self {
        ConnectionLimits {
            header_read: Duration::from_secs(s.header_read_timeout_secs),
            idle: Duration::from_secs(s.keep_alive_idle_secs),
            max_connections: s.max_connections.max(1),
        }
    }
}

/// What a connection is doing, as its time limits see it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// No request in progress and no byte of the next one yet, since this instant.
    Waiting(Instant),
    /// The first bytes of a request head arrived at this instant; the head is not complete yet.
    ReadingHead(Instant),
    /// This many requests handed to the router whose responses are not finished; the request's own
    /// time limit applies, not the connection's.
    Busy(usize),
}

impl Phase {
    /// When the connection is to be closed if nothing changes (pure).
    fn deadline(self, limits: &ConnectionLimits) -> Option<Instant> {
        match self {
            Phase::Waiting(since) => Some(since + limits.idle),
            Phase::ReadingHead(since) => Some(since + limits.header_read),
            Phase::Busy(_) => None,
        }
    }
}

/// A connection's phase, shared by its reader (bytes arrived), its service (a request started, a
/// response finished) and its watchdog.
struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Activity {
    fn new(now: Instant) -> Arc<Self> {
        Arc::new(Activity {
            phase: Mutex::new(Phase::Waiting(now)),
            changed: Notify::new(),
        })
    }

    fn update(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().expect("phase lock");
        let next = f(*phase);
        if next != *phase {
            *phase = next;
            self.changed.notify_one();
        }
    }

    fn bytes_arrived(&self) {
        self.update(|p| match p {
            Phase::Waiting(_) => Phase::ReadingHead(Instant::now()),
            other => other,
        });
    }

    fn request_started(self: &Arc<Self>) -> BusyGuard {
        self.update(|p| match p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        });
        BusyGuard(self.clone())
    }

    /// Resolves when the connection has outlived its phase's time limit.
    async fn expired(&self, limits: ConnectionLimits) {
        loop {
            let deadline = self.phase.lock().expect("phase lock").deadline(&limits);
            match deadline {
                Some(at) if at <= Instant::now() => return,
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

/// Held from the moment a request reaches the router until its response body is finished (or dropped).
struct BusyGuard(Arc<Activity>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.update(|p| match p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Waiting(Instant::now()),
        });
    }
}

/// The socket, telling the connection's activity when bytes arrive.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// A response body that keeps its connection busy until it is finished or dropped.
struct GuardedBody {
    body: Body,
    _busy: BusyGuard,
}

impl hyper::body::Body for GuardedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The router for one connection: each request carries the client's address (`ConnectInfo`) and
/// keeps the connection busy until its response is finished.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    activity: Arc<Activity>,
    remote: SocketAddr,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnectionService {
    type Response = hyper::Response<GuardedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let busy = self.activity.request_started();
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(self.remote));
        let router = self.router.clone();
        Box::pin(async move {
            let response = router.oneshot(req).await?;
            Ok(response.map(|body| GuardedBody { body, _busy: busy }))
        })
    }
}

/// Serves `router` on `listener` until `stop` turns true; then stops accepting and returns once every
/// connection has finished its request in hand and closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true)
        .max_buf_size(MAX_HEAD_BUFFER)
        .max_headers(MAX_PARSED_HEADERS)
        // Our watchdog times the head from its first byte; hyper's timer would start on accept.
        .header_read_timeout(None);
    while !*stop.borrow() {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = stop.changed() => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted: the
                    // listener is fine; pause so a persistent error does not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let activity = Activity::new(Instant::now());
        let io = TokioIo::new(Watched {
            stream,
            activity: activity.clone(),
        });
        let service = ConnectionService {
            router: router.clone(),
            activity: activity.clone(),
            remote,
        };
        let connection = http.serve_connection(io, service);
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::pin!(connection);
            let mut stopping = false;
            loop {
                tokio::select! {
                    done = connection.as_mut() => {
                        if let Err(e) = done {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stop.changed(), if !stopping => {
                        stopping = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    _ = activity.expired(limits) => {
                        metrics::counter!("idv_connections_timed_out_total").increment(1);
                        tracing::debug!("closing a connection past its header-read or idle time limit");
                        break;
                    }
                }
            }
        });
    }
    // Every slot back: every connection closed.
    let _all = slots
        .acquire_many(limits.max_connections as u32)
        .await
        .expect("the semaphore is never closed");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_read: Duration::from_secs(2),
            idle: Duration::from_secs(5),
            max_connections: 4,
        }
    }

    #[test]
    fn each_phase_has_its_own_deadline_and_a_busy_connection_none() {
        let t = Instant::now();
        let l = limits();
        assert_eq!(Phase::Waiting(t).deadline(&l), Some(t + l.idle));
        assert_eq!(Phase::ReadingHead(t).deadline(&l), Some(t + l.header_read));
        assert_eq!(Phase::Busy(1).deadline(&l), None);
    }

    #[tokio::test]
    async fn the_phase_follows_bytes_requests_and_finished_responses() {
        let a = Activity::new(Instant::now());
        a.bytes_arrived();
        assert!(matches!(*a.phase.lock().unwrap(), Phase::ReadingHead(_)));
        let first = a.request_started();
        let second = a.request_started();
        a.bytes_arrived(); // the body: still busy
        assert_eq!(*a.phase.lock().unwrap(), Phase::Busy(2));
        drop(first);
        assert_eq!(*a.phase.lock().unwrap(), Phase::Busy(1));
        drop(second);
        assert!(matches!(*a.phase.lock().unwrap(), Phase::Waiting(_)));
    }

    /// Real time, short limits: within `slack` of the expected moment.
    fn near(elapsed: Duration, expected: Duration) -> bool {
        let slack = Duration::from_millis(150);
        elapsed + Duration::from_millis(5) >= expected && elapsed < expected + slack
    }

    fn short() -> ConnectionLimits {
        ConnectionLimits {
            header_read: Duration::from_millis(200),
            idle: Duration::from_millis(400),
            max_connections: 4,
        }
    }

    #[tokio::test]
    async fn an_idle_connection_expires_after_the_idle_limit_and_a_started_head_after_the_head_limit(
    ) {
        let l = short();
        let a = Activity::new(Instant::now());
        let started = Instant::now();
        a.expired(l).await;
        assert!(near(started.elapsed(), l.idle), "{:?}", started.elapsed());

        let a = Activity::new(Instant::now());
        let waiter = {
            let a = a.clone();
            tokio::spawn(async move { a.expired(l).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let head_started = Instant::now();
        a.bytes_arrived();
        waiter.await.unwrap();
        assert!(
            near(head_started.elapsed(), l.header_read),
            "{:?}",
            head_started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_busy_connection_never_expires_until_its_response_is_finished() {
        let l = short();
        let a = Activity::new(Instant::now());
        let busy = a.request_started();
        let waiter = {
            let a = a.clone();
            tokio::spawn(async move { a.expired(l).await })
        };
        tokio::time::sleep(l.idle * 2).await;
        assert!(!waiter.is_finished());
        let finished = Instant::now();
        drop(busy);
        waiter.await.unwrap();
        assert!(near(finished.elapsed(), l.idle), "{:?}", finished.elapsed());
    }
}
