//! The web client's files, built into the binary so that one file is all a deployment needs.
//! With `--web-dir` (for working on the pages) they are read from that folder on every request instead.

use actix_web::{HttpResponse, web};
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

pub fn routes(config: &mut web::ServiceConfig, web_dir: Option<PathBuf>) {
    for &(url, file, content_type, built_in) in PAGES {
        let web_dir = web_dir.clone();
        config.route(
            url,
            web::get().to(move || {
                let from_disk = web_dir.as_ref().map(|dir| dir.join(file));
                async move {
                    let body = match from_disk {
                        Some(path) => match tokio::fs::read_to_string(&path).await {
                            Ok(text) => text,
                            Err(err) => {
                                return HttpResponse::NotFound().body(format!("{}: {err}", path.display()));
                            }
                        },
                        None => built_in.to_string(),
                    };
                    HttpResponse::Ok()
                        .content_type(content_type)
                        .insert_header(("cache-control", "no-cache"))
                        .insert_header(("x-content-type-options", "nosniff"))
                        .insert_header(("referrer-policy", "no-referrer"))
                        .body(body)
                }
            }),
        );
    }
}
