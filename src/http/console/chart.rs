//! Charts drawn on the server as SVG, from numbers the store counted. No script and
//! no style attribute (the console's policy allows neither): colours come from
//! classes in `console.css`, sizes from SVG attributes. Every chart has a `<title>`,
//! a `<desc>` and `role="img"` with an `aria-label`; the page puts the same numbers
//! in a table beside it for those who cannot see it. Every text is escaped here,
//! since the page inserts the SVG as it is.

use std::fmt::Write;

const WIDTH: f64 = 720.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;

/// One line of a [`lines`] chart.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<u64>,
}

/// Text made safe for SVG (and HTML) text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn open(out: &mut String, height: f64, title: &str, description: &str) {
    let (title, description) = (escape(title), escape(description));
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{title}"><title>{title}</title><desc>{description}</desc>"#
    );
}

/// A round number at or above `max`, for the top of the y axis.
fn ceiling(max: u64) -> u64 {
    if max <= 5 {
        return 5;
    }
    let mut step = 1;
    while step * 10 < max {
        step *= 10;
    }
    for m in [1, 2, 5, 10] {
        if step * m >= max {
            return step * m;
        }
    }
    step * 10
}

/// Lines over days (or any sequence of `labels`), one per series, with the first,
/// middle and last label under the x axis and a legend below. Series are told apart
/// by class (`s0`, `s1`, …) and by a dash pattern, so colour is not the only cue.
pub fn lines(title: &str, description: &str, labels: &[String], series: &[Series]) -> String {
    const PLOT: f64 = 200.0;
    let legend_y = TOP + PLOT + 40.0;
    let height = legend_y + 20.0;
    let mut out = String::with_capacity(4096);
    open(&mut out, height, title, description);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0);
    let top = ceiling(max);
    let bottom = TOP + PLOT;
    let span = WIDTH - LEFT - RIGHT;
    let n = labels.len().max(1);
    let x = |i: usize| {
        if n == 1 {
            LEFT + span / 2.0
        } else {
            LEFT + span * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: u64| bottom - PLOT * v as f64 / top as f64;
    // Grid lines and the y axis's numbers: 0, half and the top.
    for v in [0, top / 2, top] {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}"/><text class="tick" x="{tx}" y="{ty:.1}" text-anchor="end">{v}</text>"#,
            y = y(v),
            right = WIDTH - RIGHT,
            tx = LEFT - 6.0,
            ty = y(v) + 4.0,
        );
    }
    let mut shown: Vec<usize> = vec![0, (n - 1) / 2, n - 1];
    shown.dedup();
    for &i in shown.iter().filter(|&&i| i < labels.len()) {
        let anchor = match i {
            0 => "start",
            i if i == n - 1 => "end",
            _ => "middle",
        };
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
            x(i),
            bottom + 18.0,
            escape(&labels[i])
        );
    }
    for (k, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| format!("{:.1},{:.1}", x(i), y(v)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="line s{k}" fill="none" points="{}"><title>{}</title></polyline>"#,
            points.join(" "),
            escape(s.name)
        );
    }
    // The legend: a short stroke of each series' line, then its name.
    let mut at = LEFT;
    for (k, s) in series.iter().enumerate() {
        let _ = write!(
            out,
            r#"<line class="line s{k}" x1="{at}" y1="{y}" x2="{x2}" y2="{y}"/><text class="legend" x="{tx}" y="{ty}">{}</text>"#,
            escape(s.name),
            y = legend_y,
            x2 = at + 20.0,
            tx = at + 26.0,
            ty = legend_y + 4.0,
        );
        at += 40.0 + 8.0 * s.name.chars().count() as f64;
    }
    out.push_str("</svg>");
    out
}

/// Horizontal bars, one per `(label, value)`, each with its number at its end.
pub fn bars(title: &str, description: &str, rows: &[(&str, u64)]) -> String {
    const ROW: f64 = 26.0;
    const LABELS: f64 = 220.0;
    let height = TOP * 2.0 + ROW * rows.len().max(1) as f64;
    let mut out = String::with_capacity(1024 + rows.len() * 256);
    open(&mut out, height, title, description);
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let span = WIDTH - LABELS - RIGHT - 60.0;
    for (i, (label, value)) in rows.iter().enumerate() {
        let top = TOP + ROW * i as f64;
        let width = span * *value as f64 / max as f64;
        // Long names are cut so that they stay left of the bars.
        let mut shown: String = label.chars().take(28).collect();
        if label.chars().count() > 28 {
            shown.push('…');
        }
        let _ = write!(
            out,
            r#"<text class="tick" x="{lx}" y="{ty:.1}" text-anchor="end">{}</text><rect class="bar" x="{LABELS}" y="{ry:.1}" width="{width:.1}" height="{h}"><title>{}: {value}</title></rect><text class="tick" x="{vx:.1}" y="{ty:.1}">{value}</text>"#,
            escape(&shown),
            escape(label),
            lx = LABELS - 8.0,
            ty = top + ROW / 2.0 + 4.0,
            ry = top + 4.0,
            h = ROW - 8.0,
            vx = LABELS + width + 6.0,
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_top_is_a_round_number_at_or_above_the_maximum() {
        assert_eq!(ceiling(0), 5);
        assert_eq!(ceiling(7), 10);
        assert_eq!(ceiling(11), 20);
        assert_eq!(ceiling(20), 20);
        assert_eq!(ceiling(499), 500);
        assert_eq!(ceiling(501), 1000);
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(escape("a\u{0}b"), "a\u{FFFD}b");
    }

    #[test]
    fn a_line_per_series_with_a_point_per_label() {
        let labels: Vec<String> = (1..=3).map(|d| format!("day {d}")).collect();
        let svg = lines(
            "T",
            "D",
            &labels,
            &[
                Series {
                    name: "a",
                    values: vec![0, 5, 10],
                },
                Series {
                    name: "b",
                    values: vec![1, 1, 1],
                },
            ],
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        // 10 is the top: the last point of `a` sits on the top grid line.
        assert!(
            svg.contains(&format!("{:.1},{:.1}", WIDTH - RIGHT, TOP)),
            "{svg}"
        );
        assert!(!svg.contains("style="));
    }
}
