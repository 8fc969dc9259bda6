//! How a customer's file goes back to a browser. A WhatsApp customer chooses a file's bytes, its
//! declared type and its name: a "document" declared `text/html` or `image/svg+xml` would run its
//! script on Parley's origin, with the agent's session, if it were served as it was declared.
//!
//! So only types that cannot script are served inline (raster images, audio, video: what the
//! thread shows in `<img>`, `<audio>` and `<video>`), under their canonical type. Everything else
//! is an attachment: `application/octet-stream`, `Content-Disposition: attachment` and a filename
//! made safe. PDF is an attachment too: a PDF viewer is a document with scripting of its own
//! (PDF JavaScript, forms, links), browsers differ in how they isolate it, and Chromium refuses to
//! show a PDF under the `sandbox` policy that every media response carries anyway. Every media
//! response also says `nosniff` (the browser must not guess HTML in an "image") and
//! `Cross-Origin-Resource-Policy: same-origin`.

use axum::http::{HeaderMap, HeaderValue, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The policy of a media response opened on its own: a sandboxed document that loads nothing
/// but itself (images and media viewers need their inline styles).
pub const MEDIA_CSP: &str = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'";

/// The type a file with this declared type is served inline under, if it may be: raster images,
/// audio and video. `None`: an attachment.
pub fn inline_type(declared: &str) -> Option<&'static str> {
    let essence = declared.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    Some(match essence.as_str() {
        "image/jpeg" | "image/jpg" | "image/pjpeg" => "image/jpeg",
        "image/png" => "image/png",
        "image/gif" => "image/gif",
        "image/webp" => "image/webp",
        "audio/aac" => "audio/aac",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" => "audio/mp4",
        "audio/mpeg" | "audio/mp3" => "audio/mpeg",
        "audio/amr" => "audio/amr",
        "audio/ogg" | "audio/opus" => "audio/ogg",
        "audio/wav" | "audio/x-wav" => "audio/wav",
        "video/mp4" => "video/mp4",
        "video/3gpp" => "video/3gpp",
        "video/webm" => "video/webm",
        _ => return None,
    })
}

/// An extension for a download named after the message, from the declared type.
fn extension(declared: Option<&str>) -> &'static str {
    let essence = declared.and_then(|d| d.split(';').next()).unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/csv" => "csv",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/vnd.ms-powerpoint" => "ppt",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "pptx",
        "application/zip" => "zip",
        "image/svg+xml" => "svg",
        "text/html" => "html",
        "image/webp" => "webp",
        _ => "bin",
    }
}

/// Characters kept as they are in `filename*`; everything else is percent-encoded.
const FILENAME_KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// The filename an attachment is offered under: the customer's name for it when it has one,
/// without path separators, control characters, quotes or leading dots, at most 120 characters;
/// otherwise `whatsapp-<message id>.<extension of the declared type>`.
pub fn safe_filename(given: Option<&str>, message_id: i64, declared: Option<&str>) -> String {
    let cleaned: String =
        given
            .unwrap_or("")
            .chars()
            .map(|c| {
                if c.is_control() || matches!(c, '/' | '\\' | '"' | ':' | '*' | '?' | '<' | '>' | '|') {
                    '_'
                } else {
                    c
                }
            })
            .take(120)
            .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() { format!("whatsapp-{message_id}.{}", extension(declared)) } else { cleaned.to_owned() }
}

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded name>` (RFC 6266).
pub fn attachment_disposition(filename: &str) -> HeaderValue {
    let ascii: String = filename
        .chars()
        .map(|c| if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' { c } else { '_' })
        .collect();
    let encoded = utf8_percent_encode(filename, FILENAME_KEEP);
    HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// The headers of a media response: inline under its canonical type, or an attachment.
pub fn media_headers(declared: Option<&str>, filename: impl FnOnce() -> String) -> HeaderMap {
    let mut headers = HeaderMap::new();
    match declared.and_then(inline_type) {
        Some(kind) => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline"));
        }
        None => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            headers.insert(header::CONTENT_DISPOSITION, attachment_disposition(&filename()));
        }
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(MEDIA_CSP));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_types_that_cannot_script_are_inline() {
        for (declared, served) in [
            ("image/jpeg", "image/jpeg"),
            ("IMAGE/PNG", "image/png"),
            ("audio/ogg; codecs=opus", "audio/ogg"),
            ("video/mp4", "video/mp4"),
            ("image/webp", "image/webp"),
        ] {
            assert_eq!(inline_type(declared), Some(served), "{declared}");
        }
        for declared in [
            "text/html",
            "image/svg+xml",
            "application/pdf",
            "application/xhtml+xml",
            "text/xml",
            "application/javascript",
            "text/plain",
            "multipart/x-mixed-replace",
            "image/svg+xml; charset=utf-8",
            "",
            "image/jpeg\u{0}text/html",
        ] {
            assert_eq!(inline_type(declared), None, "{declared}");
        }
    }

    #[test]
    fn attachments_get_a_harmless_name() {
        assert_eq!(safe_filename(Some("Invoice 42.pdf"), 7, Some("application/pdf")), "Invoice 42.pdf");
        assert_eq!(safe_filename(Some("../../etc/passwd"), 7, None), "_.._etc_passwd");
        assert_eq!(safe_filename(Some("a\"b\r\nc.html"), 7, None), "a_b__c.html");
        assert_eq!(safe_filename(Some("...hidden"), 7, None), "hidden");
        assert_eq!(safe_filename(Some("  "), 7, Some("text/html")), "whatsapp-7.html");
        assert_eq!(safe_filename(None, 9, Some("application/pdf; x=y")), "whatsapp-9.pdf");
        assert_eq!(safe_filename(None, 9, None), "whatsapp-9.bin");
        assert_eq!(safe_filename(Some(&"x".repeat(500)), 1, None).chars().count(), 120);
    }

    #[test]
    fn the_disposition_header_is_valid_for_any_name() {
        let h = attachment_disposition("Hóa đơn \"tháng\" 5.pdf");
        let text = h.to_str().unwrap();
        assert!(text.starts_with("attachment; filename=\"H_a __n _th_ng_ 5.pdf\""), "{text}");
        assert!(text.contains("filename*=UTF-8''H%C3%B3a%20%C4%91%C6%A1n%20%22th%C3%A1ng%22%205.pdf"), "{text}");
        let h = media_headers(Some("text/html"), || "x.html".into());
        assert_eq!(h[header::CONTENT_TYPE], "application/octet-stream");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(h[header::CONTENT_SECURITY_POLICY].to_str().unwrap().starts_with("sandbox"));
        let h = media_headers(Some("image/png"), || unreachable!("an inline file needs no name"));
        assert_eq!(h[header::CONTENT_DISPOSITION], "inline");
    }
}
