//! The planner.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::articles::Library;
use crate::model::{
    Article, EVERYTHING, EVERYTHING_MORE, Group, Heading, Listed, PlannedArticle, Subscriber,
};

/// One subscriber's digest for one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub subscriber_id: i64,
    pub email: String,
    pub name: Option<String>,
    /// Shared by every plan on the same clock.
    pub timezone: Arc<str>,
    /// When the schedule fired on the subscriber's clock, in UTC: the period's key.
    pub period: DateTime<Utc>,
    /// Shared by every subscriber with the same content.
    pub groups: Arc<Vec<Group>>,
    /// New articles beyond the per-digest limit.
    pub more: usize,
    /// The subscriber's audiences those articles are under, in the groups' order.
    pub more_in: Arc<Vec<Heading>>,
}

impl Plan {
    pub fn articles(&self) -> usize {
        self.groups.iter().map(|g| g.articles.len()).sum()
    }

    /// The outbox key: one message per subscriber, digest and period.
    pub fn dedup_key(&self, digest: &str) -> String {
        format!(
            "digest:{digest}:{}:{}",
            self.subscriber_id,
            self.period.timestamp()
        )
    }
}

/// What the planner decided.
#[derive(Debug, Clone, Default)]
pub struct Planning {
    pub plans: Vec<Plan>,
    /// Subscribers whose latest firing is older than the allowed lateness.
    pub late: Vec<(i64, DateTime<Utc>)>,
    /// Subscribers with nothing new, who get no email, in the order planned.
    pub empty: Vec<i64>,
    /// Subscribers already planned for their latest firing.
    pub done: usize,
    /// Subscribers whose time zone or schedule gives no firing.
    pub unschedulable: Vec<i64>,
}

pub struct PlanInput<'a> {
    pub digest: &'a str,
    pub library: &'a Library,
    /// Each subscriber's previous digest of this schedule: its period, and when it was
    /// planned (articles first seen before then were eligible for it).
    pub previous: &'a HashMap<i64, (DateTime<Utc>, DateTime<Utc>)>,
    /// When crier first saw the articles.
    pub first_seen: FirstSeen<'a>,
    pub now: DateTime<Utc>,
    pub lookback: Duration,
    pub max_lateness: Duration,
    pub max_articles: usize,
    /// The latest firing at or before `now` on a time zone's clock.
    pub last_firing: &'a (dyn Fn(&str) -> Option<DateTime<Utc>> + Sync),
    /// The public URL of an article.
    pub article_url: &'a (dyn Fn(&Article) -> String + Sync),
}

/// When crier first saw the articles a plan may list, by slug.
#[derive(Debug, Clone, Copy)]
pub enum FirstSeen<'a> {
    /// Every article crier has seen; one it has not is new to everyone.
    All(&'a HashMap<String, DateTime<Utc>>),
    /// Only the articles first seen after `after`: enough to plan subscribers whose
    /// previous digest was planned at `after` (or later, or never), when every article
    /// of the library was recorded before planning, so that one not listed was seen at
    /// or before `after`. A preview reads this much for its one subscriber.
    After {
        after: DateTime<Utc>,
        seen: &'a HashMap<String, DateTime<Utc>>,
    },
}

impl FirstSeen<'_> {
    /// Whether the article was first seen after a digest planned at `previous`.
    fn new_since(&self, slug: &str, previous: DateTime<Utc>) -> bool {
        match self {
            FirstSeen::All(seen) => seen.get(slug).is_none_or(|seen| *seen > previous),
            FirstSeen::After { after, seen } => {
                debug_assert!(previous >= *after, "first-seen dates read from too late");
                seen.get(slug).is_some_and(|seen| *seen > previous)
            }
        }
    }
}

/// A run's period and the subscriber's previous one: together they decide what is new.
type Window = (DateTime<Utc>, Option<DateTime<Utc>>);

/// A set of taxonomy positions, one bit each: grouping thousands of distinct audience
/// sets over thousands of articles then costs a few word operations per article.
#[derive(Debug, Default, Clone)]
struct Positions(Vec<u64>);

impl Positions {
    fn new(positions: impl IntoIterator<Item = usize>) -> Positions {
        let mut set = Positions::default();
        for p in positions {
            if set.0.len() <= p / 64 {
                set.0.resize(p / 64 + 1, 0);
            }
            set.0[p / 64] |= 1 << (p % 64);
        }
        set
    }

    fn contains(&self, p: usize) -> bool {
        self.0
            .get(p / 64)
            .is_some_and(|word| word & (1 << (p % 64)) != 0)
    }

    fn intersects(&self, other: &Positions) -> bool {
        self.0.iter().zip(&other.0).any(|(a, b)| a & b != 0)
    }
}

/// The articles that may be new in one window, newest first, each with its audiences
/// as taxonomy positions.
type News<'a> = Vec<(&'a Arc<Article>, Positions)>;

/// The groups of a digest, how many new articles did not fit and under which
/// audiences they are.
type Grouped = (Arc<Vec<Group>>, usize, Arc<Vec<Heading>>);

/// Plans `subscribers` at once.
pub fn plan(input: &PlanInput<'_>, subscribers: Vec<Subscriber>) -> Planning {
    let mut planner = Planner::default();
    planner.add(input, subscribers);
    planner.finish()
}

/// A plan made a batch of subscribers at a time, so that a large list never sits in
/// memory whole: each batch is dropped once planned, its addresses and names moved
/// into the plans. Subscribers who share a period, a previous run and audiences share
/// the work and the groups across batches, as in one [`plan`].
#[derive(Default)]
pub struct Planner<'a> {
    planning: Planning,
    firings: HashMap<Arc<str>, Option<DateTime<Utc>>>,
    candidates: HashMap<Window, News<'a>>,
    contents: HashMap<(Window, Vec<String>), Grouped>,
    // Each article is described once, however many digests list it.
    listed: HashMap<&'a str, Arc<PlannedArticle>>,
}

impl<'a> Planner<'a> {
    /// Plans `subscribers`, in order, after those of earlier batches.
    pub fn add(&mut self, input: &PlanInput<'a>, subscribers: Vec<Subscriber>) {
        let taxonomy = input.library.taxonomy();
        for subscriber in subscribers {
            let (timezone, firing) = match self.firings.get_key_value(subscriber.timezone.as_str())
            {
                Some((timezone, firing)) => (Arc::clone(timezone), *firing),
                None => {
                    let firing = (input.last_firing)(&subscriber.timezone);
                    let timezone: Arc<str> = subscriber.timezone.as_str().into();
                    self.firings.insert(Arc::clone(&timezone), firing);
                    (timezone, firing)
                }
            };
            let planning = &mut self.planning;
            let Some(period) = firing else {
                planning.unschedulable.push(subscriber.id);
                continue;
            };
            let last = input.previous.get(&subscriber.id).copied();
            if last.is_some_and(|(last_period, _)| last_period >= period) {
                planning.done += 1;
                continue;
            }
            if input.now - period > input.max_lateness {
                planning.late.push((subscriber.id, period));
                continue;
            }
            let previous = last.map(|(_, planned)| planned);
            let news = self
                .candidates
                .entry((period, previous))
                .or_insert_with(|| {
                    let from = (period - input.lookback).date_naive();
                    input
                        .library
                        .published_between(from, input.now.date_naive())
                        .iter()
                        .filter(|a| match previous {
                            // New since their last digest: first seen after it was planned.
                            Some(previous) => input.first_seen.new_since(&a.slug, previous),
                            None => true,
                        })
                        .map(|a| {
                            let positions = a.audiences.iter().filter_map(|s| taxonomy.position(s));
                            (a, Positions::new(positions))
                        })
                        .collect()
                });
            let audiences = chosen(&subscriber, taxonomy);
            let key = ((period, previous), audiences.clone());
            let listed = &mut self.listed;
            let (groups, more, more_in) = self
                .contents
                .entry(key)
                .or_insert_with(|| group(news, &audiences, input, listed))
                .clone();
            if groups.is_empty() {
                planning.empty.push(subscriber.id);
                continue;
            }
            planning.plans.push(Plan {
                subscriber_id: subscriber.id,
                email: subscriber.email,
                name: subscriber.name,
                timezone,
                period,
                groups,
                more,
                more_in,
            });
        }
    }

    /// What was planned, every batch in the order added.
    pub fn finish(mut self) -> Planning {
        // Held through the queueing: without the room the list grew into, which at
        // 100,000 plans is about 4 MB.
        self.planning.plans.shrink_to_fit();
        self.planning
    }
}

/// The audiences a subscriber's digest groups by, in taxonomy order. Everything stands
/// for every audience of the taxonomy, then [`EVERYTHING`] itself, last: the group of
/// the articles that match none.
fn chosen(subscriber: &Subscriber, taxonomy: &crate::audience::Taxonomy) -> Vec<String> {
    let mut audiences = subscriber.audiences.clone();
    if audiences.iter().any(|a| a == EVERYTHING) {
        audiences.retain(|a| a != EVERYTHING && taxonomy.get(a).is_none());
        audiences.extend(taxonomy.audiences().iter().map(|a| a.slug.clone()));
    }
    audiences.sort_by_key(|slug| taxonomy.position(slug).unwrap_or(usize::MAX));
    audiences.dedup();
    if subscriber.audiences.iter().any(|a| a == EVERYTHING) {
        audiences.push(EVERYTHING.to_string());
    }
    audiences
}

/// Groups articles under the subscriber's audiences in taxonomy order; an article
/// that fits several appears once, under the first, naming the others.
fn group<'a>(
    news: &[(&'a Arc<Article>, Positions)],
    audiences: &[String],
    input: &PlanInput<'_>,
    listed: &mut HashMap<&'a str, Arc<PlannedArticle>>,
) -> Grouped {
    let taxonomy = input.library.taxonomy();
    let name = |slug: &str| match taxonomy.get(slug) {
        Some(audience) => audience.name.clone(),
        None if slug == EVERYTHING => EVERYTHING_MORE.to_string(),
        None => slug.to_string(),
    };
    // Everything comes last (see `chosen`): what no other group takes.
    let everything = audiences.last().is_some_and(|a| a == EVERYTHING);
    let specific = audiences.len() - usize::from(everything);
    let mut groups: Vec<Group> = audiences
        .iter()
        .map(|slug| Group {
            slug: slug.clone(),
            name: name(slug),
            articles: Vec::new(),
        })
        .collect();
    let wanted: Vec<Option<usize>> = audiences[..specific]
        .iter()
        .map(|s| taxonomy.position(s))
        .collect();
    let mask = Positions::new(wanted.iter().flatten().copied());
    // A slug the taxonomy no longer has is compared as text.
    let all_known = wanted.iter().all(Option::is_some);
    let mut total = 0;
    let mut more = 0;
    let mut cut = vec![false; audiences.len()];
    // `news` is newest first and holds each article once, so each group lists its
    // articles newest first, and an article lands in one group only.
    for (article, has) in news {
        if all_known && !everything && !has.intersects(&mask) {
            continue;
        }
        let fits = |i: usize| match wanted[i] {
            Some(p) => has.contains(p),
            None => article.audiences.contains(&audiences[i]),
        };
        let index = match (0..specific).find(|&i| fits(i)) {
            Some(index) => index,
            None if everything => specific,
            None => continue,
        };
        if total == input.max_articles {
            more += 1;
            cut[index] = true;
            continue;
        }
        total += 1;
        let also = (index + 1..specific)
            .filter(|&i| fits(i))
            .map(|i| name(&audiences[i]))
            .collect();
        let article = listed.entry(article.slug.as_str()).or_insert_with(|| {
            Arc::new(PlannedArticle {
                slug: article.slug.clone(),
                title: article.title.clone(),
                url: (input.article_url)(article),
                summary: article.summary().map(str::to_string),
                category: article.category.clone(),
                subject: article.subject.clone(),
                reading_minutes: article.reading_minutes,
                published: article.published.to_string(),
                date: article.published.format("%-d %b %Y").to_string(),
            })
        });
        groups[index].articles.push(Listed {
            article: Arc::clone(article),
            also,
        });
    }
    let more_in = groups
        .iter()
        .zip(&cut)
        .filter(|(_, cut)| **cut)
        .map(|(g, _)| Heading {
            slug: g.slug.clone(),
            name: g.name.clone(),
        })
        .collect();
    groups.retain(|g| !g.articles.is_empty());
    (Arc::new(groups), more, Arc::new(more_in))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audience::Taxonomy;
    use crate::model::{Consent, Source, Status};
    use chrono::TimeZone;

    fn taxonomy() -> Arc<Taxonomy> {
        Arc::new(
            Taxonomy::parse(
                "[[audience]]\nslug = \"hr\"\nname = \"HR\"\n[[audience]]\nslug = \"devs\"\nname = \"Developers\"\n\
                 [[audience]]\nslug = \"ops\"\nname = \"Operations\"\n",
                "t.toml",
            )
            .unwrap(),
        )
    }

    fn article(slug: &str, day: u32, audiences: &[&str]) -> Arc<Article> {
        let text = format!(
            "S · 2026 · 11 · {day} · Impact · 1 min read\nTitle {slug}\nWhat's actually new\n- Point of {slug}.\n"
        );
        let mut a =
            crate::articles::parse::parse_file(&format!("{slug}.txt"), text.as_bytes()).unwrap();
        a.audiences = audiences.iter().map(|s| s.to_string()).collect();
        Arc::new(a)
    }

    fn subscriber(id: i64, audiences: &[&str], timezone: &str) -> Subscriber {
        Subscriber {
            id,
            email: format!("s{id}@example.org"),
            name: None,
            status: Status::Active,
            audiences: audiences.iter().map(|s| s.to_string()).collect(),
            frequency: "weekly".into(),
            timezone: timezone.into(),
            created_at: Utc::now(),
            confirmed_at: None,
            unsubscribed_at: None,
            consent: Consent {
                at: Utc::now(),
                source: Source::Cli,
                ip: None,
                user_agent: None,
                text_version: "1".into(),
            },
        }
    }

    fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    struct Case {
        library: Library,
        previous: HashMap<i64, (DateTime<Utc>, DateTime<Utc>)>,
        first_seen: HashMap<String, DateTime<Utc>>,
        now: DateTime<Utc>,
        max_articles: usize,
    }

    impl Case {
        fn new(articles: Vec<Arc<Article>>) -> Case {
            let first_seen = articles
                .iter()
                .map(|a| (a.slug.clone(), utc(2026, 11, 1, 0)))
                .collect();
            Case {
                library: Library::new(articles, vec![], taxonomy()),
                previous: HashMap::new(),
                first_seen,
                now: utc(2026, 11, 23, 8),
                max_articles: 20,
            }
        }

        fn run(&self, subscribers: &[Subscriber]) -> Planning {
            let weekly = crate::cron::CronSchedule::parse("0 7 * * 1").unwrap();
            let last = |tz: &str| {
                tz.parse::<chrono_tz::Tz>()
                    .ok()
                    .and_then(|tz| weekly.last_at_or_before(self.now, &tz))
            };
            plan(
                &PlanInput {
                    digest: "weekly",
                    library: &self.library,
                    previous: &self.previous,
                    first_seen: FirstSeen::All(&self.first_seen),
                    now: self.now,
                    lookback: Duration::days(7),
                    max_lateness: Duration::hours(6),
                    max_articles: self.max_articles,
                    last_firing: &last,
                    article_url: &|a: &Article| format!("https://x.test/articles/{}", a.slug),
                },
                subscribers.to_vec(),
            )
        }
    }

    fn titles(plan: &Plan) -> Vec<(String, Vec<String>)> {
        plan.groups
            .iter()
            .map(|g| {
                (
                    g.slug.clone(),
                    g.articles.iter().map(|a| a.slug.clone()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn position_sets_span_words() {
        let set = Positions::new([0, 63, 64, 130]);
        for p in [0, 63, 64, 130] {
            assert!(set.contains(p), "{p}");
        }
        for p in [1, 62, 65, 129, 131, 500] {
            assert!(!set.contains(p), "{p}");
        }
        assert!(set.intersects(&Positions::new([130])));
        assert!(!set.intersects(&Positions::new([1, 65, 131])));
        assert!(!Positions::new([]).intersects(&set));
    }

    #[test]
    fn groups_by_audience_in_taxonomy_order_once_each() {
        let case = Case::new(vec![
            article("both", 20, &["devs", "hr"]),
            article("devs-only", 21, &["devs"]),
            article("ops-only", 22, &["ops"]),
            article("old", 10, &["hr"]),
        ]);
        let planning = case.run(&[subscriber(1, &["devs", "hr"], "UTC")]);
        assert_eq!(planning.plans.len(), 1);
        let plan = &planning.plans[0];
        assert_eq!(
            titles(plan),
            [
                ("hr".to_string(), vec!["both".to_string()]),
                ("devs".to_string(), vec!["devs-only".to_string()])
            ]
        );
        assert_eq!(plan.groups[0].articles[0].also, ["Developers"]);
        assert_eq!(plan.period, utc(2026, 11, 23, 7));
        assert_eq!(
            plan.articles(),
            2,
            "the 10th is outside the 7-day window, ops is not theirs"
        );
    }

    /// A subscriber may keep an audience the taxonomy has dropped; an article still
    /// tagged with it is matched by its slug.
    #[test]
    fn audiences_outside_the_taxonomy_match_by_slug() {
        let case = Case::new(vec![
            article("kept", 20, &["retired", "hr"]),
            article("devs-only", 21, &["devs"]),
        ]);
        let planning = case.run(&[subscriber(1, &["retired", "devs"], "UTC")]);
        assert_eq!(
            titles(&planning.plans[0]),
            [
                ("devs".to_string(), vec!["devs-only".to_string()]),
                ("retired".to_string(), vec!["kept".to_string()]),
            ]
        );
    }

    #[test]
    fn nothing_new_means_no_email_and_others_still_get_theirs() {
        let case = Case::new(vec![article("a", 20, &["hr"])]);
        let planning = case.run(&[
            subscriber(1, &["ops"], "UTC"),
            subscriber(2, &["hr"], "UTC"),
        ]);
        assert_eq!(planning.empty.len(), 1);
        assert_eq!(planning.plans.len(), 1);
        assert_eq!(planning.plans[0].subscriber_id, 2);
    }

    #[test]
    fn only_articles_first_seen_after_the_previous_digest() {
        let mut case = Case::new(vec![
            article("seen-before", 17, &["hr"]),
            article("seen-after", 18, &["hr"]),
        ]);
        case.previous
            .insert(1, (utc(2026, 11, 16, 7), utc(2026, 11, 16, 7)));
        case.first_seen
            .insert("seen-before".into(), utc(2026, 11, 16, 6));
        case.first_seen
            .insert("seen-after".into(), utc(2026, 11, 18, 9));
        let planning = case.run(&[subscriber(1, &["hr"], "UTC"), subscriber(2, &["hr"], "UTC")]);
        let by_id: HashMap<i64, &Plan> = planning
            .plans
            .iter()
            .map(|p| (p.subscriber_id, p))
            .collect();
        assert_eq!(
            titles(by_id[&1]),
            [("hr".to_string(), vec!["seen-after".to_string()])]
        );
        // A first digest takes everything published in the window.
        assert_eq!(by_id[&2].articles(), 2);
    }

    #[test]
    fn an_article_seen_after_the_firing_but_before_planning_is_not_sent_twice() {
        // Last week's run fired at 07:00 and was planned at 09:00 (crier was down), and
        // included an article first seen at 08:00. This week it is not new.
        let mut case = Case::new(vec![article("late-seen", 17, &["hr"])]);
        case.now = utc(2026, 11, 23, 8);
        case.previous
            .insert(1, (utc(2026, 11, 16, 7), utc(2026, 11, 16, 9)));
        case.first_seen
            .insert("late-seen".into(), utc(2026, 11, 16, 8));
        let planning = case.run(&[subscriber(1, &["hr"], "UTC")]);
        assert_eq!((planning.plans.len(), planning.empty.len()), (0, 1));
    }

    #[test]
    fn planning_in_batches_gives_what_planning_at_once_gives() {
        let mut case = Case::new(vec![
            article("a", 20, &["hr"]),
            article("b", 21, &["ops"]),
            article("c", 22, &["hr", "devs"]),
        ]);
        case.previous
            .insert(4, (utc(2026, 11, 23, 7), utc(2026, 11, 23, 7)));
        let subscribers: Vec<Subscriber> = (1..=9)
            .map(|id| match id % 4 {
                0 => subscriber(id, &["hr"], "UTC"),
                1 => subscriber(id, &["ops"], "Europe/Paris"),
                2 => subscriber(id, &["sales"], "UTC"),
                _ => subscriber(
                    id,
                    &["hr", "devs"],
                    if id == 7 { "Not/AZone" } else { "UTC" },
                ),
            })
            .collect();
        let whole = case.run(&subscribers);

        let weekly = crate::cron::CronSchedule::parse("0 7 * * 1").unwrap();
        let last = |tz: &str| {
            tz.parse::<chrono_tz::Tz>()
                .ok()
                .and_then(|tz| weekly.last_at_or_before(case.now, &tz))
        };
        let input = PlanInput {
            digest: "weekly",
            library: &case.library,
            previous: &case.previous,
            first_seen: FirstSeen::All(&case.first_seen),
            now: case.now,
            lookback: Duration::days(7),
            max_lateness: Duration::hours(6),
            max_articles: case.max_articles,
            last_firing: &last,
            article_url: &|a: &Article| format!("https://x.test/articles/{}", a.slug),
        };
        let mut planner = Planner::default();
        for batch in subscribers.chunks(4) {
            planner.add(&input, batch.to_vec());
        }
        let batched = planner.finish();

        let summary = |p: &Planning| {
            let plans: Vec<_> = p
                .plans
                .iter()
                .map(|plan| (plan.subscriber_id, plan.period, titles(plan), plan.more))
                .collect();
            (
                plans,
                p.done,
                p.empty.clone(),
                p.late.clone(),
                p.unschedulable.clone(),
            )
        };
        assert_eq!(summary(&batched), summary(&whole));
        assert_eq!(batched.unschedulable, [7], "the case covers every outcome");
        assert_eq!((batched.done, batched.empty.len()), (1, 2));
        // Subscribers with the same content share it across batches (1 and 5: ops).
        let of = |id| {
            batched
                .plans
                .iter()
                .find(|p| p.subscriber_id == id)
                .unwrap()
        };
        assert!(Arc::ptr_eq(&of(1).groups, &of(5).groups));
        assert!(Arc::ptr_eq(&of(1).timezone, &of(9).timezone));
    }

    #[test]
    fn a_period_is_planned_once() {
        let mut case = Case::new(vec![article("a", 20, &["hr"])]);
        case.previous
            .insert(1, (utc(2026, 11, 23, 7), utc(2026, 11, 23, 7)));
        let planning = case.run(&[subscriber(1, &["hr"], "UTC")]);
        assert_eq!((planning.plans.len(), planning.done), (0, 1));
    }

    #[test]
    fn each_subscriber_on_their_own_clock() {
        let mut case = Case::new(vec![article("a", 20, &["hr"])]);
        // Monday 2026-11-23 03:00 UTC: already past 07:00 in Tokyo (22:00 UTC Sunday),
        // not yet in London, where the last firing was a week ago and is long late.
        case.now = utc(2026, 11, 23, 3);
        let planning = case.run(&[
            subscriber(1, &["hr"], "Asia/Tokyo"),
            subscriber(2, &["hr"], "Europe/London"),
        ]);
        assert_eq!(planning.plans.len(), 1);
        assert_eq!(planning.plans[0].subscriber_id, 1);
        assert_eq!(planning.plans[0].period, utc(2026, 11, 22, 22));
        assert_eq!(planning.late, [(2, utc(2026, 11, 16, 7))]);
        let planning = case.run(&[subscriber(3, &["hr"], "Not/AZone")]);
        assert_eq!(planning.unschedulable, [3]);
    }

    #[test]
    fn missed_runs_are_sent_within_the_lateness_and_skipped_after() {
        let mut case = Case::new(vec![article("a", 20, &["hr"])]);
        case.now = utc(2026, 11, 23, 12);
        assert_eq!(
            case.run(&[subscriber(1, &["hr"], "UTC")]).plans.len(),
            1,
            "5 hours late: sent"
        );
        case.now = utc(2026, 11, 23, 14);
        let planning = case.run(&[subscriber(1, &["hr"], "UTC")]);
        assert!(planning.plans.is_empty());
        assert_eq!(planning.late.len(), 1, "7 hours late: skipped and reported");
    }

    #[test]
    fn the_article_limit_counts_the_rest() {
        let articles = (1..=9)
            .map(|d| article(&format!("a{d}"), 14 + d, &["hr"]))
            .collect();
        let mut case = Case::new(articles);
        case.max_articles = 5;
        let planning = case.run(&[subscriber(1, &["hr"], "UTC")]);
        assert_eq!(planning.plans[0].articles(), 5);
        assert_eq!(
            planning.plans[0].more, 3,
            "8 published from the 16th (7 days back) on, 5 shown"
        );
        // Shared content for identical choices.
        let planning = case.run(&[subscriber(1, &["hr"], "UTC"), subscriber(2, &["hr"], "UTC")]);
        assert!(Arc::ptr_eq(
            &planning.plans[0].groups,
            &planning.plans[1].groups
        ));
    }

    #[test]
    fn everything_gets_every_article_with_the_unmatched_under_more() {
        let case = Case::new(vec![
            article("nobody", 22, &[]),
            article("ops-only", 21, &["ops"]),
            article("both", 20, &["devs", "hr"]),
        ]);
        let planning = case.run(&[
            subscriber(1, &["everything"], "UTC"),
            subscriber(2, &["devs", "everything"], "UTC"),
            subscriber(3, &["hr", "devs", "ops"], "UTC"),
        ]);
        let everything = [
            ("hr".to_string(), vec!["both".to_string()]),
            ("ops".to_string(), vec!["ops-only".to_string()]),
            ("everything".to_string(), vec!["nobody".to_string()]),
        ];
        assert_eq!(titles(&planning.plans[0]), everything);
        assert_eq!(planning.plans[0].groups[2].name, "More");
        assert_eq!(planning.plans[0].groups[0].articles[0].also, ["Developers"]);
        assert!(
            planning.plans[0].groups[2].articles[0].also.is_empty(),
            "More is never named as an also"
        );
        // A chosen audience beside Everything changes nothing.
        assert_eq!(titles(&planning.plans[1]), everything);
        // Every audience without Everything: the unmatched article reaches nobody.
        assert_eq!(
            titles(&planning.plans[2]),
            [
                ("hr".to_string(), vec!["both".to_string()]),
                ("ops".to_string(), vec!["ops-only".to_string()]),
            ]
        );
    }

    #[test]
    fn only_unmatched_news_still_reaches_everything() {
        let case = Case::new(vec![article("nobody", 22, &[])]);
        let planning = case.run(&[
            subscriber(1, &["hr"], "UTC"),
            subscriber(2, &["everything"], "UTC"),
        ]);
        assert_eq!(planning.empty, [1]);
        assert_eq!(
            titles(&planning.plans[0]),
            [("everything".to_string(), vec!["nobody".to_string()])]
        );
    }

    #[test]
    fn the_rest_names_the_audiences_it_is_under() {
        let case = {
            let mut case = Case::new(vec![
                article("o1", 22, &[]),
                article("d1", 21, &["devs"]),
                article("h1", 20, &["hr"]),
                article("h2", 19, &["hr"]),
                article("o2", 18, &["ops"]),
            ]);
            case.max_articles = 2;
            case
        };
        let planning = case.run(&[subscriber(1, &["everything"], "UTC")]);
        let plan = &planning.plans[0];
        // Newest first: o1 (More) and d1 (Developers) fit; h1, h2 and o2 do not.
        assert_eq!(
            titles(plan),
            [
                ("devs".to_string(), vec!["d1".to_string()]),
                ("everything".to_string(), vec!["o1".to_string()]),
            ]
        );
        assert_eq!(plan.more, 3);
        let rest: Vec<&str> = plan.more_in.iter().map(|h| h.slug.as_str()).collect();
        assert_eq!(rest, ["hr", "ops"]);
        assert_eq!(plan.more_in[0].name, "HR");
        assert_eq!(plan.groups[0].articles[0].date, "21 Nov 2026");
        assert_eq!(plan.groups[0].articles[0].published, "2026-11-21");
    }
}
