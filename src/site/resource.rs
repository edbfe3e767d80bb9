//! One published document: its bytes, its validators and its compressed forms,
//! each made at most once per version. The server asks for the compressed forms
//! through `*_off_loop`, which compresses on tokio's blocking pool: the first gzip or
//! brotli of a new feed version takes milliseconds that an event loop must not spend.

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use axum::http::HeaderValue;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::model::hex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Feed,
    Page,
}

#[derive(Debug)]
pub struct Resource {
    pub body: Bytes,
    pub content_type: &'static str,
    pub kind: Kind,
    /// Hex of the SHA-256 of the body, made on first use (`crier build` never needs it).
    etag: OnceLock<String>,
    /// When these bytes were first rendered.
    pub last_modified: SystemTime,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
    headers: OnceLock<HeaderValues>,
}

/// The validators of one version as ready header values, so serving it allocates
/// nothing for them.
#[derive(Debug)]
pub struct HeaderValues {
    /// `"<etag>"`: the identity body.
    pub etag: HeaderValue,
    /// `"<etag>-gzip"`: each encoding has its own strong ETag.
    pub etag_gzip: HeaderValue,
    /// `"<etag>-br"`
    pub etag_br: HeaderValue,
    pub last_modified: HeaderValue,
}

/// The `Last-Modified` of a document made from `articles`: the newest date any of
/// them changed ([`crate::model::Article::updated`]), from midnight UTC; never later than
/// `now` (an article dated ahead), and the epoch for a document of none. It is a
/// function of the library, never of when or where the document was rendered, so
/// every instance that reads the same articles sends the same one, as it sends the
/// same ETag. An edit that changes no date changes the ETag only: readers revalidate
/// with `If-None-Match`, which takes precedence.
pub fn modified<'a>(
    articles: impl IntoIterator<Item = &'a crate::model::Article>,
    now: SystemTime,
) -> SystemTime {
    let newest = articles.into_iter().map(|a| a.updated()).max();
    let Some(day) = newest else {
        return SystemTime::UNIX_EPOCH;
    };
    let secs = day
        .and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp())
        .max(0);
    (SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64)).min(now)
}

impl Resource {
    pub fn new(body: Vec<u8>, content_type: &'static str, kind: Kind, now: SystemTime) -> Resource {
        Resource {
            body: Bytes::from(body),
            content_type,
            kind,
            etag: OnceLock::new(),
            last_modified: now,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
            headers: OnceLock::new(),
        }
    }

    /// Hex of the first half of the body's SHA-256: the same bytes give the same ETag
    /// across rebuilds and restarts.
    pub fn etag(&self) -> &str {
        self.etag
            .get_or_init(|| hex(&Sha256::digest(&self.body)[..16]))
    }

    /// Header values of the validators, made on first use: `crier build` never needs them.
    pub fn header_values(&self) -> &HeaderValues {
        self.headers.get_or_init(|| {
            let etag = |suffix: &str| {
                HeaderValue::try_from(format!("\"{}{suffix}\"", self.etag()))
                    .expect("hex digits make a valid header value")
            };
            HeaderValues {
                etag: etag(""),
                etag_gzip: etag("-gzip"),
                etag_br: etag("-br"),
                last_modified: HeaderValue::try_from(httpdate::fmt_http_date(self.last_modified))
                    .expect("an HTTP date is a valid header value"),
            }
        })
    }

    /// The body compressed with gzip, made on first use.
    pub fn gzip(&self) -> &Bytes {
        self.gzip.get_or_init(|| {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(self.body.len() / 3),
                flate2::Compression::default(),
            );
            let _ = encoder.write_all(&self.body);
            Bytes::from(encoder.finish().unwrap_or_default())
        })
    }

    /// The body compressed with brotli, made on first use.
    pub fn brotli(&self) -> &Bytes {
        self.brotli.get_or_init(|| {
            let mut out = Vec::with_capacity(self.body.len() / 3);
            let params = brotli::enc::BrotliEncoderParams {
                quality: 6,
                lgwin: 22,
                ..Default::default()
            };
            let _ = brotli::BrotliCompress(&mut &self.body[..], &mut out, &params);
            Bytes::from(out)
        })
    }

    /// [`Resource::gzip`], made on a blocking thread if it is not made yet.
    pub async fn gzip_off_loop(self: &Arc<Self>) -> Bytes {
        self.off_loop(&self.gzip, Resource::gzip).await
    }

    /// [`Resource::brotli`], made on a blocking thread if it is not made yet.
    pub async fn brotli_off_loop(self: &Arc<Self>) -> Bytes {
        self.off_loop(&self.brotli, Resource::brotli).await
    }

    async fn off_loop(
        self: &Arc<Self>,
        made: &OnceLock<Bytes>,
        make: fn(&Resource) -> &Bytes,
    ) -> Bytes {
        if let Some(bytes) = made.get() {
            return bytes.clone();
        }
        let resource = Arc::clone(self);
        match tokio::task::spawn_blocking(move || make(&resource).clone()).await {
            Ok(bytes) => bytes,
            // The blocking pool is gone (the runtime is shutting down): here, then.
            Err(_) => make(self).clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_documents_date_is_its_newest_articles_never_the_render_time() {
        let dated = |published: &str, verified: Option<&str>| {
            let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
            crate::model::Article {
                slug: published.into(),
                file: String::new(),
                format: crate::model::Format::Markdown,
                title: String::new(),
                subject: String::new(),
                category: String::new(),
                published: day(published),
                reading_minutes: 1,
                last_verified: verified.map(day),
                corrections: None,
                sections: Vec::new(),
                declared_audiences: None,
                audiences: Vec::new(),
                unmatched: Vec::new(),
                html: String::new(),
            }
        };
        let http = |t: SystemTime| httpdate::fmt_http_date(t);
        let later = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000);
        let articles = [
            dated("2026-11-20", None),
            dated("2026-11-02", Some("2026-11-23")),
        ];
        assert_eq!(
            http(modified(&articles, later)),
            "Mon, 23 Nov 2026 00:00:00 GMT"
        );
        assert_eq!(
            modified(&articles, later),
            modified(&articles, later + std::time::Duration::from_secs(3600)),
            "the same whenever rendered"
        );
        // Never after the time of rendering; the epoch for no article.
        let before = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(modified(&articles, before), before);
        assert_eq!(modified([], later), SystemTime::UNIX_EPOCH);
    }

    #[test]
    fn compressed_forms_round_trip_and_are_cached() {
        let body = "<rss>".repeat(500).into_bytes();
        let r = Resource::new(
            body.clone(),
            "text/plain",
            Kind::Feed,
            SystemTime::UNIX_EPOCH,
        );
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&r.gzip()[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, body);
        let mut plain = Vec::new();
        brotli::BrotliDecompress(&mut &r.brotli()[..], &mut plain).unwrap();
        assert_eq!(plain, body);
        assert!(std::ptr::eq(r.gzip(), r.gzip()), "compressed once");
        assert!(r.etag.get().is_none(), "not hashed before it is asked for");
        assert_eq!(r.etag().len(), 32);
        let values = r.header_values();
        assert_eq!(values.etag, format!("\"{}\"", r.etag()));
        assert_eq!(values.etag_gzip, format!("\"{}-gzip\"", r.etag()));
        assert_eq!(values.etag_br, format!("\"{}-br\"", r.etag()));
        assert_eq!(values.last_modified, "Thu, 01 Jan 1970 00:00:00 GMT");
        let same = Resource::new(body, "text/plain", Kind::Feed, SystemTime::now());
        assert_eq!(r.etag(), same.etag());
    }

    #[tokio::test]
    async fn off_loop_forms_are_the_same_bytes_made_once() {
        let r = Arc::new(Resource::new(
            "<rss>".repeat(500).into_bytes(),
            "text/plain",
            Kind::Feed,
            SystemTime::UNIX_EPOCH,
        ));
        let gzip = r.gzip_off_loop().await;
        assert_eq!(gzip, *r.gzip());
        assert_eq!(gzip.as_ptr(), r.gzip_off_loop().await.as_ptr(), "made once");
        assert_eq!(r.brotli_off_loop().await, *r.brotli());
    }
}
