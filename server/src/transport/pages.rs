//! The web client's files, built into the binary so that one file is all a deployment needs.
//! They are served gzipped when the browser accepts it, with an ETag so a return visit costs a 304.
//! With `--web-dir` (for working on the pages) they are read from that folder on every request instead.
//!
//! The service worker (`/sw.js`) is served with a first line that names this build: a version taken
//! from every file's contents, and the URLs to keep. A new binary is therefore a new worker, which
//! replaces the phones' cached pages in one go; the worker never has to guess what to keep.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use std::io::Write;
use std::path::PathBuf;

/// (URL path, file in `web-client/`, content type, contents built in).
type Page = (&'static str, &'static str, &'static str, &'static [u8]);

macro_rules! page {
    ($url:expr, $file:expr, $content_type:expr) => {
        ($url, $file, $content_type, include_bytes!(concat!("../../../web-client/", $file)) as &'static [u8])
    };
}

/// A file served at its own path: `asset!("room/chat.js", JS)` is `/room/chat.js`.
macro_rules! asset {
    ($file:literal, $content_type:expr) => {
        page!(concat!("/", $file), $file, $content_type)
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const MANIFEST: &str = "application/manifest+json";
const SVG: &str = "image/svg+xml";
const PNG: &str = "image/png";

/// The service worker's URL: served with its build line first (`worker_prelude`).
const SERVICE_WORKER: &str = "/sw.js";

/// Every file of `web-client/` that a browser loads. A test below checks that the list and the folder agree.
const PAGES: &[Page] = &[
    page!("/", "index.html", HTML),
    page!("/join", "join.html", HTML),
    page!("/room", "room.html", HTML),
    page!("/organiser", "organiser.html", HTML),
    page!("/display", "display.html", HTML),
    // The stylesheets: the one every page uses, then each page's own.
    asset!("base.css", CSS),
    asset!("join.css", CSS),
    asset!("room.css", CSS),
    asset!("organiser.css", CSS),
    asset!("display.css", CSS),
    // The modules the pages share.
    asset!("makeroom.js", JS),
    asset!("ui.js", JS),
    asset!("state.js", JS),
    asset!("views.js", JS),
    asset!("announcements.js", JS),
    asset!("skills.js", JS),
    // Welsh and English: the words of every page, one catalogue per language.
    asset!("i18n.js", JS),
    asset!("i18n/en.js", JS),
    asset!("i18n/cy.js", JS),
    asset!("output-editor.js", JS),
    // Each page's module, and the parts of the room and the console.
    asset!("join.js", JS),
    asset!("display.js", JS),
    asset!("room.js", JS),
    asset!("room/context.js", JS),
    asset!("room/status.js", JS),
    asset!("room/chat.js", JS),
    asset!("room/announcements.js", JS),
    asset!("room/help.js", JS),
    asset!("room/board.js", JS),
    asset!("room/brief.js", JS),
    asset!("room/teams.js", JS),
    asset!("room/schedule.js", JS),
    asset!("room/made.js", JS),
    asset!("room/presenting.js", JS),
    asset!("room/saved.js", JS),
    asset!("organiser.js", JS),
    asset!("organiser/context.js", JS),
    asset!("organiser/announcements.js", JS),
    asset!("organiser/show.js", JS),
    asset!("organiser/help.js", JS),
    asset!("organiser/schedule.js", JS),
    asset!("organiser/briefs.js", JS),
    asset!("organiser/people.js", JS),
    asset!("organiser/outputs.js", JS),
    asset!("organiser/joining.js", JS),
    asset!("organiser/displays.js", JS),
    asset!("organiser/export.js", JS),
    asset!("organiser/event.js", JS),
    // The installable app: its manifest, its icons, and the worker that keeps the pages for offline.
    asset!("manifest.webmanifest", MANIFEST),
    asset!("icon.svg", SVG),
    asset!("icon-192.png", PNG),
    asset!("icon-512.png", PNG),
    asset!("sw.js", JS),
];

/// A built-in file as it is served: its bytes, gzipped once, and an ETag, so a phone on venue wifi
/// downloads each page a quarter of its size, once, and afterwards only asks whether it changed.
struct Prepared {
    plain: Bytes,
    gzip: Option<Bytes>,
    etag: String,
}

fn content_hash<'a>(bodies: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for body in bodies {
        body.hash(&mut hasher);
    }
    hasher.finish()
}

/// Images are compressed already; only text is worth gzipping.
fn compressible(content_type: &str) -> bool {
    content_type != PNG
}

fn prepare(body: Bytes, content_type: &str) -> Prepared {
    let etag = format!("\"{:016x}\"", content_hash([&body[..]]));
    let gzip = if compressible(content_type) {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&body).and_then(|()| encoder.finish()).ok().map(Bytes::from)
    } else {
        None
    };
    Prepared { plain: body, gzip, etag }
}

/// The service worker's first line: `self.MAKEROOM_BUILD = {"version": …, "files": [every other URL]};`.
/// The version changes whenever any file does, so a phone's browser sees a new worker after an update.
fn worker_prelude<'a>(bodies: impl IntoIterator<Item = &'a [u8]>) -> String {
    let files: Vec<&str> = PAGES.iter().map(|&(url, _, _, _)| url).filter(|&url| url != SERVICE_WORKER).collect();
    let build = serde_json::json!({ "version": format!("{:016x}", content_hash(bodies)), "files": files });
    format!("self.MAKEROOM_BUILD = {build};\n")
}

/// The service worker with its build line, from the files as they are built in.
fn built_in_worker() -> Bytes {
    let prelude = worker_prelude(PAGES.iter().map(|&(_, _, _, body)| body));
    let worker = PAGES.iter().find(|&&(url, _, _, _)| url == SERVICE_WORKER).map_or(&[][..], |&(_, _, _, body)| body);
    Bytes::from([prelude.as_bytes(), worker].concat())
}

/// The service worker with its build line, from the files in `dir` as they are now.
async fn worker_from_disk(dir: &std::path::Path) -> std::io::Result<Bytes> {
    let mut bodies = Vec::with_capacity(PAGES.len());
    let mut worker = Vec::new();
    for &(url, file, _, _) in PAGES {
        let body = tokio::fs::read(dir.join(file)).await?;
        if url == SERVICE_WORKER {
            worker = body.clone();
        }
        bodies.push(body);
    }
    let prelude = worker_prelude(bodies.iter().map(Vec::as_slice));
    Ok(Bytes::from([prelude.as_bytes(), &worker[..]].concat()))
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
                        let dir = dir.clone();
                        async move {
                            let read = if url == SERVICE_WORKER {
                                worker_from_disk(&dir).await
                            } else {
                                tokio::fs::read(dir.join(file)).await.map(Bytes::from)
                            };
                            match read {
                                Ok(body) => respond(content_type).body(body),
                                Err(err) => {
                                    HttpResponse::NotFound().body(format!("{}: {err}", dir.join(file).display()))
                                }
                            }
                        }
                    }),
                );
            }
            None => {
                let body = if url == SERVICE_WORKER { built_in_worker() } else { Bytes::from_static(built_in) };
                let prepared = std::sync::Arc::new(prepare(body, content_type));
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
    use std::collections::BTreeSet;
    use std::io::Read;
    use std::path::Path;

    /// The endings of the files a browser loads.
    const SERVED: [&str; 6] = [".html", ".js", ".css", ".webmanifest", ".svg", ".png"];

    /// The files a browser could load from `dir`: pages, scripts, styles, the manifest and the icons,
    /// but not the tests or the tests' node_modules.
    fn web_files(root: &Path, dir: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("web-client/ is readable") {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_owned();
            if path.is_dir() {
                if name != "tests" && name != "node_modules" && !name.starts_with('.') {
                    web_files(root, &path, found);
                }
            } else if SERVED.iter().any(|ending| name.ends_with(ending)) {
                let relative = path.strip_prefix(root).expect("below web-client/");
                found.insert(relative.to_str().expect("a UTF-8 name").replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_web_client_file_is_served_and_every_served_file_exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client");
        let mut on_disk = BTreeSet::new();
        web_files(&root, &root, &mut on_disk);
        let served: BTreeSet<String> = PAGES.iter().map(|&(_, file, _, _)| file.to_owned()).collect();
        let missing: Vec<_> = on_disk.difference(&served).collect();
        let gone: Vec<_> = served.difference(&on_disk).collect();
        assert!(missing.is_empty(), "files of web-client/ without their row in PAGES: {missing:?}");
        assert!(gone.is_empty(), "rows of PAGES whose file is not in web-client/: {gone:?}");
        assert_eq!(served.len(), PAGES.len(), "a file is listed twice in PAGES");
    }

    #[test]
    fn each_file_has_its_content_type_and_scripts_and_styles_their_own_path() {
        for &(url, file, content_type, _) in PAGES {
            let expected = match file.rsplit('.').next() {
                Some("html") => HTML,
                Some("js") => JS,
                Some("css") => CSS,
                Some("webmanifest") => MANIFEST,
                Some("svg") => SVG,
                Some("png") => PNG,
                _ => panic!("{file}: an ending PAGES does not serve"),
            };
            assert_eq!(content_type, expected, "{file}");
            if !file.ends_with(".html") {
                assert_eq!(url, format!("/{file}"), "{file} is imported by its path, so it must be served there");
            }
        }
        let urls: BTreeSet<_> = PAGES.iter().map(|&(url, _, _, _)| url).collect();
        assert_eq!(urls.len(), PAGES.len(), "two files share a URL");
    }

    #[test]
    fn text_files_are_gzipped_once_and_come_back_intact() {
        for &(_, file, content_type, body) in PAGES {
            let prepared = prepare(Bytes::from_static(body), content_type);
            assert_eq!(prepare(Bytes::from_static(body), content_type).etag, prepared.etag, "the ETag is stable");
            if !compressible(content_type) {
                assert!(prepared.gzip.is_none(), "{file} is an image: sent as it is");
                continue;
            }
            let gzip = prepared.gzip.expect("compressed");
            assert!(gzip.len() < body.len() || body.len() < 200, "{file} did not shrink");
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&gzip[..]).read_to_end(&mut plain).expect("decompresses");
            assert_eq!(plain, body, "{file}");
        }
    }

    #[test]
    fn the_service_worker_names_every_other_file_and_a_version_that_follows_their_contents() {
        let worker = built_in_worker();
        let text = std::str::from_utf8(&worker).expect("UTF-8");
        let (first, rest) = text.split_once('\n').expect("a build line, then the worker");
        let json = first
            .strip_prefix("self.MAKEROOM_BUILD = ")
            .and_then(|line| line.strip_suffix(';'))
            .expect("the build line");
        let build: serde_json::Value = serde_json::from_str(json).expect("JSON");
        let files: BTreeSet<&str> =
            build["files"].as_array().expect("files").iter().map(|f| f.as_str().expect("a URL")).collect();
        let others: BTreeSet<&str> =
            PAGES.iter().map(|&(url, _, _, _)| url).filter(|&url| url != SERVICE_WORKER).collect();
        assert_eq!(files, others, "the worker keeps every page, script, style and icon, and not itself");
        assert!(rest.contains("MAKEROOM_BUILD"), "the worker itself follows");

        let version = |bodies: &[&[u8]]| {
            let line = worker_prelude(bodies.iter().copied());
            let build: serde_json::Value = serde_json::from_str(
                line.trim_end().trim_start_matches("self.MAKEROOM_BUILD = ").trim_end_matches(';'),
            )
            .expect("JSON");
            build["version"].as_str().expect("a version").to_owned()
        };
        assert_eq!(version(&[b"a", b"b"]), version(&[b"a", b"b"]), "the same files, the same version");
        assert_ne!(version(&[b"a", b"b"]), version(&[b"a", b"c"]), "a changed file, a new version");
        assert_eq!(
            build["version"].as_str(),
            Some(version(&PAGES.iter().map(|&(_, _, _, body)| body).collect::<Vec<_>>()).as_str())
        );
    }
}
