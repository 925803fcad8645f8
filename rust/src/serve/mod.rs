//! The HTTP server: hyper 1 on a tokio current-thread runtime, on one thread of its own.
//!
//! Started only when asked (never at import, so never before a fork), it binds synchronously so
//! a taken port is an error for the caller, not a log line. A registry of core collectors only
//! is rendered on the server thread: it takes a few hundred microseconds (the filesystem
//! collector bounds statfs at 5 s), and handing it to another thread and back cost a tenth of
//! a node scrape. A registry that runs Python code (a `collect()`, `set_function`) renders on
//! tokio's blocking pool, so `/health` and the accept loop never wait for that code. A panic
//! while rendering becomes a 500, never a dead server.

pub mod web_config;

pub use web_config::WebConfig;

use crate::encode;
use crate::error::{Error, Result};
use crate::registry::Options;
use crate::registry::Registry;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, VARY, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Request headers past this size are refused (431): a scrape's are a few hundred bytes.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How long an idle render thread waits for the next scrape before exiting (past the slowest
/// usual scrape interval).
const RENDER_THREAD_KEEP_ALIVE: Duration = Duration::from_secs(600);

const LANDING_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>obsagent</title></head><body>\n<h1>obsagent</h1>\n\
<p>A metrics agent for Python services.</p>\n<ul>\n<li><a href=\"/metrics\">Metrics</a></li>\n\
<li><a href=\"/health\">Health</a></li>\n</ul>\n</body></html>\n";

/// What keeps the server up under load and against slow or hostile clients.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Scrapes rendered at once; more get 503 (node_exporter's `--web.max-requests`; 0: no limit).
    pub max_requests: usize,
    /// How long a client may take to send a request's headers, and the longest a kept-alive
    /// connection waits for its next request; slower ones are closed (slowloris).
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_requests: 40, header_read_timeout: Duration::from_secs(10) }
    }
}

struct State {
    registry: Arc<Registry>,
    options: Options,
    started: Instant,
    limits: Limits,
    /// Permits for concurrent scrapes, when they are limited.
    scrapes: Option<Arc<tokio::sync::Semaphore>>,
    /// TLS, basic auth and headers (`--web.config.file`), when given.
    web: Option<Arc<WebConfig>>,
}

/// A running server; [`ServerHandle::stop`] (or dropping it) shuts it down.
pub struct ServerHandle {
    address: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// The address actually bound (with the real port when 0 was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, drops open connections and joins the server thread.
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The address to listen on for `host` (a name, an IPv4 address, or an IPv6 one with or
/// without brackets) and `port`.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let invalid = |detail: String| Error::InvalidValue(format!("cannot resolve listen address {host:?}: {detail}"));
    (host, port)
        .to_socket_addrs()
        .map_err(|err| invalid(err.to_string()))?
        .next()
        .ok_or_else(|| invalid("no address".into()))
}

/// Binds `address` and serves `registry` on a new thread, over TLS and with basic auth when
/// `web` says so.
pub fn start(
    address: SocketAddr,
    registry: Arc<Registry>,
    options: Options,
    limits: Limits,
    web: Option<WebConfig>,
) -> Result<ServerHandle> {
    let listener = std::net::TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // Render threads outlive the gap between scrapes, so a scrape doesn't pay for a new
        // thread (and, with Python collectors, a new Python thread state).
        .thread_keep_alive(RENDER_THREAD_KEEP_ALIVE)
        .build()?;
    let (shutdown, stopped) = tokio::sync::oneshot::channel();
    let scrapes = (limits.max_requests > 0).then(|| Arc::new(tokio::sync::Semaphore::new(limits.max_requests)));
    let web = web.map(Arc::new);
    let state = Arc::new(State { registry, options, started: Instant::now(), limits, scrapes, web });
    let thread = std::thread::Builder::new()
        .name("obsagent-http".into())
        .spawn(move || runtime.block_on(accept_loop(listener, state, stopped)))?;
    Ok(ServerHandle { address, shutdown: Some(shutdown), thread: Some(thread) })
}

async fn accept_loop(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors and the like: back off briefly instead of spinning.
                Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue; }
            },
        };
        let state = state.clone();
        match state.web.as_ref().and_then(|web| web.tls.clone()) {
            None => {
                tokio::spawn(serve_connection(stream, state));
            }
            Some(tls) => {
                tokio::spawn(async move {
                    // A failed handshake (plain HTTP, no client certificate) only ends this connection.
                    let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
                    if let Ok(Ok(stream)) = tokio::time::timeout(state.limits.header_read_timeout, handshake).await {
                        serve_connection(stream, state).await;
                    }
                });
            }
        }
    }
}

async fn serve_connection<I>(io: I, state: Arc<State>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let timeout = state.limits.header_read_timeout;
    let service = hyper::service::service_fn(move |request| respond(state.clone(), request));
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .await;
}

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn respond<B>(state: Arc<State>, request: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let Some(web) = state.web.clone() else { return Ok(route(state, request).await) };
    if web.requires_auth() {
        let authorization = request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let passed = match web.remembered(authorization.as_deref()) {
            Some(passed) => passed,
            // bcrypt takes ~100 ms by design: not on the thread that serves everyone.
            None => {
                let web = web.clone();
                tokio::task::spawn_blocking(move || web.authorized(authorization.as_deref())).await.unwrap_or(false)
            }
        };
        if !passed {
            let mut response = text(StatusCode::UNAUTHORIZED, "text/plain; charset=utf-8", "Unauthorized\n");
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            return Ok(with_headers(response, &web));
        }
    }
    Ok(with_headers(route(state, request).await, &web))
}

fn with_headers(mut response: Response<Full<Bytes>>, web: &WebConfig) -> Response<Full<Bytes>> {
    for (name, value) in &web.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

async fn route<B>(state: Arc<State>, request: Request<B>) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    let path = request.uri().path();
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, PLAIN, "Method Not Allowed: use GET or HEAD\n");
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    // Why a scrape now would be refused (all `--web.max-requests` permits taken), if it would.
    let scrape_refusal = || match &state.scrapes {
        Some(scrapes) if scrapes.available_permits() == 0 => {
            Some(format!("{} scrapes are already running", state.limits.max_requests))
        }
        _ => None,
    };
    // UTC now as RFC 3339 with microseconds (days to a civil date: Howard Hinnant's algorithm).
    fn rfc3339_now() -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let (days, seconds) = ((now.as_secs() / 86_400) as i64, now.as_secs() % 86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let (h, m, s) = (seconds / 3_600, seconds / 60 % 60, seconds % 60);
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:06}+00:00", now.subsec_micros())
    }
    match path {
        "/metrics" => metrics(state, &request).await,
        "/" => text(StatusCode::OK, "text/html; charset=utf-8", LANDING_PAGE),
        "/health" => {
            // The shape of obsagent.health's /health (issue 16); the daemon's one check is
            // whether a scrape would be served now or refused for the concurrency limit.
            let (status, code, services, error) = match scrape_refusal() {
                None => ("healthy", StatusCode::OK, "connected", String::new()),
                Some(why) => {
                    ("unhealthy", StatusCode::SERVICE_UNAVAILABLE, "error", format!(",\"error\":\"scrape: {why}\""))
                }
            };
            let body = format!(
                "{{\"status\":\"{status}\",\"timestamp\":\"{}\",\"version\":\"{}\",\"uptime_seconds\":{:.3},\
                 \"services\":{{\"scrape\":\"{services}\"}}{error}}}\n",
                rfc3339_now(),
                env!("CARGO_PKG_VERSION"),
                state.started.elapsed().as_secs_f64()
            );
            text(code, "application/json", body)
        }
        // Liveness: the process answers; no checks, as Kubernetes components answer.
        "/livez" => text(StatusCode::OK, PLAIN, "ok\n"),
        "/readyz" | "/readyz/scrape" => {
            let verbose = path != "/readyz"
                || request
                    .uri()
                    .query()
                    .is_some_and(|q| q.split('&').any(|p| p == "verbose" || p.starts_with("verbose=")));
            match (scrape_refusal(), verbose) {
                (None, false) => text(StatusCode::OK, PLAIN, "ok\n"),
                (None, true) => text(StatusCode::OK, PLAIN, "[+]scrape ok\nreadyz check passed\n"),
                (Some(why), _) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    PLAIN,
                    format!("[-]scrape failed: {why}\nreadyz check failed\n"),
                ),
            }
        }
        "/-/healthy" => text(StatusCode::OK, PLAIN, "Healthy\n"),
        "/-/ready" => text(StatusCode::OK, PLAIN, "Ready\n"),
        _ => text(StatusCode::NOT_FOUND, PLAIN, "Not Found\n"),
    }
}

async fn metrics<B>(state: Arc<State>, request: &Request<B>) -> Response<Full<Bytes>> {
    let header = |name| request.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
    let exposition = encode::negotiate(header(ACCEPT).as_deref());
    let gzip = encode::accepts_gzip(header(ACCEPT_ENCODING).as_deref());
    let _permit = match &state.scrapes {
        Some(scrapes) => match scrapes.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                let limit = state.limits.max_requests;
                let message = format!("{limit} scrapes are already running\n");
                return text(StatusCode::SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", message);
            }
        },
        None => None,
    };
    let foreign_code = state.registry.runs_foreign_code();
    let mut options = state.options.clone();
    for (key, value) in query_pairs(request.uri().query().unwrap_or("")) {
        match key.as_str() {
            "collect[]" => options.collect.push(value),
            "exclude[]" => options.exclude.push(value),
            _ => {}
        }
    }
    let render = move || {
        encode::encode_exposition(&state.registry, &exposition, &options).map(|body| {
            if gzip {
                encode::gzip(&body)
            } else {
                body
            }
        })
    };
    let rendered = if foreign_code {
        tokio::task::spawn_blocking(render).await.map_err(drop)
    } else {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(render)).map_err(drop)
    };
    match rendered {
        Ok(Ok(body)) => {
            let mut response = text(StatusCode::OK, exposition.content_type, body);
            response.headers_mut().insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
            if gzip {
                response.headers_mut().insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Ok(Err(err)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            format!("error collecting metrics: {err}\n"),
        ),
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            "error collecting metrics: the encoder panicked\n",
        ),
    }
}

/// `key=value` pairs of a query string, percent-decoded (`collect%5B%5D=cpu` is `collect[]`).
fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key), percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_query_decodes_without_panicking_and_encoded_text_comes_back(query in any::<String>(), text in any::<String>()) {
            let _ = query_pairs(&query).count();
            let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
            prop_assert_eq!(percent_decode(&encoded), text);
        }
    }

    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        let pairs: Vec<_> = query_pairs("collect%5B%5D=cpu&collect[]=mem+info&exclude[]=%zz&x").collect();
        assert_eq!(
            pairs,
            vec![
                ("collect[]".into(), "cpu".into()),
                ("collect[]".into(), "mem info".into()),
                ("exclude[]".into(), "%zz".into()),
                ("x".into(), "".into()),
            ]
        );
    }
}
