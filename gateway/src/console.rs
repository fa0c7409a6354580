//! The web interview console: a few static files (HTML, CSS, ES modules) embedded in the
//! binary and served at `GET /` and `GET /console/{file}`, and the modules of the TypeScript
//! client library it runs on (`clients/typescript/src/`, the very files apps install) at
//! `GET /console/client/{file}`. In the source tree `gateway/console/client` is a symbolic link
//! to that folder, so that the console's `./client/...` imports resolve on disk (for `tsc`)
//! as they do in the browser.
//!
//! The console is a client of the public API like any other: it talks to the gateway only
//! through the REST endpoints and the session socket (with a ticket, since browsers cannot set
//! headers on a WebSocket), so nothing here knows about sessions. Only the files listed in
//! `FILES` are served; any other name is a 404. Responses carry `Cache-Control: no-cache`
//! (the browser revalidates, so a new binary's console is picked up at once). The page is
//! written for the Content-Security-Policy the router puts on every response
//! ([`crate::content_security_policy`]): no inline script or style, nothing from another
//! origin, sockets only to its own.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, PathParams};

/// One embedded file.
struct File {
    /// Its name under `/console/`.
    name: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its bytes, as compiled in.
    body: &'static str,
}

/// A file of `gateway/console/`, compiled in.
macro_rules! file {
    ($name:literal, $content_type:literal) => {
        File { name: $name, content_type: $content_type, body: include_str!(concat!("../console/", $name)) }
    };
}

/// A module of the TypeScript client (`clients/typescript/src/`), compiled in as `client/{name}`.
macro_rules! client {
    ($name:literal) => {
        File {
            name: concat!("client/", $name),
            content_type: "text/javascript; charset=utf-8",
            body: include_str!(concat!("../../clients/typescript/src/", $name)),
        }
    };
}

/// Every file the console consists of; `index.html` is also served at `/`.
const FILES: &[File] = &[
    file!("index.html", "text/html; charset=utf-8"),
    file!("style.css", "text/css; charset=utf-8"),
    file!("app.js", "text/javascript; charset=utf-8"),
    file!("api.js", "text/javascript; charset=utf-8"),
    file!("view.js", "text/javascript; charset=utf-8"),
    file!("voice.js", "text/javascript; charset=utf-8"),
    file!("mic-worklet.js", "text/javascript; charset=utf-8"),
    file!("favicon.svg", "image/svg+xml; charset=utf-8"),
    // What the console imports of the client (not `index.js`, nor `msgpack.js`, whose
    // `@msgpack/msgpack` import only a bundler or Node resolves).
    client!("api.js"),
    client!("connection.js"),
    client!("interview.js"),
    client!("model.js"),
];

/// `GET /`: the console's page.
pub async fn index() -> Response {
    serve(&FILES[0])
}

/// `GET /console/{*file}`: one of the console's files (`client/...` for the client's); 404 for
/// any other name.
pub async fn asset(PathParams(name): PathParams<String>) -> Result<Response, AppError> {
    FILES.iter().find(|f| f.name == name).map(serve).ok_or(AppError::NotFound)
}

fn serve(file: &File) -> Response {
    ([(header::CONTENT_TYPE, file.content_type), (header::CACHE_CONTROL, "no-cache")], file.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embedded(name: &str) -> bool {
        FILES.iter().any(|f| f.name == name)
    }

    #[test]
    fn files_have_plain_names_and_the_page_comes_first() {
        for file in FILES {
            assert!(!file.body.is_empty(), "{} is empty", file.name);
            let plain = file.name.strip_prefix("client/").unwrap_or(file.name);
            assert!(!plain.contains('/'), "{} must be a plain name (or client/ and one)", file.name);
        }
        assert_eq!(FILES[0].name, "index.html");
    }

    #[test]
    fn every_file_of_the_console_is_served_and_every_module_type_checked() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            // The type checker's settings (scripts/console.sh), not a part of the page; the
            // client's folder (its files are checked by the imports below).
            if name != "jsconfig.json" && name != "client" {
                assert!(embedded(&name), "console/{name} is not in FILES");
            }
        }
        for file in FILES.iter().filter(|f| f.name.ends_with(".js")) {
            assert!(file.body.starts_with("// @ts-check\n"), "{} must start with `// @ts-check`", file.name);
        }
    }

    #[test]
    fn the_page_and_its_modules_reference_only_embedded_files() {
        let html = FILES[0].body;
        for reference in html.split('"').filter(|s| s.starts_with("/console/")) {
            assert!(embedded(&reference["/console/".len()..]), "index.html references {reference}, not embedded");
        }
        for file in FILES.iter().filter(|f| f.name.ends_with(".js")) {
            // Relative to the importing file's folder: `client/` for the client's modules.
            let folder = file.name.rsplit_once('/').map_or(String::new(), |(dir, _)| format!("{dir}/"));
            for import in file.body.split('\'').filter(|s| s.starts_with("./") && s.ends_with(".js")) {
                let name = format!("{folder}{}", &import[2..]);
                assert!(embedded(&name), "{} imports {import}, not embedded", file.name);
            }
        }
        // The CSP (`script-src 'self'; style-src 'self'`) refuses inline code and styles.
        assert!(!html.contains("<script>"), "no inline scripts");
        assert!(!html.contains(" style="), "no inline styles");
        let handler = html.split(" on").skip(1).find(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(handler.is_none(), "no inline event handlers: on{}", handler.unwrap_or_default());
    }
}
