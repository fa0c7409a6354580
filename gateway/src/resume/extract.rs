//! A résumé file's bytes → its text, normalized ([`viva_engine::resume::normalize`]): PDF
//! (pdf-extract over lopdf), DOCX (`word/document.xml` out of the ZIP, read with quick-xml),
//! Markdown and plain text (UTF-8).
//!
//! Pure and synchronous, and **meant to run in the child process** (`super::child`), never on
//! the gateway's threads: a PDF parser fed a hostile file may loop, allocate without bound or
//! panic. The caps here ([`Limits`]: pages, inflated size, text) make ordinary bad files fail
//! fast with a clear message; the child's resource limits are what hold against the rest.
//!
//! Why here and not in the engine: the engine takes text (`Engine::put_resume`) and stays a
//! library without PDF and ZIP parsers; parsing untrusted documents is only safe behind the
//! child-process bounds, which are the gateway binary's to give.

use std::io::{Cursor, Read};

use serde::{Deserialize, Serialize};
use viva_engine::resume::normalize;

/// The kinds of file taken, by media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `application/pdf`.
    Pdf,
    /// `application/vnd.openxmlformats-officedocument.wordprocessingml.document`.
    Docx,
    /// `text/markdown`.
    Markdown,
    /// `text/plain`.
    Text,
}

/// The DOCX media type.
pub const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [Kind::Pdf, Kind::Docx, Kind::Markdown, Kind::Text];

    /// The kind of a `Content-Type` header value (parameters ignored, but for a `charset` of
    /// text, which must be UTF-8), if it is one taken.
    pub fn of_content_type(content_type: &str) -> Option<Kind> {
        let mut parts = content_type.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        let kind = Self::ALL.into_iter().find(|kind| kind.media_type() == essence)?;
        for parameter in parts {
            let Some((name, value)) = parameter.split_once('=') else { continue };
            if name.trim().eq_ignore_ascii_case("charset") {
                let value = value.trim().trim_matches('"');
                let utf8 = value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8");
                let ascii = value.eq_ignore_ascii_case("us-ascii");
                if !(utf8 || ascii) {
                    return None;
                }
            }
        }
        Some(kind)
    }

    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Kind::Pdf => "application/pdf",
            Kind::Docx => DOCX,
            Kind::Markdown => "text/markdown",
            Kind::Text => "text/plain",
        }
    }

    /// A short name (the child's argument).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pdf => "pdf",
            Kind::Docx => "docx",
            Kind::Markdown => "markdown",
            Kind::Text => "text",
        }
    }

    /// The kind of a short name.
    pub fn of_name(name: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Caps on what a file may make the parser do, besides the child's resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most pages a PDF may have (a résumé has one to three).
    pub max_pages: usize,
    /// Most bytes a DOCX's `word/document.xml`, or a PDF's page contents together, may inflate
    /// to (measured through a bounded stream, so a size the file states or lies about changes
    /// nothing).
    pub max_inflated_bytes: u64,
    /// Most bytes of text kept (the rest is dropped and the text marked truncated; the engine
    /// keeps less still).
    pub max_text_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_pages: 30, max_inflated_bytes: 16 * 1024 * 1024, max_text_bytes: 256 * 1024 }
    }
}

/// A file's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    /// Normalized text.
    pub text: String,
    /// Whether text past [`Limits::max_text_bytes`] was dropped.
    pub truncated: bool,
}

/// Why a file's text cannot be read, for its uploader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// The message of a parse that ran out of memory (an allocation refused under the child's
/// limit that the parser reported rather than aborting on); the child says how much was allowed.
pub const OUT_OF_MEMORY: &str = "out of memory";

fn unreadable(message: impl Into<String>) -> Unreadable {
    Unreadable(message.into())
}

/// The text of `bytes`, a file of `kind`.
pub fn extract(kind: Kind, bytes: &[u8], limits: &Limits) -> Result<Extracted, Unreadable> {
    let (raw, markdown) = match kind {
        Kind::Pdf => (pdf_text(bytes, limits)?, false),
        Kind::Docx => (docx_text(bytes, limits)?, false),
        Kind::Markdown | Kind::Text => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            let text = std::str::from_utf8(bytes).map_err(|e| {
                unreadable(format!("the file is not UTF-8 text (a bad byte at offset {})", e.valid_up_to()))
            })?;
            (text.to_owned(), kind == Kind::Markdown)
        }
    };
    let text = normalize(&raw, markdown);
    if text.is_empty() {
        return Err(match kind {
            Kind::Pdf => unreadable(
                "the PDF has no text layer (a scanned image?): export it with text, or upload DOCX, Markdown or plain text",
            ),
            _ => unreadable("the file has no text"),
        });
    }
    let (text, truncated) = viva_engine::resume::cut_at_sentence(&text, limits.max_text_bytes);
    Ok(Extracted { text: text.to_owned(), truncated })
}

fn pdf_text(bytes: &[u8], limits: &Limits) -> Result<String, Unreadable> {
    let head = &bytes[..bytes.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(unreadable("not a PDF file (no %PDF- header)"));
    }
    let encrypted = || unreadable("the PDF is encrypted (password-protected): upload an unprotected copy");
    let mut document = match lopdf::Document::load_mem(bytes) {
        Ok(document) => document,
        Err(lopdf::Error::Decryption(_)) => return Err(encrypted()),
        Err(error) => return Err(unreadable(format!("the PDF is malformed: {error}"))),
    };
    // A document encrypted with an empty user password (only "owner" restrictions) reads.
    if document.is_encrypted() && document.decrypt("").is_err() {
        return Err(encrypted());
    }
    let pages = document.get_pages();
    if pages.is_empty() {
        return Err(unreadable("the PDF has no pages"));
    }
    if pages.len() > limits.max_pages {
        return Err(unreadable(format!(
            "the PDF has {} pages; a résumé of at most {} is read",
            pages.len(),
            limits.max_pages
        )));
    }
    page_contents_fit(&document, &pages, limits.max_inflated_bytes)?;
    let mut text = String::new();
    for &number in pages.keys() {
        let mut output = pdf_extract::PlainTextOutput::new(&mut text);
        pdf_extract::output_doc_page(&document, &mut output, number)
            .map_err(|error| unreadable(format!("page {number} of the PDF cannot be read: {error}")))?;
        text.push('\n');
        if text.len() > limits.max_text_bytes {
            break;
        }
    }
    Ok(text)
}

/// Whether the pages' content streams (what the text is read from) inflate to at most `cap`
/// bytes together, measured through a bounded stream before the parser inflates them whole:
/// a deflate bomb in a content stream is refused at the cap. (Images are never inflated: the
/// text does not need them.)
fn page_contents_fit(
    document: &lopdf::Document,
    pages: &std::collections::BTreeMap<u32, lopdf::ObjectId>,
    cap: u64,
) -> Result<(), Unreadable> {
    let too_big = || unreadable(format!("the PDF's pages inflate past {} MiB (a deflate bomb?)", cap / (1024 * 1024)));
    let mut total: u64 = 0;
    for &page in pages.values() {
        for id in document.get_page_contents(page) {
            let Ok(stream) = document.get_object(id).and_then(lopdf::Object::as_stream) else { continue };
            let filters = stream.filters().unwrap_or_default();
            let size = match filters.as_slice() {
                [] => stream.content.len() as u64,
                [b"FlateDecode"] => {
                    let decoder = flate2::read::ZlibDecoder::new(stream.content.as_slice());
                    inflated_size(decoder.take(cap.saturating_sub(total) + 1))
                }
                // Other filters (rare in content streams) are left to the memory limit.
                _ => 0,
            };
            total = total.saturating_add(size);
            if total > cap {
                return Err(too_big());
            }
        }
    }
    Ok(())
}

/// Bytes read from `reader` until its end or its first error (a stream that stops inflating is
/// the parser's to report; what came before it counts).
fn inflated_size(mut reader: impl Read) -> u64 {
    let mut chunk = [0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        match reader.read(&mut chunk) {
            Ok(0) | Err(_) => return size,
            Ok(n) => size += n as u64,
        }
    }
}

fn docx_text(bytes: &[u8], limits: &Limits) -> Result<String, Unreadable> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|error| unreadable(format!("not a DOCX file (it must be a ZIP archive): {error}")))?;
    let entry = match archive.by_name("word/document.xml") {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(unreadable("not a Word document: the archive has no word/document.xml"));
        }
        Err(zip::result::ZipError::UnsupportedArchive(detail)) if detail.contains("assword") => {
            return Err(unreadable("the DOCX is encrypted (password-protected): upload an unprotected copy"));
        }
        Err(error) => return Err(unreadable(format!("the DOCX cannot be read: {error}"))),
    };
    let cap = limits.max_inflated_bytes;
    let too_big = || unreadable(format!("the DOCX's text inflates past {} MiB (a ZIP bomb?)", cap / (1024 * 1024)));
    if entry.size() > cap {
        return Err(too_big());
    }
    // The size the archive states may lie: the stream is read only up to the cap.
    let mut xml = Vec::new();
    entry.take(cap + 1).read_to_end(&mut xml).map_err(|error| match error.kind() {
        std::io::ErrorKind::OutOfMemory => unreadable(OUT_OF_MEMORY),
        _ => unreadable(format!("the DOCX is corrupt: {error}")),
    })?;
    if xml.len() as u64 > cap {
        return Err(too_big());
    }
    let xml = std::str::from_utf8(&xml).map_err(|_| unreadable("the DOCX's document.xml is not UTF-8"))?;
    document_xml_text(xml, limits.max_text_bytes)
}

/// The text of a WordprocessingML body: runs' text (`w:t`), tabs, line breaks, one line per
/// paragraph; deleted text and field codes left out.
fn document_xml_text(xml: &str, max_text_bytes: usize) -> Result<String, Unreadable> {
    use quick_xml::events::Event;

    let mut reader = quick_xml::Reader::from_str(xml);
    let mut text = String::new();
    let mut in_text = false;
    loop {
        let event = reader.read_event().map_err(|error| {
            unreadable(format!("the DOCX's document.xml is malformed at byte {}: {error}", reader.error_position()))
        })?;
        match event {
            Event::Start(element) if element.local_name().as_ref() == "t" => in_text = true,
            Event::End(element) => match element.local_name().as_ref() {
                "t" => in_text = false,
                "p" => text.push('\n'),
                _ => {}
            },
            Event::Empty(element) => match element.local_name().as_ref() {
                "tab" => text.push('\t'),
                "br" | "cr" => text.push('\n'),
                "p" => text.push('\n'),
                _ => {}
            },
            Event::Text(content) if in_text => text.push_str(&content.xml10_content()),
            Event::CData(content) if in_text => text.push_str(&content.xml10_content()),
            Event::GeneralRef(reference) if in_text => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => match reference.as_ref() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    },
                };
                text.extend(resolved);
            }
            Event::Eof => break,
            _ => {}
        }
        if text.len() > max_text_bytes {
            break;
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(Kind::of_content_type("application/pdf"), Some(Kind::Pdf));
        assert_eq!(Kind::of_content_type("Text/Plain; charset=UTF-8"), Some(Kind::Text));
        assert_eq!(Kind::of_content_type("text/markdown;charset=\"utf-8\""), Some(Kind::Markdown));
        assert_eq!(Kind::of_content_type(DOCX), Some(Kind::Docx));
        assert_eq!(Kind::of_content_type("text/plain; charset=latin1"), None);
        assert_eq!(Kind::of_content_type("application/msword"), None);
        assert_eq!(Kind::of_content_type("image/png"), None);
        for kind in Kind::ALL {
            assert_eq!(Kind::of_name(kind.name()), Some(kind));
        }
    }

    #[test]
    fn word_text() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="x"><w:body>
            <w:p><w:r><w:t>Jane</w:t></w:r><w:r><w:t xml:space="preserve"> Doe &amp; co</w:t></w:r></w:p>
            <w:p><w:r><w:t>Rust</w:t><w:tab/><w:t>Kafka</w:t><w:br/><w:t>Redis &#233;</w:t></w:r>
            <w:del><w:r><w:delText>gone</w:delText></w:r></w:del><w:r><w:instrText>PAGE</w:instrText></w:r></w:p>
            </w:body></w:document>"#;
        let text = document_xml_text(xml, 1 << 20).unwrap();
        assert_eq!(normalize(&text, false), "Jane Doe & co\nRust Kafka\nRedis é");
    }

    #[test]
    fn text_files() {
        let limits = Limits::default();
        let text = extract(Kind::Markdown, "# Jane\n\n- **Rust**".as_bytes(), &limits).unwrap();
        assert_eq!(text, Extracted { text: "Jane\n\nRust".into(), truncated: false });
        assert!(extract(Kind::Text, b"caf\xE9", &limits).unwrap_err().0.contains("not UTF-8"));
        assert!(extract(Kind::Text, b" \n\t ", &limits).unwrap_err().0.contains("no text"));
        let long = "A sentence here. ".repeat(100);
        let cut = extract(Kind::Text, long.as_bytes(), &Limits { max_text_bytes: 100, ..limits }).unwrap();
        assert!(cut.truncated && cut.text.ends_with("here.") && cut.text.len() <= 100, "{cut:?}");
        assert!(extract(Kind::Pdf, b"hello", &limits).unwrap_err().0.contains("not a PDF"));
        assert!(extract(Kind::Docx, b"hello", &limits).unwrap_err().0.contains("not a DOCX"));
    }
}
