//! Small hand-written SVG charts for the report (see [`crate::report`]): linear and log axes
//! with readable ticks, step lines, bars, markers and legends. The output needs no script,
//! no font and no external resource; a standalone chart is a complete `.svg` file.

use std::fmt::Write;

/// The series colours, in order (colour-blind-friendly enough, and distinct in grey).
pub const COLORS: [&str; 6] = ["#1f77b4", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#666666"];
/// Text colour.
const INK: &str = "#222";
/// Axis and tick colour.
const AXIS: &str = "#555";
/// Grid line colour.
const GRID: &str = "#e3e3e3";

/// Escapes text for XML and HTML (content and attribute values).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for a tick or a label: at most 3 significant digits after the point where that
/// matters, `k` and `M` for thousands and millions (`0.05`, `2.5`, `120`, `15k`, `1.2M`).
pub fn number(value: f64) -> String {
    let magnitude = value.abs();
    let (scaled, suffix) = if magnitude >= 1e6 {
        (value / 1e6, "M")
    } else if magnitude >= 1e4 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let digits = if scaled == 0.0 { 0 } else { (2 - scaled.abs().log10().floor() as i32).clamp(0, 6) };
    let text = format!("{scaled:.prec$}", prec = usize::try_from(digits).unwrap_or(0));
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text };
    format!("{text}{suffix}")
}

/// How values map onto an axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// Linear from the first to the second value.
    Linear(f64, f64),
    /// Logarithmic (base 10) from the first to the second value, both above 0.
    Log(f64, f64),
}

impl Scale {
    /// A linear scale from 0 to a round number at or above `max`.
    pub fn from_zero(max: f64) -> Self {
        if !(max.is_finite() && max > 0.0) {
            return Self::Linear(0.0, 1.0);
        }
        let step = nice_step(max / 5.0);
        Self::Linear(0.0, (max / step - 1e-9).ceil().max(1.0) * step)
    }

    /// A log scale over whole decades covering `min..=max` (values at or below 0 ignored).
    pub fn log_covering(min: f64, max: f64) -> Self {
        let min = if min > 0.0 && min.is_finite() { min } else { 1.0 };
        let max = if max > 0.0 && max.is_finite() { max.max(min) } else { min };
        let low = (min.log10() + 1e-9).floor();
        let high = (max.log10() - 1e-9).ceil().max(low + 1.0);
        Self::Log(10f64.powf(low), 10f64.powf(high))
    }

    /// Where `value` falls, 0 at the start and 1 at the end (clamped).
    pub fn unit(self, value: f64) -> f64 {
        let unit = match self {
            Self::Linear(from, to) => (value - from) / (to - from),
            Self::Log(from, to) => (value.max(from * 1e-3).log10() - from.log10()) / (to.log10() - from.log10()),
        };
        if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 0.0 }
    }

    /// The ticks: about five round values on a linear scale, decades on a log scale (with 2
    /// and 5 between them when it spans three decades or fewer).
    pub fn ticks(self) -> Vec<(f64, String)> {
        match self {
            Self::Linear(from, to) => {
                let step = nice_step((to - from) / 5.0);
                let first = (from / step - 1e-9).ceil() as i64;
                let last = (to / step + 1e-9).floor() as i64;
                (first..=last).map(|i| i as f64 * step).map(|v| (v, number(v))).collect()
            }
            Self::Log(from, to) => {
                let (low, high) = (from.log10().round() as i32, to.log10().round() as i32);
                let between: &[f64] = if high - low <= 3 { &[1.0, 2.0, 5.0] } else { &[1.0] };
                let mut ticks = Vec::new();
                for decade in low..=high {
                    for &m in between {
                        let v = m * 10f64.powi(decade);
                        if v >= from * (1.0 - 1e-9) && v <= to * (1.0 + 1e-9) {
                            ticks.push((v, number(v)));
                        }
                    }
                }
                ticks
            }
        }
    }
}

/// 1, 2 or 5 times a power of ten, at or above `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    let mantissa = raw / power;
    let nice = if mantissa <= 1.0 + 1e-9 {
        1.0
    } else if mantissa <= 2.0 + 1e-9 {
        2.0
    } else if mantissa <= 5.0 + 1e-9 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// A plot area on the canvas and the scales of its axes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Left edge, in pixels.
    pub left: f64,
    /// Top edge, in pixels.
    pub top: f64,
    /// Width, in pixels.
    pub width: f64,
    /// Height, in pixels.
    pub height: f64,
    /// The horizontal axis.
    pub x: Scale,
    /// The vertical axis.
    pub y: Scale,
}

impl Frame {
    /// The horizontal pixel of `value`.
    pub fn px(&self, value: f64) -> f64 {
        self.left + self.x.unit(value) * self.width
    }

    /// The vertical pixel of `value`.
    pub fn py(&self, value: f64) -> f64 {
        self.top + self.height - self.y.unit(value) * self.height
    }

    fn bottom(&self) -> f64 {
        self.top + self.height
    }

    fn right(&self) -> f64 {
        self.left + self.width
    }
}

/// Where a text is anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// Its start.
    Start,
    /// Its middle.
    Middle,
    /// Its end.
    End,
}

impl Anchor {
    fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Middle => "middle",
            Self::End => "end",
        }
    }
}

/// An SVG drawing being built.
#[derive(Debug, Clone)]
pub struct Svg {
    width: f64,
    height: f64,
    title: String,
    body: String,
}

impl Svg {
    /// An empty canvas of `width` × `height` pixels; `title` names it (its `<title>`, and the
    /// heading drawn at its top).
    pub fn new(width: f64, height: f64, title: &str) -> Self {
        let mut svg = Self { width, height, title: title.to_owned(), body: String::new() };
        svg.text(width / 2.0, 22.0, title, 15.0, Anchor::Middle, "font-weight=\"bold\"");
        svg
    }

    /// Text at (`x`, `y`) (its baseline), `size` pixels high; `extra`: more attributes (a
    /// `fill` there replaces the ink colour).
    pub fn text(&mut self, x: f64, y: f64, text: &str, size: f64, anchor: Anchor, extra: &str) {
        let ink = if extra.contains("fill=") { String::new() } else { format!(r#" fill="{INK}""#) };
        let _ = write!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{}"{ink} {extra}>{}</text>"#,
            anchor.name(),
            escape(text)
        );
        self.body.push('\n');
    }

    fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), stroke: &str, extra: &str) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{stroke}" {extra}/>"#
        );
    }

    /// The frame's grid, axes and tick labels; the x tick labels and `x_title` only when
    /// `x_labels` (panels stacked on one time axis label it once, under the last).
    pub fn axes(&mut self, frame: &Frame, x_title: &str, y_title: &str, x_labels: bool) {
        for (value, label) in frame.y.ticks() {
            let y = frame.py(value);
            self.line((frame.left, y), (frame.right(), y), GRID, "");
            self.text(frame.left - 6.0, y + 4.0, &label, 11.0, Anchor::End, "");
        }
        for (value, label) in frame.x.ticks() {
            let x = frame.px(value);
            self.line((x, frame.top), (x, frame.bottom()), GRID, "");
            self.line((x, frame.bottom()), (x, frame.bottom() + 4.0), AXIS, "");
            if x_labels {
                self.text(x, frame.bottom() + 17.0, &label, 11.0, Anchor::Middle, "");
            }
        }
        self.line((frame.left, frame.top), (frame.left, frame.bottom()), AXIS, "");
        self.line((frame.left, frame.bottom()), (frame.right(), frame.bottom()), AXIS, "");
        if x_labels {
            let x = frame.left + frame.width / 2.0;
            self.text(x, frame.bottom() + 36.0, x_title, 12.0, Anchor::Middle, "");
        }
        let (x, y) = (frame.left - 48.0, frame.top + frame.height / 2.0);
        let rotate = format!(r#"transform="rotate(-90 {x:.1} {y:.1})""#);
        self.text(x, y, y_title, 12.0, Anchor::Middle, &rotate);
    }

    /// Replaces the frame's x tick labels: `ticks` are (value, label).
    pub fn x_tick_labels(&mut self, frame: &Frame, ticks: &[(f64, String)]) {
        for (value, label) in ticks {
            let x = frame.px(*value);
            self.line((x, frame.top), (x, frame.bottom()), GRID, "");
            self.line((x, frame.bottom()), (x, frame.bottom() + 4.0), AXIS, "");
            self.text(x, frame.bottom() + 17.0, label, 11.0, Anchor::Middle, "");
        }
    }

    /// A line through `points` (data values) in `color`.
    pub fn polyline(&mut self, frame: &Frame, points: &[(f64, f64)], color: &str) {
        self.polyline_width(frame, points, color, 2.0);
    }

    /// A line `width` pixels wide through `points` (data values) in `color`.
    pub fn polyline_width(&mut self, frame: &Frame, points: &[(f64, f64)], color: &str, width: f64) {
        if points.is_empty() {
            return;
        }
        let path: Vec<String> = points.iter().map(|&(x, y)| format!("{:.1},{:.1}", frame.px(x), frame.py(y))).collect();
        let _ = writeln!(
            self.body,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="{width}" stroke-linejoin="round"/>"#,
            path.join(" ")
        );
    }

    /// Dots at `points` (data values) in `color`.
    pub fn dots(&mut self, frame: &Frame, points: &[(f64, f64)], color: &str) {
        for &(x, y) in points {
            let _ = writeln!(
                self.body,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{color}"/>"#,
                frame.px(x),
                frame.py(y)
            );
        }
    }

    /// A step line over intervals: `(from, to, value)` holds `value` from `from` to `to`;
    /// `fill`: also shade the area under it.
    pub fn steps(&mut self, frame: &Frame, steps: &[(f64, f64, f64)], color: &str, fill: bool) {
        let mut points = Vec::with_capacity(steps.len() * 2);
        for &(from, to, value) in steps {
            points.push((from, value));
            points.push((to, value));
        }
        if let (true, Some(first), Some(last)) = (fill, points.first(), points.last()) {
            let base = match frame.y {
                Scale::Linear(from, _) | Scale::Log(from, _) => from,
            };
            let mut area: Vec<String> = vec![format!("{:.1},{:.1}", frame.px(first.0), frame.py(base))];
            area.extend(points.iter().map(|&(x, y)| format!("{:.1},{:.1}", frame.px(x), frame.py(y))));
            area.push(format!("{:.1},{:.1}", frame.px(last.0), frame.py(base)));
            let _ = writeln!(
                self.body,
                r#"<polygon points="{}" fill="{color}" fill-opacity="0.15" stroke="none"/>"#,
                area.join(" ")
            );
        }
        self.polyline(frame, &points, color);
    }

    /// Bars: `(from, to, value)` from the axis up to `value`, `from` to `to` wide.
    pub fn bars(&mut self, frame: &Frame, bars: &[(f64, f64, f64)], color: &str) {
        let base = frame.py(match frame.y {
            Scale::Linear(from, _) | Scale::Log(from, _) => from,
        });
        for &(from, to, value) in bars {
            if value <= 0.0 {
                continue;
            }
            let (x1, x2) = (frame.px(from), frame.px(to));
            let top = frame.py(value);
            let gap = ((x2 - x1) * 0.08).min(1.5);
            let _ = writeln!(
                self.body,
                r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{color}"/>"#,
                x1 + gap,
                (x2 - x1 - 2.0 * gap).max(0.5),
                (base - top).max(0.5)
            );
        }
    }

    /// A dashed vertical marker at `x` (a data value) labelled `label`, the label on text row
    /// `row` (0 at the top) so that close markers do not overprint.
    pub fn marker(&mut self, frame: &Frame, x: f64, label: &str, color: &str, row: usize) {
        let px = frame.px(x);
        self.line((px, frame.top), (px, frame.bottom()), color, r#"stroke-width="1.5" stroke-dasharray="5 3""#);
        let y = frame.top + 12.0 + 14.0 * row as f64;
        // Right of the line, unless it would run past the frame (11 px Helvetica: < 6.2 px a character).
        let width = 6.2 * label.chars().count() as f64 + 4.0;
        let anchor = if px + width > frame.right() { Anchor::End } else { Anchor::Start };
        let dx = if anchor == Anchor::End { -4.0 } else { 4.0 };
        let halo = r##"stroke="#fff" stroke-width="3" paint-order="stroke""##;
        self.text(px + dx, y, label, 11.0, anchor, &format!(r#"{halo} fill="{color}""#));
    }

    /// A legend: a colour swatch and a label per item, one a line, from (`x`, `y`).
    pub fn legend(&mut self, x: f64, y: f64, items: &[(&str, &str)]) {
        for (row, (label, color)) in items.iter().enumerate() {
            let y = y + 18.0 * row as f64;
            self.line((x, y - 4.0), (x + 18.0, y - 4.0), color, r#"stroke-width="3""#);
            self.text(x + 24.0, y, label, 12.0, Anchor::Start, "");
        }
    }

    /// A legend on one line: a colour swatch and a label per item, from (`x`, `y`) on; `x` is
    /// where it ends when `anchor` is [`Anchor::End`].
    pub fn legend_row(&mut self, x: f64, y: f64, items: &[(&str, &str)], anchor: Anchor) {
        // Helvetica at 12 px averages under 6.5 px a character.
        let widths: Vec<f64> =
            items.iter().map(|(label, _)| 24.0 + 6.5 * label.chars().count() as f64 + 16.0).collect();
        let mut at = if anchor == Anchor::End { x - widths.iter().sum::<f64>() } else { x };
        for ((label, color), width) in items.iter().zip(widths) {
            self.line((at, y - 4.0), (at + 18.0, y - 4.0), color, r#"stroke-width="3""#);
            self.text(at + 24.0, y, label, 12.0, Anchor::Start, "");
            at += width;
        }
    }

    /// The canvas's width and height.
    pub fn size(&self) -> (f64, f64) {
        (self.width, self.height)
    }

    /// The finished `<svg>` element: `standalone` for a `.svg` file (with its namespace and an
    /// XML declaration), otherwise to put inside HTML (scaling down with the page).
    pub fn finish(&self, standalone: bool) -> String {
        let (w, h) = (self.width, self.height);
        let head = if standalone {
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" "
            )
        } else {
            format!(r#"<svg width="{w}" height="{h}" style="max-width:100%;height:auto" "#)
        };
        format!(
            "{head}viewBox=\"0 0 {w} {h}\" font-family=\"Helvetica, Arial, sans-serif\" role=\"img\">\n<title>{}</title>\n<rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\n{}</svg>\n",
            escape(&self.title),
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        let shown: Vec<String> =
            [0.0, 0.05, 0.125, 1.0, 2.5, 12.34, 120.0, 1000.0, 2500.0, 15_000.0, 1_200_000.0, -3.0]
                .iter()
                .map(|&v| number(v))
                .collect();
        assert_eq!(shown, ["0", "0.05", "0.125", "1", "2.5", "12.3", "120", "1000", "2500", "15k", "1.2M", "-3"]);
    }

    #[test]
    fn linear_scales_end_on_round_numbers() {
        assert_eq!(Scale::from_zero(12.3), Scale::Linear(0.0, 15.0));
        assert_eq!(Scale::from_zero(9.5), Scale::Linear(0.0, 10.0));
        assert_eq!(Scale::from_zero(950.0), Scale::Linear(0.0, 1000.0));
        assert_eq!(Scale::from_zero(0.0), Scale::Linear(0.0, 1.0));
        let ticks: Vec<String> = Scale::from_zero(12.3).ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(ticks, ["0", "5", "10", "15"]);
        let ticks: Vec<String> = Scale::Linear(0.0, 0.3).ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(ticks, ["0", "0.1", "0.2", "0.3"]);
    }

    #[test]
    fn log_scales_cover_whole_decades() {
        assert_eq!(Scale::log_covering(0.3, 4.0), Scale::Log(0.1, 10.0));
        assert_eq!(Scale::log_covering(1.0, 1.0), Scale::Log(1.0, 10.0));
        let ticks: Vec<String> = Scale::log_covering(0.3, 4.0).ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(ticks, ["0.1", "0.2", "0.5", "1", "2", "5", "10"]);
        let wide: Vec<String> = Scale::log_covering(0.01, 5_000.0).ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(wide, ["0.01", "0.1", "1", "10", "100", "1000", "10k"]);
        let scale = Scale::Log(0.1, 10.0);
        assert_eq!((scale.unit(0.1), scale.unit(1.0), scale.unit(10.0)), (0.0, 0.5, 1.0));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        let mut svg = Svg::new(100.0, 50.0, "a < b");
        svg.text(1.0, 2.0, "x & y", 10.0, Anchor::Start, "");
        let out = svg.finish(true);
        assert!(out.contains("<title>a &lt; b</title>") && out.contains(">x &amp; y</text>"), "{out}");
        assert!(out.starts_with("<?xml") && out.trim_end().ends_with("</svg>"));
    }
}
