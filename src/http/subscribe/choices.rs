//! The choices the subscriber forms offer, in words people understand: audiences
//! with their descriptions, each frequency with when it is sent on the reader's own
//! clock ("At 07:00 on Monday"), and time zones grouped by region, without the
//! legacy aliases (`US/Eastern`, `EST5EDT`) and the sign-inverted `Etc/GMT±N` names.

use std::sync::LazyLock;

use serde::Serialize;

use crate::config::Digest;
use crate::http::People;

/// What the subscriber pages say beside the forms, worked out once from the config.
#[derive(Debug, Clone, Default)]
pub struct ReaderPages {
    /// `[site] privacy_url`, linked beside the consent sentence.
    pub privacy_url: Option<String>,
    /// Each frequency and when it is sent, in words; digests fire on each
    /// subscriber's own clock, so the words hold in the reader's zone.
    pub schedules: Vec<(String, String)>,
    /// The frequency that sends least often: what "fewer emails" switches to.
    pub least_frequent: Option<String>,
}

impl ReaderPages {
    pub fn new(privacy_url: Option<&url::Url>, digests: &[Digest]) -> ReaderPages {
        // Firings in a year from a fixed Monday, counted on UTC's clock (capped, for
        // a schedule that fires every minute): the fewest is the least frequent.
        let start = chrono::DateTime::from_timestamp(1_735_516_800, 0).unwrap_or_default();
        let end = start + chrono::Duration::days(366);
        let least_frequent = digests
            .iter()
            .min_by_key(|d| {
                d.cron
                    .firings_after(start, &chrono::Utc)
                    .take_while(|t| *t < end)
                    .take(10_000)
                    .count()
            })
            .map(|d| d.name.clone());
        ReaderPages {
            privacy_url: privacy_url.map(url::Url::to_string),
            schedules: digests
                .iter()
                .map(|d| (d.name.clone(), d.cron.describe()))
                .collect(),
            least_frequent,
        }
    }

    /// When `frequency` is sent, in words ("At 07:00 on Monday"), if known.
    pub(super) fn when(&self, frequency: &str) -> Option<&str> {
        self.schedules
            .iter()
            .find(|(name, _)| name == frequency)
            .map(|(_, words)| words.as_str())
    }
}

/// A frequency's name as a label: `every-morning` → "Every morning".
pub(super) fn label(frequency: &str) -> String {
    let mut label = frequency.replace('-', " ");
    if let Some(first) = label.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    label
}

#[derive(Serialize)]
pub(super) struct Choice {
    slug: String,
    name: String,
    description: Option<String>,
    checked: bool,
}

#[derive(Serialize)]
pub(super) struct Frequency {
    value: String,
    label: String,
    /// "At 07:00 on Monday, your time".
    when: Option<String>,
    checked: bool,
}

#[derive(Serialize)]
pub(super) struct Zone {
    value: &'static str,
    text: String,
    selected: bool,
}

#[derive(Serialize)]
pub(super) struct ZoneGroup {
    label: &'static str,
    zones: Vec<Zone>,
}

/// The regions offered, with their group labels. Only `Region/City` names under
/// these, and `UTC`, are listed.
const REGIONS: [(&str, &str); 9] = [
    ("Africa", "Africa"),
    ("America", "Americas"),
    ("Antarctica", "Antarctica"),
    ("Asia", "Asia"),
    ("Atlantic", "Atlantic Ocean"),
    ("Australia", "Australia"),
    ("Europe", "Europe"),
    ("Indian", "Indian Ocean"),
    ("Pacific", "Pacific Ocean"),
];

/// A region's label and its zones, each as (name, text shown).
type Region = (&'static str, Vec<(&'static str, String)>);

/// Every listed zone by region, sorted by the text shown.
static LISTED: LazyLock<Vec<Region>> = LazyLock::new(|| {
    REGIONS
        .iter()
        .map(|&(region, label)| {
            let prefix = format!("{region}/");
            let mut zones: Vec<(&'static str, String)> = chrono_tz::TZ_VARIANTS
                .iter()
                .map(|tz| tz.name())
                .filter_map(|name| {
                    let city = name.strip_prefix(&prefix)?;
                    Some((name, city.replace('_', " ").replace('/', " / ")))
                })
                .collect();
            zones.sort_by(|a, b| a.1.cmp(&b.1));
            (label, zones)
        })
        .collect()
});

/// Whether a zone is one the picker lists.
pub(super) fn is_listed(zone: &str) -> bool {
    zone == "UTC"
        || LISTED
            .iter()
            .any(|(_, zones)| zones.iter().any(|(n, _)| *n == zone))
}

/// The picker's groups with `selected` chosen. A zone that is valid but not listed
/// (a subscriber's stored `US/Eastern`) is kept, alone in a group of its own, so
/// saving the page does not change it behind the reader's back.
pub(super) fn zone_groups(selected: &str) -> Vec<ZoneGroup> {
    let mut groups = vec![ZoneGroup {
        label: "Universal time",
        zones: vec![Zone {
            value: "UTC",
            text: "UTC".into(),
            selected: selected == "UTC",
        }],
    }];
    groups.extend(LISTED.iter().map(|(label, zones)| {
        ZoneGroup {
            label,
            zones: zones
                .iter()
                .map(|(name, text)| Zone {
                    value: name,
                    text: text.clone(),
                    selected: *name == selected,
                })
                .collect(),
        }
    }));
    if !is_listed(selected)
        && let Ok(tz) = selected.parse::<chrono_tz::Tz>()
    {
        groups.push(ZoneGroup {
            label: "Your current choice",
            zones: vec![Zone {
                value: tz.name(),
                text: tz.name().to_string(),
                selected: true,
            }],
        });
    }
    groups
}

pub(super) fn audiences(people: &People, chosen: &[String]) -> Vec<Choice> {
    let taxonomy = people.subscriptions.taxonomy();
    let everything = crate::model::EVERYTHING;
    taxonomy
        .audiences()
        .iter()
        .map(|a| Choice {
            slug: a.slug.clone(),
            name: a.name.clone(),
            description: a.description.clone(),
            checked: chosen.contains(&a.slug),
        })
        // Last: every brief, those that match no audience too.
        .chain(std::iter::once(Choice {
            slug: everything.to_string(),
            name: taxonomy.choice_name(everything),
            description: Some(
                "Every brief, with those written for no audience in particular under \
                 \u{201c}More\u{201d}."
                    .into(),
            ),
            checked: chosen.iter().any(|c| c == everything),
        }))
        .collect()
}

pub(super) fn frequencies(people: &People, chosen: &str) -> Vec<Frequency> {
    people
        .subscriptions
        .settings()
        .frequencies
        .iter()
        .map(|f| Frequency {
            value: f.clone(),
            label: label(f),
            when: people.pages.when(f).map(|w| format!("{w}, your time")),
            checked: f == chosen,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picker_lists_cities_by_region_and_no_aliases() {
        let groups = zone_groups("Europe/London");
        let names: Vec<&str> = groups
            .iter()
            .flat_map(|g| g.zones.iter().map(|z| z.value))
            .collect();
        for listed in [
            "UTC",
            "Europe/London",
            "America/New_York",
            "Asia/Kolkata",
            "Pacific/Auckland",
        ] {
            assert!(names.contains(&listed), "{listed}");
        }
        for alias in [
            "US/Eastern",
            "EST5EDT",
            "Etc/GMT+5",
            "GMT",
            "Etc/UTC",
            "Cuba",
        ] {
            assert!(!names.contains(&alias), "{alias}");
        }
        let selected: Vec<&str> = groups
            .iter()
            .flat_map(|g| g.zones.iter().filter(|z| z.selected).map(|z| z.value))
            .collect();
        assert_eq!(selected, ["Europe/London"]);
    }

    #[test]
    fn a_stored_alias_stays_selectable() {
        let groups = zone_groups("US/Eastern");
        let last = groups.last().unwrap();
        assert_eq!(last.zones.len(), 1);
        assert_eq!(last.zones[0].value, "US/Eastern");
        assert!(last.zones[0].selected);
    }

    #[test]
    fn the_least_frequent_schedule_is_found_by_its_firings() {
        let digests: Vec<Digest> = crate::config::Config::parse(
            "[[digest]]\nname = \"daily\"\ncron = \"0 7 * * *\"\n\
             [[digest]]\nname = \"weekly\"\ncron = \"0 7 * * 1\"\n\
             [[digest]]\nname = \"twice-a-week\"\ncron = \"0 7 * * 1,4\"\n",
            None,
        )
        .unwrap()
        .digests;
        let pages = ReaderPages::new(None, &digests);
        assert_eq!(pages.least_frequent.as_deref(), Some("weekly"));
        assert_eq!(pages.when("weekly"), Some("At 07:00 on Monday"));
    }
}
