//! A deterministic store generator for the tests: briefs and Markdown articles (TOML
//! and YAML front matter) with their taxonomy, and, for every article, the fields and
//! audiences a correct parser must find. It needs nothing beside the repository, so
//! `cargo test` runs on a bare clone. Each article is written from a plan, and the
//! expected values come from the plan, never from crier's own parser.
//!
//! What it varies, because each has broken a parser before: line ends (LF, CRLF, a
//! BOM), trailing spaces and blank lines, heading case, colons and curly apostrophes,
//! section order and absence, wrapped paragraphs and bullets, audience phrases in
//! other letter cases, singular forms and split over two lines, sentences that name no
//! audience, HTML-looking text, declared audiences, explicit slugs, timestamps in
//! front matter, estimated reading times and sub-folders.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

/// The taxonomy: slug, name, match phrases, and forms of those phrases that must
/// still match (other letter case, singular, plural).
const AUDIENCES: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "support",
        "Support desks",
        &["support agents", "help desks", "contact centre"],
        &[
            "Support agents",
            "support agent",
            "HELP DESKS",
            "contact centres",
        ],
    ),
    (
        "ops",
        "Operations leaders",
        &["operations leaders", "COOs"],
        &["Operations leaders", "COO", "operations leader"],
    ),
    (
        "people",
        "People teams",
        &["HR teams", "recruiters"],
        &["HR teams", "hr team", "Recruiters", "recruiter"],
    ),
    (
        "developers",
        "Developers",
        &["developers", "software engineers"],
        &["Developers", "developer", "Software Engineers"],
    ),
    (
        "admins",
        "IT admins",
        &["IT admins", "sysadmins"],
        &["IT admins", "it admin", "Sysadmins"],
    ),
    (
        "security",
        "Security teams",
        &["security teams", "CISOs"],
        &["Security teams", "CISO", "ciso"],
    ),
    (
        "finance",
        "Finance",
        &["finance teams", "CFOs"],
        &["Finance teams", "CFO", "finance team"],
    ),
    (
        "teachers",
        "Teachers",
        &["teachers", "lecturers"],
        &["Teachers", "teacher", "LECTURERS"],
    ),
    (
        "founders",
        "Founders",
        &["founders", "small business owners"],
        &["Founders", "small business owner"],
    ),
    (
        "legal",
        "Legal",
        &["lawyers", "compliance officers"],
        &["Lawyers", "compliance officer"],
    ),
    (
        "clinicians",
        "Clinicians",
        &["clinicians", "nurses"],
        &["Clinicians", "nurse", "NURSES"],
    ),
    (
        "researchers",
        "Researchers",
        &["researchers", "data scientists"],
        &["Researchers", "data scientist"],
    ),
];

/// Endings of a sentence that names an audience; none holds a phrase word.
const TAILS: &[&str] = &[
    "weighing the rollout",
    "planning next quarter's budget",
    "who own the vendor contract",
    "asked about the pilot",
    "tracking the pricing change",
];
/// Sentences that name no audience.
const UNMATCHED: &[&str] = &[
    "Anyone curious about where this goes next.",
    "Readers who like a contrarian take.",
    "Anyone in a 'will this last?' conversation.",
];
const SUBJECTS: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
];
const CATEGORIES: &[&str] = &[
    "Impact",
    "Release",
    "Research",
    "Policy",
    "Pricing",
    "Deep dive",
];
const VERBS: &[&str] = &["ships", "cuts", "doubles", "pauses", "retires", "prices"];
const OBJECTS: &[&str] = &[
    "its help line",
    "a new agent platform",
    "R&D on <1% error tooling",
    "its \"AI-first\" rule",
    "a café-sized model",
    "licences for 10,000 seats",
];
/// Filler words: none is an audience phrase or a word of one.
const WORDS: &[&str] = &[
    "the",
    "a",
    "model",
    "costs",
    "revenue",
    "customers",
    "rollout",
    "pilot",
    "budget",
    "latency",
    "accuracy",
    "headcount",
    "churn",
    "contract",
    "licence",
    "vendor",
    "benchmark",
    "pricing",
    "quarter",
    "roadmap",
    "adoption",
    "workload",
    "savings",
    "nuance",
    "—",
    "42%",
];

/// What the parser must make of one generated file.
pub struct Expected {
    pub file: String,
    pub slug: String,
    pub title: String,
    pub published: String,
    pub subject: String,
    pub category: String,
    pub reading_minutes: u32,
    pub last_verified: Option<String>,
    pub audiences: Vec<String>,
    /// Whether the article has a first point of "What's actually new".
    pub has_summary: bool,
}

impl Expected {
    /// The fields `crier check --json` reports, for comparing as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "file": self.file,
            "slug": self.slug,
            "title": self.title,
            "published": self.published,
            "subject": self.subject,
            "category": self.category,
            "reading_minutes": self.reading_minutes,
            "last_verified": self.last_verified,
            "audiences": self.audiences,
        })
    }
}

/// A small deterministic generator (splitmix64): the same seed gives the same store
/// on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Writes `audiences.toml` into `out`: the taxonomy the articles are written against.
pub fn write_taxonomy(out: &Path) {
    let mut toml = String::new();
    for (slug, name, phrases, _) in AUDIENCES {
        let phrases: Vec<String> = phrases.iter().map(|p| format!("{p:?}")).collect();
        let _ = writeln!(
            toml,
            "[[audience]]\nslug = {slug:?}\nname = {name:?}\nmatch = [{}]\n",
            phrases.join(", ")
        );
    }
    std::fs::write(out.join("audiences.toml"), toml).unwrap();
}

/// Writes `count` articles into `out/articles` (about `markdown` of them Markdown),
/// the taxonomy into `out/audiences.toml`, and returns what each file must parse to.
pub fn generate(out: &Path, count: usize, seed: u64, markdown: f64) -> Vec<Expected> {
    let mut rng = Rng(seed);
    write_taxonomy(out);
    let start = chrono::NaiveDate::from_ymd_opt(2023, 1, 2).unwrap();
    let mut expected = Vec::with_capacity(count);
    for i in 0..count {
        let published = start + chrono::Days::new((i * 1000 / count.max(1)) as u64);
        let mut plan = Plan::new(&mut rng, i, published);
        let folder = match i % 7 {
            0 => "archive/",
            3 => "archive/deep/",
            _ => "",
        };
        let is_markdown = rng.chance(markdown);
        let stem = format!("{published}-{}-{i:05}", short(&slug_of(&plan.title), 40));
        let (file, text) = if is_markdown {
            (format!("{folder}{stem}.md"), plan.markdown(&mut rng))
        } else {
            (format!("{folder}{stem}.txt"), plan.brief(&mut rng))
        };
        let path = out.join("articles").join(&file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text.as_bytes()).unwrap();
        let name = file.rsplit('/').next().unwrap();
        let default_slug = slug_of(name.rsplit_once('.').unwrap().0);
        expected.push(Expected {
            slug: plan.slug.clone().unwrap_or(default_slug),
            title: plan.title.clone(),
            published: published.to_string(),
            subject: plan.subject.to_string(),
            category: plan.category.to_string(),
            reading_minutes: plan.minutes.unwrap_or_else(|| plan.estimate()),
            last_verified: plan.verified.map(|d| d.to_string()),
            audiences: plan.audiences(),
            has_summary: !plan.new.is_empty(),
            file,
        });
    }
    let lines: Vec<String> = expected.iter().map(|e| e.to_json().to_string()).collect();
    std::fs::write(out.join("expected.jsonl"), lines.join("\n") + "\n").unwrap();
    expected
}

/// Lowercase letters and digits, runs of anything else as one `-`.
fn slug_of(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_string()
}

/// A slug cut to at most `n` characters, for file names.
fn short(slug: &str, n: usize) -> String {
    slug.chars()
        .take(n)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// One article before it is written in either format.
struct Plan {
    subject: &'static str,
    category: &'static str,
    published: chrono::NaiveDate,
    title: String,
    /// "Who should care" lines, and the audiences (taxonomy indexes) they name.
    who: Vec<String>,
    named: Vec<usize>,
    /// Audience slugs set in front matter (Markdown only), replacing `named`.
    declared: Option<Vec<&'static str>>,
    new: Vec<String>,
    worth: Vec<String>,
    todo: String,
    take: String,
    sources: usize,
    minutes: Option<u32>,
    verified: Option<chrono::NaiveDate>,
    slug: Option<String>,
}

fn sentence(rng: &mut Rng, lo: usize, hi: usize) -> String {
    let words: Vec<&str> = (0..rng.range(lo, hi)).map(|_| *rng.pick(WORDS)).collect();
    let mut s = words.join(" ");
    if rng.chance(0.1) {
        s.push_str(" 'quoted & escaped <tags>'");
    }
    let mut chars = s.chars();
    let first = chars
        .next()
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_default();
    format!("{first}{}.", chars.as_str())
}

impl Plan {
    fn new(rng: &mut Rng, i: usize, published: chrono::NaiveDate) -> Plan {
        let subject = *rng.pick(SUBJECTS);
        let title = format!("{subject} {} {} (#{i})", rng.pick(VERBS), rng.pick(OBJECTS));
        let mut named = Vec::new();
        let mut who = Vec::new();
        for _ in 0..rng.range(0, 4) {
            let k = rng.below(AUDIENCES.len());
            let form = *rng.pick(AUDIENCES[k].3);
            who.push(format!("{form} {}.", rng.pick(TAILS)));
            if !named.contains(&k) {
                named.push(k);
            }
        }
        if rng.chance(0.3) {
            who.insert(rng.below(who.len() + 1), rng.pick(UNMATCHED).to_string());
        }
        let new_count = if rng.chance(0.15) { 0 } else { rng.range(1, 4) };
        Plan {
            subject,
            category: CATEGORIES[rng.below(CATEGORIES.len())],
            published,
            title,
            who,
            named,
            declared: None,
            new: (0..new_count).map(|_| sentence(rng, 4, 16)).collect(),
            worth: (0..rng.range(0, 3)).map(|_| sentence(rng, 4, 14)).collect(),
            todo: sentence(rng, 5, 12),
            take: (0..rng.range(1, 3))
                .map(|_| sentence(rng, 6, 14))
                .collect::<Vec<_>>()
                .join(" "),
            sources: rng.range(0, 2),
            minutes: Some(rng.range(1, 9) as u32),
            verified: rng
                .chance(0.8)
                .then(|| published + chrono::Days::new(rng.range(0, 300) as u64)),
            slug: None,
        }
    }

    fn audiences(&self) -> Vec<String> {
        let mut slugs: Vec<String> = match &self.declared {
            Some(declared) => declared.iter().map(|s| s.to_string()).collect(),
            None => self
                .named
                .iter()
                .map(|&k| AUDIENCES[k].0.to_string())
                .collect(),
        };
        slugs.sort();
        slugs.dedup();
        slugs
    }

    /// Reading time as crier estimates it: 200 words a minute of every block's text.
    fn estimate(&self) -> u32 {
        let words: usize = [self.new.join(" "), self.worth.join(" "), self.who.join(" ")]
            .iter()
            .chain([&self.todo, &self.take])
            .map(|t| t.split_whitespace().count())
            .sum();
        words.div_ceil(200).max(1) as u32
    }

    /// A heading as a writer might type it.
    fn heading(rng: &mut Rng, heading: &str) -> String {
        let mut h = match rng.below(4) {
            0 => heading.to_lowercase(),
            1 => heading.to_uppercase(),
            _ => heading.to_string(),
        };
        if rng.chance(0.1) {
            h.push(':');
        }
        if rng.chance(0.1) {
            h = h.replace('\'', "\u{2019}");
        }
        h
    }

    fn brief(&self, rng: &mut Rng) -> String {
        let d = self.published;
        let reading = match rng.below(3) {
            0 => format!("~{} min read", self.minutes.unwrap()),
            1 => format!("{} min read", self.minutes.unwrap()),
            _ => format!("~ {} minutes read", self.minutes.unwrap()),
        };
        let (month, day) = if rng.chance(0.2) {
            (d.format("%-m").to_string(), d.format("%-d").to_string())
        } else {
            (d.format("%m").to_string(), d.format("%d").to_string())
        };
        let sep = if rng.chance(0.1) { "·" } else { " · " };
        let mut lines = vec![
            [
                self.subject,
                &d.format("%Y").to_string(),
                &month,
                &day,
                self.category,
                &reading,
            ]
            .join(sep),
            self.title.clone(),
        ];
        let mut sections: Vec<(&str, Vec<String>)> = vec![
            (
                "What's actually new",
                self.new.iter().map(|b| format!("- {b}")).collect(),
            ),
            ("If you want more", Vec::new()),
            (
                "Worth knowing",
                self.worth.iter().map(|b| wrap_bullet(rng, b)).collect(),
            ),
            ("Who should care", self.who_brief(rng)),
            ("What to do about it", vec![self.todo.clone()]),
            ("Honest take", vec![self.take.clone()]),
            (
                "Sources",
                (0..self.sources)
                    .map(|k| format!("- https://example.com/s/{k}"))
                    .collect(),
            ),
        ];
        if rng.chance(0.3) {
            // Any order: the sections only need their headings.
            sections.swap(0, 4);
        }
        for (heading, body) in sections {
            if body.is_empty() && rng.chance(0.5) {
                continue;
            }
            lines.push(Self::heading(rng, heading));
            for line in body {
                lines.extend(line.split('\n').map(str::to_string));
            }
            if rng.chance(0.2) {
                lines.push(String::new());
            }
        }
        if let Some(v) = self.verified {
            lines.push(format!(
                "Last verified · {} · Found a fact wrong? fixes@example.com",
                v.format("%Y · %m · %d")
            ));
        }
        let trailing = rng.chance(0.2);
        let mut text = lines
            .iter()
            .map(|l| {
                if trailing && !l.is_empty() {
                    format!("{l}  ")
                } else {
                    l.clone()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        if rng.chance(0.2) {
            text = text.replace('\n', "\r\n");
        }
        if rng.chance(0.1) {
            text.insert(0, '\u{feff}');
        }
        text
    }

    /// "Who should care" as brief lines: one paragraph (sometimes wrapped, with a
    /// phrase split over the line end) or bullets.
    fn who_brief(&self, rng: &mut Rng) -> Vec<String> {
        if self.who.is_empty() {
            return Vec::new();
        }
        if rng.chance(0.3) {
            return self.who.iter().map(|w| format!("- {w}")).collect();
        }
        let paragraph = self.who.join(" ");
        if rng.chance(0.4) {
            // Break at a space inside the first sentence: line ends count as spaces.
            if let Some(at) = paragraph[..paragraph.find('.').unwrap_or(0)].find(' ') {
                return vec![format!("{}\n{}", &paragraph[..at], &paragraph[at + 1..])];
            }
        }
        vec![paragraph]
    }

    fn markdown(&mut self, rng: &mut Rng) -> String {
        let toml = rng.chance(0.5);
        if rng.chance(0.2) {
            self.minutes = None;
        }
        if rng.chance(0.1) {
            self.slug = Some(format!("custom-{}", slug_of(&self.title)));
        }
        if rng.chance(0.1) {
            let mut declared = vec![AUDIENCES[rng.below(AUDIENCES.len())].0];
            declared.push(AUDIENCES[rng.below(AUDIENCES.len())].0);
            declared.dedup();
            self.declared = Some(declared);
        }
        let quote = |s: &str| serde_json::to_string(s).unwrap();
        let mut fm: Vec<(String, String)> = vec![
            ("title".into(), quote(&self.title)),
            ("subject".into(), quote(self.subject)),
            ("category".into(), quote(self.category)),
        ];
        let date = if rng.chance(0.2) {
            format!("{}T09:30:00Z", self.published)
        } else {
            self.published.to_string()
        };
        // TOML reads a bare date or timestamp as its own type; YAML gets a string.
        fm.push(("date".into(), if toml { date } else { quote(&date) }));
        if let Some(m) = self.minutes {
            fm.push(("reading_minutes".into(), m.to_string()));
        }
        if let Some(v) = self.verified {
            fm.push((
                "last_verified".into(),
                if toml {
                    v.to_string()
                } else {
                    quote(&v.to_string())
                },
            ));
        }
        if let Some(slug) = &self.slug {
            fm.push(("slug".into(), quote(slug)));
        }
        if let Some(declared) = &self.declared {
            let list: Vec<String> = declared.iter().map(|s| quote(s)).collect();
            fm.push(("audiences".into(), format!("[{}]", list.join(", "))));
        }
        let (marker, assign) = if toml { ("+++", " = ") } else { ("---", ": ") };
        let mut out = format!("{marker}\n");
        for (key, value) in fm {
            let _ = writeln!(out, "{key}{assign}{value}");
        }
        let _ = writeln!(out, "{marker}\n");
        let mut section = |out: &mut String, heading: &str, body: &str| {
            let _ = write!(out, "## {}\n\n{body}\n\n", Self::heading(rng, heading));
        };
        let bullets = |items: &[String]| {
            items
                .iter()
                .map(|b| format!("- {b}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        if !self.new.is_empty() {
            section(&mut out, "What's actually new", &bullets(&self.new));
        }
        if !self.worth.is_empty() {
            section(&mut out, "Worth knowing", &bullets(&self.worth));
        }
        if !self.who.is_empty() {
            section(&mut out, "Who should care", &self.who.join("\n"));
        }
        section(&mut out, "What to do about it", &self.todo);
        section(&mut out, "Honest take", &self.take);
        if rng.chance(0.15) {
            out = out.replace('\n', "\r\n");
        }
        out
    }
}

/// A bullet, sometimes wrapped onto an indented second line.
fn wrap_bullet(rng: &mut Rng, text: &str) -> String {
    match text.find(' ') {
        Some(at) if rng.chance(0.3) => format!("- {}\n  {}", &text[..at], &text[at + 1..]),
        _ => format!("- {text}"),
    }
}
