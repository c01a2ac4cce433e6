//! The web client's files, built into the binary so that one file is all a deployment needs.
//! They are served gzipped when the browser accepts it, with an ETag so a return visit costs a 304.
//! With `--web-dir` (for working on the pages) they are read from that folder on every request instead.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use std::io::Write;
use std::path::PathBuf;

/// (URL path, file in `web-client/`, content type, contents built in).
type Page = (&'static str, &'static str, &'static str, &'static str);

macro_rules! page {
    ($url:expr, $file:expr, $content_type:expr) => {
        ($url, $file, $content_type, include_str!(concat!("../../../web-client/", $file)))
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const PAGES: &[Page] = &[
    page!("/", "index.html", HTML),
    page!("/join", "join.html", HTML),
    page!("/room", "room.html", HTML),
    page!("/organiser", "organiser.html", HTML),
    page!("/display", "display.html", HTML),
    page!("/style.css", "style.css", CSS),
    page!("/makeroom.js", "makeroom.js", JS),
    page!("/ui.js", "ui.js", JS),
    page!("/join.js", "join.js", JS),
    page!("/room.js", "room.js", JS),
    page!("/organiser.js", "organiser.js", JS),
    page!("/display.js", "display.js", JS),
    page!("/state.js", "state.js", JS),
    page!("/views.js", "views.js", JS),
    page!("/qr.js", "qr.js", JS),
];

/// A built-in file as it is served: its bytes, gzipped once, and an ETag, so a phone on venue wifi
/// downloads each page a quarter of its size, once, and afterwards only asks whether it changed.
struct Prepared {
    plain: Bytes,
    gzip: Option<Bytes>,
    etag: String,
}

fn prepare(body: &'static str) -> Prepared {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    let etag = format!("\"{:016x}\"", hasher.finish());
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let gzip = encoder.write_all(body.as_bytes()).and_then(|()| encoder.finish()).ok().map(Bytes::from);
    Prepared { plain: Bytes::from_static(body.as_bytes()), gzip, etag }
}

fn accepts_gzip(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|coding| coding.trim().starts_with("gzip")))
}

fn respond(content_type: &'static str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .content_type(content_type)
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("referrer-policy", "no-referrer"));
    response
}

pub fn routes(config: &mut web::ServiceConfig, web_dir: Option<PathBuf>) {
    for &(url, file, content_type, built_in) in PAGES {
        match web_dir.clone() {
            // Working on the pages: read from disk on every request, no caching.
            Some(dir) => {
                config.route(
                    url,
                    web::get().to(move || {
                        let path = dir.join(file);
                        async move {
                            match tokio::fs::read_to_string(&path).await {
                                Ok(text) => respond(content_type).body(text),
                                Err(err) => HttpResponse::NotFound().body(format!("{}: {err}", path.display())),
                            }
                        }
                    }),
                );
            }
            None => {
                let prepared = std::sync::Arc::new(prepare(built_in));
                config.route(
                    url,
                    web::get().to(move |request: HttpRequest| {
                        let prepared = prepared.clone();
                        async move {
                            let unchanged = request
                                .headers()
                                .get(header::IF_NONE_MATCH)
                                .and_then(|value| value.to_str().ok())
                                .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == prepared.etag));
                            if unchanged {
                                return HttpResponse::NotModified()
                                    .insert_header((header::ETAG, prepared.etag.clone()))
                                    .finish();
                            }
                            let mut response = respond(content_type);
                            response.insert_header((header::ETAG, prepared.etag.clone()));
                            response.insert_header((header::VARY, "Accept-Encoding"));
                            match &prepared.gzip {
                                Some(gzip) if accepts_gzip(&request) => {
                                    response.insert_header((header::CONTENT_ENCODING, "gzip")).body(gzip.clone())
                                }
                                _ => response.body(prepared.plain.clone()),
                            }
                        }
                    }),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn pages_are_gzipped_once_and_come_back_intact() {
        for &(_, file, _, body) in PAGES {
            let prepared = prepare(body);
            let gzip = prepared.gzip.expect("compressed");
            assert!(gzip.len() < body.len() || body.len() < 200, "{file} did not shrink");
            let mut plain = String::new();
            flate2::read::GzDecoder::new(&gzip[..]).read_to_string(&mut plain).expect("decompresses");
            assert_eq!(plain, body, "{file}");
            assert_eq!(prepare(body).etag, prepared.etag, "the ETag is stable");
        }
    }
}
