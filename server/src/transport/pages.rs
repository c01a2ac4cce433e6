//! The web client's files, built into the binary so that one file is all a deployment needs.

use actix_web::{HttpResponse, web};

/// (path, content type, contents) of every file served from `web-client/`.
const FILES: &[(&str, &str, &str)] = &[(
    "/",
    "text/html; charset=utf-8",
    include_str!("../../../web-client/index.html"),
)];

pub fn routes(config: &mut web::ServiceConfig) {
    for (path, content_type, body) in FILES {
        config.route(
            path,
            web::get().to(move || async move {
                HttpResponse::Ok()
                    .content_type(*content_type)
                    .insert_header(("cache-control", "no-cache"))
                    .insert_header(("x-content-type-options", "nosniff"))
                    .body(*body)
            }),
        );
    }
}
