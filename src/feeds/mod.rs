//! Feeds: pure functions from site metadata and articles to the bytes of an RSS 2.0,
//! Atom 1.0 or JSON Feed 1.1 document. The same input always gives the same bytes:
//! dates come from the articles, never from the clock.

pub(crate) mod atom;
mod json;
mod rss;

use chrono::{DateTime, NaiveDate, Utc};
use url::Url;

use crate::articles::Library;
use crate::audience::Taxonomy;
use crate::model::{Article, Format as ArticleFormat};

/// What every feed of the site shares, derived once from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteMeta {
    pub title: String,
    pub description: String,
    /// Ends with `/`.
    pub base_url: Url,
    pub author: String,
    pub author_email: Option<String>,
    pub id_authority: String,
    pub id_date: String,
    pub hub: Option<Url>,
    pub limit: usize,
    /// Suggested polling interval, in minutes (RSS `ttl`).
    pub ttl_minutes: u32,
}

impl SiteMeta {
    /// An absolute URL for a site path such as `articles/x` or `feed.xml`.
    pub fn url(&self, path: &str) -> String {
        if self.joins_plainly(path) {
            // What `join` gives, without parsing a URL for every page and entry.
            let base = self.base_url.as_str();
            let mut url = String::with_capacity(base.len() + path.len());
            url.push_str(base);
            url.push_str(path);
            return url;
        }
        self.base_url
            .join(path)
            .map_or_else(|_| format!("{}{path}", self.base_url), String::from)
    }

    /// Whether joining `path` to the base URL only appends it: the base ends with `/`
    /// and has no query or fragment, and the path is plain segments (letters, digits,
    /// `-`, `_`, `.`) with no `.` or `..` segment and no empty one before the last.
    fn joins_plainly(&self, path: &str) -> bool {
        let base = &self.base_url;
        base.as_str().ends_with('/')
            && base.query().is_none()
            && base.fragment().is_none()
            && !base.cannot_be_a_base()
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
            && {
                let mut segments = path.split('/');
                let last = segments.next_back();
                !matches!(last, Some("." | ".."))
                    && segments.all(|segment| !matches!(segment, "" | "." | ".."))
            }
    }

    /// The permanent id of an article: a `tag:` URI that never depends on the host
    /// a request came to.
    pub fn article_id(&self, article: &Article) -> String {
        format!(
            "tag:{},{}:articles/{}",
            self.id_authority, article.published, article.slug
        )
    }
}

/// The three formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Rss,
    Atom,
    Json,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Rss, Format::Atom, Format::Json];

    pub fn file_name(self) -> &'static str {
        match self {
            Format::Rss => "feed.xml",
            Format::Atom => "atom.xml",
            Format::Json => "feed.json",
        }
    }

    /// The media type, as announced in autodiscovery links.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml",
            Format::Atom => "application/atom+xml",
            Format::Json => "application/feed+json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Json => "application/feed+json; charset=utf-8",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Format::Rss => "RSS",
            Format::Atom => "Atom",
            Format::Json => "JSON Feed",
        }
    }
}

/// Which articles a feed covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Site,
    Audience { slug: String },
    Category { slug: String },
}

impl Scope {
    /// Every feed scope of a library: the site, every audience of the taxonomy (empty
    /// ones too) and every category in use.
    pub fn all(library: &Library) -> Vec<Scope> {
        let mut scopes = vec![Scope::Site];
        scopes.extend(
            library
                .taxonomy()
                .audiences()
                .iter()
                .map(|a| Scope::Audience {
                    slug: a.slug.clone(),
                }),
        );
        scopes.extend(library.categories().iter().map(|c| Scope::Category {
            slug: c.slug.clone(),
        }));
        scopes
    }

    /// The folder of the scope's feeds, relative to the site root: `""`,
    /// `audiences/{slug}/` or `categories/{slug}/`. It is also the path of the scope's
    /// page: the home page, or the audience's or category's own.
    pub fn dir(&self) -> String {
        match self {
            Scope::Site => String::new(),
            Scope::Audience { slug } => format!("audiences/{slug}/"),
            Scope::Category { slug } => format!("categories/{slug}/"),
        }
    }

    pub fn path(&self, format: Format) -> String {
        format!("{}{}", self.dir(), format.file_name())
    }

    /// The newest `limit` articles of the scope, newest first.
    pub fn entries<'a>(
        &self,
        library: &'a Library,
        limit: usize,
    ) -> Vec<&'a std::sync::Arc<Article>> {
        match self {
            Scope::Site => library.articles().iter().take(limit).collect(),
            Scope::Audience { slug } => library.in_audience(slug).take(limit).collect(),
            Scope::Category { slug } => library.category(slug).map_or_else(Vec::new, |c| {
                c.articles
                    .iter()
                    .take(limit)
                    .map(|&i| &library.articles()[i])
                    .collect()
            }),
        }
    }

    /// Title and description of the scope's feeds.
    pub fn describe(&self, site: &SiteMeta, library: &Library) -> (String, String) {
        match self {
            Scope::Site => (site.title.clone(), site.description.clone()),
            Scope::Audience { slug } => {
                let audience = library.taxonomy().get(slug);
                let name = audience.map_or(slug.as_str(), |a| a.name.as_str());
                let description = audience
                    .and_then(|a| a.description.clone())
                    .unwrap_or_else(|| format!("Briefs for {name}."));
                (format!("{} · {name}", site.title), description)
            }
            Scope::Category { slug } => {
                let name = library
                    .category(slug)
                    .map_or(slug.as_str(), |c| c.name.as_str());
                (
                    format!("{} · {name}", site.title),
                    format!("{name} briefs from {}.", site.title),
                )
            }
        }
    }

    /// A stable key for the scope, used in feed ids.
    fn key(&self) -> String {
        match self {
            Scope::Site => "feeds/site".into(),
            Scope::Audience { slug } => format!("feeds/audiences/{slug}"),
            Scope::Category { slug } => format!("feeds/categories/{slug}"),
        }
    }
}

/// Everything one document needs.
pub struct FeedInput<'a> {
    pub site: &'a SiteMeta,
    pub taxonomy: &'a Taxonomy,
    pub scope: &'a Scope,
    pub title: String,
    pub description: String,
    pub entries: Vec<&'a Article>,
}

impl FeedInput<'_> {
    fn self_url(&self, format: Format) -> String {
        self.site.url(&self.scope.path(format))
    }

    /// The web page the feed stands for: the home page for the site's feeds, the
    /// audience's or category's own page for theirs.
    fn home_url(&self) -> String {
        self.site.url(&self.scope.dir())
    }

    fn feed_id(&self) -> String {
        format!(
            "tag:{},{}:{}",
            self.site.id_authority,
            self.site.id_date,
            self.scope.key()
        )
    }

    /// The feed's `updated`: its newest entry's, or, for an empty feed, the id date.
    fn updated(&self) -> DateTime<Utc> {
        self.entries
            .iter()
            .map(|a| entry_updated(&self.site.article_id(a), a))
            .max()
            .unwrap_or_else(|| {
                let day = NaiveDate::parse_from_str(&self.site.id_date, "%Y-%m-%d")
                    .unwrap_or(NaiveDate::MIN);
                midnight(day)
            })
    }
}

/// When an entry last changed, as the feeds say (Atom `updated`, JSON Feed
/// `date_modified`): the article's day (last verified, or published) at a time of day
/// taken from its id and its text. Articles carry only a date, and two entries of one
/// feed with the same `updated` make readers (and the W3C validator) take them for
/// versions of one another. The time depends on nothing but the article's own
/// content, so every build and every instance reading the same articles agrees
/// (a file's modification time would not: a checkout or a copy sets it anew); an
/// edit of the title or the text moves it within the day, and a new "Last verified"
/// date moves it to that day. It is never before `published`.
fn entry_updated(id: &str, article: &Article) -> DateTime<Utc> {
    // FNV-1a: fixed by its definition, unlike std's hashers.
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes.iter().chain([0xff].iter()) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(id.as_bytes());
    eat(article.title.as_bytes());
    eat(article.subject.as_bytes());
    eat(article.category.as_bytes());
    eat(&article.reading_minutes.to_le_bytes());
    eat(article.corrections.as_deref().unwrap_or("").as_bytes());
    eat(article.html.as_bytes());
    midnight(article.updated()) + chrono::Duration::seconds((hash % 86_400) as i64)
}

/// Renders one document.
pub fn render(input: &FeedInput<'_>, format: Format) -> Vec<u8> {
    match format {
        Format::Rss => rss::render(input),
        Format::Atom => atom::render(input),
        Format::Json => json::render(input),
    }
}

/// What an entry says in every format.
struct Entry<'a> {
    article: &'a Article,
    id: String,
    link: String,
    published: DateTime<Utc>,
    updated: DateTime<Utc>,
    /// The category, the subject, then the audience names.
    categories: Vec<String>,
    /// The summary, or an excerpt for an article without one.
    description: std::borrow::Cow<'a, str>,
    html: String,
}

impl<'a> Entry<'a> {
    fn new(input: &FeedInput<'_>, article: &'a Article) -> Entry<'a> {
        let mut categories = vec![article.category.clone(), article.subject.clone()];
        for slug in &article.audiences {
            let name = input
                .taxonomy
                .get(slug)
                .map_or(slug.as_str(), |a| a.name.as_str());
            if !categories.iter().any(|c| c == name) {
                categories.push(name.to_string());
            }
        }
        let html = match article.format {
            // Briefs only ever link absolute http(s) URLs; Markdown may hold relative ones.
            ArticleFormat::Brief => article.html.clone(),
            ArticleFormat::Markdown => absolutize(&article.html, &input.site.base_url),
        };
        let id = input.site.article_id(article);
        Entry {
            article,
            link: input.site.url(&format!("articles/{}", article.slug)),
            published: midnight(article.published),
            updated: entry_updated(&id, article),
            id,
            categories,
            description: article.description(),
            html,
        }
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Makes the `href` and `src` URLs of sanitised HTML absolute against `base`: feed
/// readers resolve relative URLs inconsistently, if at all. The HTML comes from the
/// sanitiser, which always writes attributes in double quotes.
pub fn absolutize(html: &str, base: &Url) -> String {
    let mut out = String::with_capacity(html.len() + 64);
    let mut rest = html;
    loop {
        let next = ["href=\"", "src=\""]
            .iter()
            .filter_map(|attr| rest.find(attr).map(|i| (i, attr.len())))
            .min();
        let Some((at, len)) = next else { break };
        let value_start = at + len;
        let Some(value_len) = rest[value_start..].find('"') else {
            break;
        };
        out.push_str(&rest[..value_start]);
        let value = &rest[value_start..value_start + value_len];
        let decoded = value.replace("&amp;", "&");
        let is_absolute = Url::parse(&decoded).is_ok();
        match base.join(&decoded) {
            Ok(url) if !is_absolute => {
                out.push_str(&url.as_str().replace('&', "&amp;").replace('"', "&quot;"));
            }
            _ => out.push_str(value),
        }
        rest = &rest[value_start + value_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_appended_as_join_would() {
        for base in [
            "https://news.example.test/",
            "https://e.x/news/",
            "http://e.x:8080/a/b/",
            "https://e.x/news",
            "https://e.x/news/?q=1",
            "https://e.x/n/#top",
        ] {
            let meta = SiteMeta {
                title: String::new(),
                description: String::new(),
                base_url: Url::parse(base).unwrap(),
                author: String::new(),
                author_email: None,
                id_authority: String::new(),
                id_date: String::new(),
                hub: None,
                limit: 50,
                ttl_minutes: 1,
            };
            for path in [
                "",
                "feed.xml",
                "articles/some-slug_2",
                "audiences/hr/atom.xml",
                "audiences/",
                "a/./b",
                "a/../b",
                "..",
                "a//b",
                "/root",
                "a b",
                "x:y",
                "caf\u{e9}",
                "q?x=1",
                "f#g",
            ] {
                let joined = meta
                    .base_url
                    .join(path)
                    .map_or_else(|_| format!("{}{path}", meta.base_url), String::from);
                assert_eq!(meta.url(path), joined, "{base} + {path}");
            }
        }
    }

    #[test]
    fn relative_urls_become_absolute() {
        let base = Url::parse("https://news.example.test/briefs/").unwrap();
        assert_eq!(
            absolutize(
                "<a href=\"/about?a=1&amp;b=2\">x</a><img src=\"pics/a.png\"><a href=\"https://o.example/\">o</a><a href=\"#top\">t</a>",
                &base
            ),
            "<a href=\"https://news.example.test/about?a=1&amp;b=2\">x</a>\
             <img src=\"https://news.example.test/briefs/pics/a.png\">\
             <a href=\"https://o.example/\">o</a><a href=\"https://news.example.test/briefs/#top\">t</a>"
        );
        assert_eq!(absolutize("no links", &base), "no links");
        assert_eq!(
            absolutize("<a href=\"unterminated", &base),
            "<a href=\"unterminated"
        );
    }
}
