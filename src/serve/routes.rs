//! Request routing: a pure function from request parts to a response, plus the auth wrapper.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::reload::Active;
use super::state::ServeState;

/// Prometheus text format 0.0.4, the format every Prometheus version scrapes.
pub(crate) const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Everything routing needs that does not change per connection.
pub(crate) struct Site {
    pub telemetry_path: String,
    pub landing: Bytes,
    pub state: ServeState,
}

impl Site {
    pub(crate) fn new(telemetry_path: &str, version: &str, state: ServeState) -> Self {
        Site {
            telemetry_path: telemetry_path.to_owned(),
            landing: Bytes::from(landing_page(version, telemetry_path)),
            state,
        }
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The toolkit-style landing page: name, version, and links to what a human might look for.
fn landing_page(version: &str, telemetry_path: &str) -> String {
    let v = escape(version);
    let m = escape(telemetry_path);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>RocketMQ Exporter</title>\n</head>\n<body>\n\
         <h1>RocketMQ Exporter</h1>\n\
         <p>Prometheus exporter for Apache RocketMQ that tells operators when a drained broker is safe to take offline.</p>\n\
         <p>Version: {v}</p>\n<ul>\n\
         <li><a href=\"{m}\">Metrics</a></li>\n\
         <li><a href=\"/-/healthy\">Health</a></li>\n\
         <li><a href=\"/-/ready\">Readiness</a></li>\n\
         </ul>\n</body>\n</html>\n"
    )
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Whether `Accept-Encoding` admits gzip (`gzip`, `x-gzip` or `*`, with a non-zero q).
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            if !(coding.eq_ignore_ascii_case("gzip")
                || coding.eq_ignore_ascii_case("x-gzip")
                || coding == "*")
            {
                return false;
            }
            // Reject only an explicit q=0 (q=0, q=0.0, q=0.000).
            !parts.any(|p| {
                let p = p.trim();
                p.len() > 2
                    && p[..2].eq_ignore_ascii_case("q=")
                    && p[2..].trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            })
        })
}

fn method_not_allowed() -> Response<Full<Bytes>> {
    let mut r = respond(StatusCode::METHOD_NOT_ALLOWED, TEXT, "Method Not Allowed\n");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}

/// Routes an authenticated request.
pub(crate) fn route(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    site: &Site,
) -> Response<Full<Bytes>> {
    let known =
        path == site.telemetry_path || path == "/" || path == "/-/healthy" || path == "/-/ready";
    if !known {
        return respond(StatusCode::NOT_FOUND, TEXT, "Not Found\n");
    }
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed();
    }
    if path == site.telemetry_path {
        return metrics(headers, &site.state);
    }
    match path {
        "/-/healthy" => respond(StatusCode::OK, TEXT, "Healthy.\n"),
        "/-/ready" if site.state.is_ready() => respond(StatusCode::OK, TEXT, "Ready.\n"),
        "/-/ready" => respond(
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            "Not ready: the first collection has not finished.\n",
        ),
        _ => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            site.landing.clone(),
        ),
    }
}

fn metrics(headers: &HeaderMap, state: &ServeState) -> Response<Full<Bytes>> {
    let guard = state.exposition.load();
    let Some(e) = guard.as_ref() else {
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            "No metrics yet: the first collection has not finished.\n",
        );
    };
    let gzip = accepts_gzip(headers);
    let mut r = respond(
        StatusCode::OK,
        METRICS_CONTENT_TYPE,
        if gzip { e.gzip.clone() } else { e.body.clone() },
    );
    if gzip {
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    r
}

/// Authenticates (when basic auth is configured), routes, and adds the configured headers.
pub(crate) async fn handle<B>(
    req: Request<B>,
    site: &Site,
    active: &Active,
) -> Response<Full<Bytes>> {
    if let Some(auth) = &active.auth {
        let h = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        if !auth.check(h).await {
            tracing::debug!(path = req.uri().path(), "basic auth failed");
            let mut r = respond(StatusCode::UNAUTHORIZED, TEXT, "Unauthorized\n");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"rocketmq-exporter\""),
            );
            add_headers(&mut r, active);
            return r;
        }
    }
    let mut r = route(req.method(), req.uri().path(), req.headers(), site);
    add_headers(&mut r, active);
    r
}

fn add_headers(r: &mut Response<Full<Bytes>>, active: &Active) {
    for (k, v) in active.headers.iter() {
        r.headers_mut().insert(k.clone(), v.clone());
    }
}

/// Lets tests build an [`Active`] without a config file.
#[cfg(test)]
pub(crate) fn plain_active() -> std::sync::Arc<Active> {
    super::reload::Reloader::new(None).unwrap().current()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::state::Exposition;

    fn site() -> Site {
        Site::new("/metrics", "1.2.3<b>", ServeState::new())
    }

    fn hm(ae: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(ae).unwrap());
        h
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(&hm("gzip")));
        assert!(accepts_gzip(&hm("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&hm("*")));
        assert!(accepts_gzip(&hm("x-gzip")));
        assert!(!accepts_gzip(&hm("gzip;q=0")));
        assert!(!accepts_gzip(&hm("gzip; q=0.000")));
        assert!(!accepts_gzip(&hm("identity")));
        assert!(!accepts_gzip(&hm("gzipper")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn routes_and_statuses() {
        let s = site();
        let none = HeaderMap::new();
        assert_eq!(route(&Method::GET, "/metrics", &none, &s).status(), 503);
        assert_eq!(route(&Method::GET, "/-/ready", &none, &s).status(), 503);
        assert_eq!(route(&Method::GET, "/-/healthy", &none, &s).status(), 200);
        assert_eq!(route(&Method::GET, "/nope", &none, &s).status(), 404);
        let r = route(&Method::POST, "/metrics", &none, &s);
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
        assert_eq!(
            route(&Method::DELETE, "/-/healthy", &none, &s).status(),
            405
        );
        s.state.publish(Exposition::new(b"up 1\n".to_vec()));
        let r = route(&Method::HEAD, "/metrics", &none, &s);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[header::CONTENT_TYPE], METRICS_CONTENT_TYPE);
        assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
        let r = route(&Method::GET, "/metrics", &hm("gzip"), &s);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(route(&Method::GET, "/-/ready", &none, &s).status(), 200);
    }

    #[test]
    fn landing_page_escapes_and_links() {
        let s = site();
        let page = std::str::from_utf8(&s.landing).unwrap();
        assert!(page.contains("<a href=\"/metrics\">"));
        assert!(page.contains("1.2.3&lt;b&gt;"));
        assert!(!page.contains("1.2.3<b>"));
    }

    #[tokio::test]
    async fn handle_without_auth_routes() {
        let s = site();
        let a = plain_active();
        let req = Request::builder().uri("/-/healthy").body(()).unwrap();
        assert_eq!(handle(req, &s, &a).await.status(), 200);
    }
}
