//! Headers every response carries, whatever route made it: the browser must not guess types
//! (`nosniff`), must not send Parley's URLs (which hold ids) to other sites, must not frame
//! Parley, and — when Parley is reached over HTTPS — must keep to HTTPS. A response that did not
//! choose a `Content-Security-Policy` (JSON, assets, errors, redirects) gets one that allows
//! nothing: none of them is a page meant to run anything. Pages and media set their own.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy of a response that is not a page: nothing loads, nothing runs, nothing frames it.
pub const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";
/// One year, the usual value; subdomains are the operator's to decide, so not included.
pub const HSTS: &str = "max-age=31536000";

/// Whether the browser reached Parley over HTTPS: the request's own scheme, or what the TLS
/// proxy in front of it says.
fn over_https(request: &Request) -> bool {
    request.uri().scheme_str() == Some("https") || crate::web::session::is_https(request.headers())
}

/// Adds the headers to `headers` where the route did not set them.
pub fn apply(headers: &mut HeaderMap, https: bool) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("same-origin"));
    headers.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(DEFAULT_CSP));
    if https {
        headers.entry(header::STRICT_TRANSPORT_SECURITY).or_insert(HeaderValue::from_static(HSTS));
    }
}

/// The middleware: see the module's doc.
pub async fn add(request: Request, next: Next) -> Response {
    let https = over_https(&request);
    let mut response = next.run(request).await;
    apply(response.headers_mut(), https);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_gaps_and_keep_what_a_route_chose() {
        let mut chosen = HeaderMap::new();
        chosen.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'self'"));
        apply(&mut chosen, false);
        assert_eq!(chosen[header::CONTENT_SECURITY_POLICY], "default-src 'self'");
        assert_eq!(chosen[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(chosen.get(header::STRICT_TRANSPORT_SECURITY).is_none());
        let mut bare = HeaderMap::new();
        apply(&mut bare, true);
        assert_eq!(bare[header::CONTENT_SECURITY_POLICY], DEFAULT_CSP);
        assert_eq!(bare[header::STRICT_TRANSPORT_SECURITY], HSTS);
        assert_eq!(bare[header::REFERRER_POLICY], "same-origin");
    }

    #[test]
    fn https_is_read_from_the_scheme_or_the_proxy() {
        let req = |proto: Option<&str>| {
            let mut b = Request::builder().uri("/x");
            if let Some(p) = proto {
                b = b.header("x-forwarded-proto", p);
            }
            b.body(axum::body::Body::empty()).unwrap()
        };
        assert!(!over_https(&req(None)));
        assert!(over_https(&req(Some("https"))));
        assert!(over_https(&req(Some("HTTPS, http"))));
        assert!(!over_https(&req(Some("http"))));
        assert!(over_https(&Request::builder().uri("https://p.example/x").body(axum::body::Body::empty()).unwrap()));
    }
}
