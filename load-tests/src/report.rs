//! The run's report for people: one self-contained HTML file (`replay --html FILE`) and the
//! same plots as standalone SVG files (`replay --svg-dir DIR`), for docs to embed.
//!
//! The HTML holds the run's parameters, the result tables (sessions, violations, latency
//! percentiles, throughput, thresholds) and inline SVG plots drawn by [`crate::chart`]:
//! throughput over time (events/s, live sessions, answers and finished sessions per second),
//! each latency's percentile curve, and a log-bucketed histogram per latency. It needs no
//! script and loads nothing: it reads the same offline, attached to a ticket or opened years
//! later.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::chart::{Anchor, COLORS, Frame, Scale, Svg, escape, number};
use crate::stats::{BUCKETS_PER_DECADE, Metric, Summary};

/// What was run, for the report's header.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// The gateway, as given.
    pub url: String,
    /// The recordings replayed, by name.
    pub recordings: Vec<String>,
    /// Sessions asked for.
    pub sessions: usize,
    /// Sessions live at once.
    pub concurrency: usize,
    /// Replay speed.
    pub speed: f64,
    /// The sockets' subprotocol, e.g. `viva.v1.json`.
    pub encoding: String,
    /// When the run started.
    pub started_at: SystemTime,
    /// The command line, to run it again.
    pub command: String,
}

/// One plot of the report.
#[derive(Debug, Clone)]
pub struct Plot {
    /// Its file name without `.svg`, e.g. `throughput` or `latency-first_delta`.
    pub name: String,
    /// The drawing.
    pub svg: Svg,
}

/// Red for failures, wherever they are drawn.
const RED: &str = "#d62728";

/// Every plot of the report, in its order: throughput, the percentile curves, then a histogram
/// per latency.
pub fn plots(summary: &Summary) -> Vec<Plot> {
    let mut plots = vec![
        Plot { name: "throughput".to_owned(), svg: throughput(summary) },
        Plot { name: "latency-percentiles".to_owned(), svg: percentiles(summary) },
    ];
    for metric in Metric::ALL {
        plots.push(Plot { name: format!("latency-{}", metric.name()), svg: histogram(summary, metric) });
    }
    plots
}

/// Writes the HTML report to `path`.
pub fn write_html(path: &Path, info: &RunInfo, summary: &Summary) -> std::io::Result<()> {
    std::fs::write(path, html(info, summary))
}

/// Writes every plot as `<name>.svg` into `dir` (made if missing); the files written.
pub fn write_svgs(dir: &Path, summary: &Summary) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    plots(summary)
        .into_iter()
        .map(|plot| {
            let path = dir.join(format!("{}.svg", plot.name));
            std::fs::write(&path, plot.svg.finish(true)).map(|()| path)
        })
        .collect()
}

/// A command line as a shell would take it back: arguments with anything but
/// `[A-Za-z0-9_./:=@%+,-]` in single quotes.
pub fn command_line(args: impl IntoIterator<Item = String>) -> String {
    let quoted: Vec<String> = args
        .into_iter()
        .map(|arg| {
            let plain = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
            if plain { arg } else { format!("'{}'", arg.replace('\'', r"'\''")) }
        })
        .collect();
    quoted.join(" ")
}

/// `time` as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rest / 3_600, rest % 3_600 / 60, rest % 60)
}

/// The whole report: one HTML document, every plot inline.
pub fn html(info: &RunInfo, summary: &Summary) -> String {
    let verdict = if summary.passed() { ("PASSED", "pass") } else { ("FAILED", "fail") };
    let mut out = String::new();
    let title = format!("viva-load replay: {} — {} sessions against {}", verdict.0, summary.sessions.total, info.url);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let _ = writeln!(out, "<h1>viva-load replay <span class=\"verdict {}\">{}</span></h1>", verdict.1, verdict.0);
    run_section(&mut out, info, summary);
    results_section(&mut out, summary);
    let plots = plots(summary);
    let _ = writeln!(out, "<h2 id=\"throughput\">Throughput over time</h2>");
    for plot in plots.iter().filter(|p| p.name == "throughput") {
        let _ = writeln!(out, "<figure>\n{}</figure>", plot.svg.finish(false));
    }
    let _ = writeln!(
        out,
        "<p class=\"note\">Per second since the run started. Events and bytes are what the sessions \
         received; a session is live while its socket is open. The table of every second is at the end.</p>"
    );
    let _ = writeln!(out, "<h2 id=\"latency\">Latency</h2>");
    let _ = writeln!(
        out,
        "<p class=\"note\">From HDR histograms (3 significant digits, microsecond resolution). \
         Histograms count samples in buckets of equal width on a log scale, {BUCKETS_PER_DECADE} a decade; \
         the dashed lines are the p50, p90 and p99.</p>"
    );
    for plot in plots.iter().filter(|p| p.name != "throughput") {
        let _ = writeln!(out, "<figure>\n{}</figure>", plot.svg.finish(false));
    }
    series_section(&mut out, summary);
    let _ = writeln!(
        out,
        "<footer>Written by viva-load {} at the end of the run. The same figures are in \
         <code>--json</code>; the plots as separate files with <code>--svg-dir</code>.</footer>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION")
    );
    out
}

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #222;
  max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1rem; margin: 1.2rem 0 0.4rem; }
table { border-collapse: collapse; margin: 0.4rem 0 1rem; font-size: 0.92rem; }
th, td { padding: 0.25rem 0.7rem; border-bottom: 1px solid #e5e5e5; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { background: none; font-weight: 600; white-space: nowrap; }
code { font-family: ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace; font-size: 0.88em; overflow-wrap: anywhere; }
.verdict { font-size: 1rem; padding: 0.15rem 0.6rem; border-radius: 0.3rem; color: #fff; vertical-align: middle; }
.pass { background: #1b7f3b; } .fail { background: #c62828; }
td.ok { color: #1b7f3b; font-weight: 600; } td.bad { color: #c62828; font-weight: 600; }
figure { margin: 1rem 0; } .note { color: #555; font-size: 0.9rem; }
ul.examples { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.82rem; }
footer { margin-top: 3rem; color: #777; font-size: 0.85rem; }
";

fn run_section(out: &mut String, info: &RunInfo, summary: &Summary) {
    let rows = [
        ("gateway", format!("<code>{}</code>", escape(&info.url))),
        ("recordings", escape(&info.recordings.join(", "))),
        ("sessions", format!("{} ({} live at once)", info.sessions, info.concurrency)),
        ("speed", format!("{}× the recorded timing", number(info.speed))),
        ("encoding", format!("<code>{}</code>", escape(&info.encoding))),
        ("started", utc(info.started_at)),
        ("duration", format!("{:.1} s", summary.duration_s)),
        ("command", format!("<code>{}</code>", escape(&info.command))),
    ];
    let _ = writeln!(out, "<h2 id=\"run\">Run</h2>\n<table class=\"kv\">");
    for (name, value) in rows {
        let _ = writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>");
    }
    let _ = writeln!(out, "</table>");
}

fn results_section(out: &mut String, summary: &Summary) {
    let s = &summary.sessions;
    let _ = writeln!(out, "<h2 id=\"results\">Results</h2>\n<h3>Sessions</h3>\n<table>");
    let _ = writeln!(out, "<tr><th>run</th><th>completed</th><th>failed</th><th>why</th></tr>");
    let why: Vec<String> = s.failures.iter().map(|(kind, n)| format!("{}: {n}", escape(kind))).collect();
    let failed_class = if s.failed == 0 { "num" } else { "num bad" };
    let _ = writeln!(
        out,
        "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"{failed_class}\">{}</td><td>{}</td></tr>\n</table>",
        grouped(s.total),
        grouped(s.completed),
        grouped(s.failed),
        if why.is_empty() { "—".to_owned() } else { why.join(", ") }
    );

    let v = &summary.violations;
    let _ = writeln!(out, "<h3>Protocol violations: {}</h3>", v.total);
    if !v.by_kind.is_empty() {
        let _ = writeln!(out, "<table>\n<tr><th>kind</th><th class=\"num\">count</th></tr>");
        for (kind, n) in &v.by_kind {
            let _ = writeln!(out, "<tr><td>{}</td><td class=\"num bad\">{n}</td></tr>", escape(kind));
        }
        let _ = writeln!(out, "</table>");
    }
    if !summary.errors.is_empty() {
        let errors: Vec<String> = summary.errors.iter().map(|(code, n)| format!("{}: {n}", escape(code))).collect();
        let _ = writeln!(out, "<p>Non-fatal <code>error</code> events received: {}.</p>", errors.join(", "));
    }

    let _ = writeln!(
        out,
        "<h3>Latency (ms)</h3>\n<table>\n<tr><th>metric</th><th>measures</th><th class=\"num\">samples</th>\
         <th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p99</th><th class=\"num\">max</th>\
         <th class=\"num\">mean</th></tr>"
    );
    let ms = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.2}"));
    for metric in Metric::ALL {
        let Some(l) = summary.latency_ms.get(metric.name()) else { continue };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            metric.name(),
            escape(&described(metric)),
            grouped(l.count),
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.max),
            ms(l.mean)
        );
    }
    let _ = writeln!(out, "</table>");

    let _ = writeln!(
        out,
        "<h3>Throughput</h3>\n<table>\n<tr><th></th><th class=\"num\">total</th><th class=\"num\">per second</th></tr>"
    );
    let rows = [
        ("events received", grouped(summary.events), grouped(summary.events_per_s.round() as u64)),
        ("bytes received", bytes(summary.bytes_in as f64), format!("{}/s", bytes(summary.bytes_per_s))),
        ("messages sent", grouped(summary.messages_out), "".to_owned()),
        ("bytes sent", bytes(summary.bytes_out as f64), "".to_owned()),
        (
            "answers sent",
            format!("{} ({} beyond the recordings)", grouped(summary.answers), grouped(summary.extra_answers)),
            "".to_owned(),
        ),
    ];
    for (name, total, rate) in rows {
        let _ = writeln!(out, "<tr><th>{name}</th><td class=\"num\">{total}</td><td class=\"num\">{rate}</td></tr>");
    }
    let peak = summary.series.iter().map(|p| p.events_per_s()).fold(0.0, f64::max);
    let live = summary.series.iter().map(|p| p.live).fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "<tr><th>busiest second</th><td class=\"num\"></td><td class=\"num\">{} events</td></tr>\n\
         <tr><th>most sessions live</th><td class=\"num\">{live:.0}</td><td class=\"num\">(mean over a second)</td></tr>\n</table>",
        grouped(peak.round() as u64)
    );

    if !summary.thresholds.is_empty() {
        let _ = writeln!(
            out,
            "<h3>Thresholds</h3>\n<table>\n<tr><th>threshold</th><th class=\"num\">value</th><th>result</th></tr>"
        );
        for t in &summary.thresholds {
            let value = t.value.map_or_else(|| "no samples".to_owned(), |v| format!("{v}"));
            let (class, word) = if t.passed { ("ok", "passed") } else { ("bad", "MISSED") };
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td class=\"num\">{value}</td><td class=\"{class}\">{word}</td></tr>",
                escape(&t.threshold)
            );
        }
        let _ = writeln!(out, "</table>");
    }
    if !summary.examples.is_empty() {
        let _ = writeln!(out, "<h3>What went wrong (the first few)</h3>\n<ul class=\"examples\">");
        for example in &summary.examples {
            let _ = writeln!(out, "<li>{}</li>", escape(example));
        }
        let _ = writeln!(out, "</ul>");
    }
}

fn series_section(out: &mut String, summary: &Summary) {
    let _ = writeln!(
        out,
        "<h2 id=\"series\">Second by second</h2>\n<details>\n<summary>{} seconds (the last may be partial)</summary>\n<table>\n\
         <tr><th class=\"num\">from (s)</th><th class=\"num\">events/s</th><th class=\"num\">received/s</th>\
         <th class=\"num\">answers/s</th><th class=\"num\">live sessions</th><th class=\"num\">completed</th>\
         <th class=\"num\">failed</th></tr>",
        summary.series.len()
    );
    for p in &summary.series {
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}</td>\
             <td class=\"num\">{:.1}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            p.t_s,
            grouped(p.events_per_s().round() as u64),
            bytes(p.bytes_per_s()),
            p.answers_per_s(),
            p.live,
            p.completed,
            p.failed
        );
    }
    let _ = writeln!(out, "</table>\n</details>");
}

/// `n` with its thousands separated: `61,950`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A metric's description, with arrows.
fn described(metric: Metric) -> String {
    metric.description().replace("->", "→")
}

/// Bytes in B, KiB, MiB or GiB.
fn bytes(n: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{value:.0} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// The plots' width, in pixels.
const WIDTH: f64 = 760.0;
/// Room left of a plot area for the tick labels and the axis title.
const LEFT: f64 = 78.0;
/// Room right of a plot area.
const RIGHT: f64 = 28.0;

/// Events/s, live sessions, and answers and finished sessions per second, on one time axis.
fn throughput(summary: &Summary) -> Svg {
    let series = &summary.series;
    let panels = [150.0, 110.0, 110.0];
    let (top, gap, bottom) = (68.0, 44.0, 56.0);
    let height = top + panels.iter().sum::<f64>() + gap * (panels.len() - 1) as f64 + bottom;
    let mut svg = Svg::new(WIDTH, height, "Throughput over the run");
    let subtitle = format!(
        "{} sessions in {:.1} s · {} events received, {} a second on average · {}/s",
        grouped(summary.sessions.total),
        summary.duration_s,
        grouped(summary.events),
        grouped(summary.events_per_s.round() as u64),
        bytes(summary.bytes_per_s)
    );
    svg.text(WIDTH / 2.0, 42.0, &subtitle, 12.0, Anchor::Middle, "fill=\"#555\"");
    let end = series.last().map_or(0.0, |p| p.t_s as f64 + p.span_s).max(summary.duration_s);
    let x = Scale::from_zero(end);
    let span = |p: &crate::series::SeriesPoint| (p.t_s as f64, p.t_s as f64 + p.span_s);
    let mut panel_top = top;
    let mut frames = Vec::new();
    for height in panels {
        frames.push(Frame { left: LEFT, top: panel_top, width: WIDTH - LEFT - RIGHT, height, x, y: x });
        panel_top += height + gap;
    }
    let last = frames.len() - 1;
    let caption = |svg: &mut Svg, frame: &Frame, text: &str| {
        svg.text(frame.left, frame.top - 8.0, text, 12.5, Anchor::Start, "font-weight=\"bold\"");
    };
    let x_title = "time since the run started (s)";

    // Events received per second.
    let events: Vec<(f64, f64, f64)> = series.iter().map(|p| (span(p).0, span(p).1, p.events_per_s())).collect();
    let mut frame = frames[0];
    frame.y = Scale::from_zero(events.iter().map(|e| e.2).fold(0.0, f64::max));
    caption(&mut svg, &frame, "Events received per second");
    svg.axes(&frame, x_title, "events/s", false);
    svg.steps(&frame, &events, COLORS[0], true);

    // Live sessions.
    let live: Vec<(f64, f64, f64)> = series.iter().map(|p| (span(p).0, span(p).1, p.live)).collect();
    let mut frame = frames[1];
    frame.y = Scale::from_zero(live.iter().map(|e| e.2).fold(0.0, f64::max));
    caption(&mut svg, &frame, "Sessions live (socket open; mean over each second)");
    svg.axes(&frame, x_title, "sessions", false);
    svg.steps(&frame, &live, COLORS[1], true);

    // Answers sent and sessions finished per second.
    let rate = |f: &dyn Fn(&crate::series::SeriesPoint) -> f64| -> Vec<(f64, f64, f64)> {
        series.iter().map(|p| (span(p).0, span(p).1, f(p))).collect()
    };
    let answers = rate(&|p| p.answers_per_s());
    let completed = rate(&|p| p.completed as f64 / p.span_s);
    let failed = rate(&|p| p.failed as f64 / p.span_s);
    let any_failed = series.iter().any(|p| p.failed > 0);
    let mut frame = frames[last];
    let top_rate = answers.iter().chain(&completed).chain(&failed).map(|e| e.2).fold(0.0, f64::max);
    frame.y = Scale::from_zero(top_rate);
    caption(&mut svg, &frame, "Answers sent and sessions finished per second");
    let mut legend = vec![("answers sent", COLORS[2]), ("sessions completed", COLORS[3])];
    if any_failed {
        legend.push(("sessions failed", RED));
    }
    svg.legend_row(frame.left + frame.width, frame.top - 8.0, &legend, Anchor::End);
    svg.axes(&frame, x_title, "per second", true);
    svg.steps(&frame, &answers, COLORS[2], false);
    svg.steps(&frame, &completed, COLORS[3], false);
    if any_failed {
        svg.steps(&frame, &failed, RED, false);
    }
    if series.is_empty() {
        let frame = frames[0];
        let (cx, cy) = (frame.left + frame.width / 2.0, frame.top + frame.height / 2.0);
        svg.text(cx, cy, "no data: the run took no time", 13.0, Anchor::Middle, "fill=\"#777\"");
    }
    svg
}

/// Every latency's percentile curve, on a log scale of 1/(1 − p) (so 90%, 99%, 99.9%... are
/// equally spaced, as HDR plots do).
fn percentiles(summary: &Summary) -> Svg {
    let height = 380.0;
    let legend_width = 170.0;
    let mut svg = Svg::new(WIDTH, height, "Latency by percentile");
    svg.text(
        WIDTH / 2.0,
        42.0,
        "each line ends at its metric's largest sample; where lines coincide, the later ones are drawn thinner on top",
        12.0,
        Anchor::Middle,
        "fill=\"#555\"",
    );
    let position = |p: f64| -(1.0 - p / 100.0).max(1e-12).log10();
    let curves: Vec<(Metric, Vec<(f64, f64)>)> = Metric::ALL
        .iter()
        .filter_map(|&m| {
            let d = summary.distributions.get(m.name())?;
            (!d.percentiles.is_empty()).then(|| (m, d.percentiles.iter().map(|&(p, ms)| (position(p), ms)).collect()))
        })
        .collect();
    let all = curves.iter().flat_map(|(_, points)| points.iter());
    let right = (all.clone().map(|p| p.0).fold(0.0, f64::max) - 1e-6).ceil().max(2.0);
    let low = all.clone().map(|p| p.1).filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
    let high = all.map(|p| p.1).fold(0.0, f64::max);
    let frame = Frame {
        left: LEFT,
        top: 62.0,
        width: WIDTH - LEFT - RIGHT - legend_width,
        height: height - 62.0 - 56.0,
        x: Scale::Linear(0.0, right),
        y: if high > 0.0 { Scale::log_covering(low, high) } else { Scale::Log(0.1, 10.0) },
    };
    svg.axes(&frame, "", "latency (ms, log scale)", false);
    let ticks: Vec<(f64, String)> = (0..=right as i32)
        .map(|k| {
            // 0%, 90%, 99%, 99.9%...: k − 2 decimals.
            let decimals = usize::try_from(k - 2).unwrap_or(0);
            let label = if k == 0 { "0%".to_owned() } else { format!("{:.decimals$}%", 100.0 - 100.0 / 10f64.powi(k)) };
            (f64::from(k), label)
        })
        .collect();
    svg.x_tick_labels(&frame, &ticks);
    svg.text(
        frame.left + frame.width / 2.0,
        frame.top + frame.height + 36.0,
        "percentile (log scale: 90%, 99%, 99.9%… equally spaced)",
        12.0,
        Anchor::Middle,
        "",
    );
    let mut legend = Vec::new();
    for (drawn, (metric, points)) in curves.iter().enumerate() {
        let color = COLORS[metric_color(*metric)];
        // Each line thinner than the one under it: where two coincide, both show.
        let width = 1.5 + 1.0 * (curves.len() - 1 - drawn) as f64;
        svg.polyline_width(&frame, points, color, width);
        svg.dots(&frame, points, color);
        legend.push((metric.name(), color));
    }
    svg.legend(frame.left + frame.width + 24.0, frame.top + 12.0, &legend);
    if curves.is_empty() {
        let (cx, cy) = (frame.left + frame.width / 2.0, frame.top + frame.height / 2.0);
        svg.text(cx, cy, "no samples", 13.0, Anchor::Middle, "fill=\"#777\"");
    }
    svg
}

fn metric_color(metric: Metric) -> usize {
    Metric::ALL.iter().position(|&m| m == metric).unwrap_or(0) % COLORS.len()
}

/// One latency's histogram over log-scaled buckets, with its p50, p90 and p99 marked.
fn histogram(summary: &Summary, metric: Metric) -> Svg {
    let height = 330.0;
    let name = metric.name();
    let mut svg = Svg::new(WIDTH, height, &format!("{name}: {}", described(metric)));
    let latency = summary.latency_ms.get(name);
    let buckets = summary.distributions.get(name).map(|d| d.buckets.as_slice()).unwrap_or_default();
    let ms = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{} ms", number(v)));
    let subtitle = match latency {
        Some(l) if l.count > 0 => format!(
            "{} samples · p50 {} · p90 {} · p99 {} · max {}",
            grouped(l.count),
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.max)
        ),
        _ => "no samples".to_owned(),
    };
    svg.text(WIDTH / 2.0, 42.0, &subtitle, 12.0, Anchor::Middle, "fill=\"#555\"");
    let (low, high) = match (buckets.first(), buckets.last()) {
        (Some(first), Some(last)) => (first.from_ms, last.to_ms),
        _ => (0.1, 10.0),
    };
    let frame = Frame {
        left: LEFT,
        top: 62.0,
        width: WIDTH - LEFT - RIGHT,
        height: height - 62.0 - 56.0,
        x: Scale::log_covering(low, high),
        // Headroom above the tallest bar for the markers' labels.
        y: Scale::from_zero(buckets.iter().map(|b| b.count).max().unwrap_or(0) as f64 * 1.25),
    };
    svg.axes(&frame, "latency (ms, log scale)", "samples", true);
    let bars: Vec<(f64, f64, f64)> = buckets.iter().map(|b| (b.from_ms, b.to_ms, b.count as f64)).collect();
    svg.bars(&frame, &bars, COLORS[metric_color(metric)]);
    if let Some(l) = latency.filter(|l| l.count > 0) {
        let marks = [("p50", l.p50, "#333"), ("p90", l.p90, "#b35806"), ("p99", l.p99, RED)];
        for (row, (label, value, color)) in marks.into_iter().enumerate() {
            if let Some(value) = value {
                svg.marker(&frame, value, &format!("{label} {} ms", number(value)), color, row);
            }
        }
    } else {
        let (cx, cy) = (frame.left + frame.width / 2.0, frame.top + frame.height / 2.0);
        svg.text(cx, cy, "no samples", 13.0, Anchor::Middle, "fill=\"#777\"");
    }
    svg
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::series::Timeline;
    use crate::session::SessionOutcome;
    use crate::stats::{Aggregate, Samples, Threshold};

    /// A run of 40 sessions over about 6 s, with latencies from 0.2 ms to 80 ms, one failed
    /// session, a violation and a threshold missed.
    fn synthetic() -> Summary {
        let mut aggregate = Aggregate::new();
        for index in 0..40u64 {
            let mut outcome = SessionOutcome::new(index as usize, "senior-backend.strong".into());
            let mut samples = Samples::default();
            for k in 0..50u64 {
                let micros = 200 + (index * 37 + k * k * 13) % 8_000;
                samples.record(Metric::Ack, Duration::from_micros(micros));
                samples.record(Metric::FirstDelta, Duration::from_micros(micros * 3));
                samples.record(Metric::Score, Duration::from_micros(micros * 10));
            }
            samples.record(Metric::Connect, Duration::from_micros(900 + index * 20));
            samples.record(Metric::StartFirstDelta, Duration::from_micros(1_500 + index * 50));
            outcome.samples = samples;
            let mut timeline = Timeline::default();
            let start = Duration::from_millis(index * 100);
            timeline.opened(start);
            for e in 0..120u64 {
                timeline.received(start + Duration::from_millis(e * 15), 1, 180);
            }
            for a in 0..6u64 {
                timeline.answer(start + Duration::from_millis(a * 300));
            }
            timeline.finished(start + Duration::from_millis(1_900));
            outcome.timeline = timeline;
            outcome.events = 120;
            outcome.bytes_in = 120 * 180;
            outcome.answers = 6;
            outcome.completed = index != 7;
            if index == 7 {
                outcome.failure = Some((crate::session::FailureKind::EventTimeout, "no event for 45s".into()));
            }
            aggregate.add(&outcome);
        }
        let mut summary = aggregate.summary(Duration::from_millis(5_950));
        let thresholds: Vec<Threshold> =
            ["p99_first_delta_ms<20", "violations<1"].iter().map(|t| t.parse().unwrap()).collect();
        summary.check(&thresholds);
        summary
    }

    fn info() -> RunInfo {
        RunInfo {
            url: "ws://127.0.0.1:18090".into(),
            recordings: vec!["senior-backend.strong".into(), "frontend.strong".into()],
            sessions: 40,
            concurrency: 20,
            speed: 10.0,
            encoding: "viva.v1.json".into(),
            started_at: UNIX_EPOCH + Duration::from_secs(1_767_225_600),
            command: command_line(["viva-load", "replay", "--threshold", "p99_first_delta_ms<20"].map(String::from)),
        }
    }

    /// Every element opened is closed, in order (void HTML elements aside), and no element
    /// repeats an attribute.
    fn check_nesting(html: &str) {
        const VOID: [&str; 4] = ["meta", "br", "hr", "img"];
        let mut open: Vec<String> = Vec::new();
        let mut rest = html;
        while let Some(at) = rest.find('<') {
            rest = &rest[at + 1..];
            let end = rest.find('>').expect("every tag ends");
            let tag = &rest[..end];
            rest = &rest[end + 1..];
            if tag.starts_with('!') || tag.starts_with('?') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop().as_deref(), Some(name), "</{name}> closes what is open");
                continue;
            }
            let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            // No attribute given twice (XML refuses the whole file for that).
            let mut attributes: Vec<&str> = tag
                .split('"')
                .step_by(2)
                .filter_map(|part| part.trim_end().strip_suffix('='))
                .map(|part| part.rsplit(char::is_whitespace).next().unwrap_or(part))
                .collect();
            let count = attributes.len();
            attributes.sort_unstable();
            attributes.dedup();
            assert_eq!(attributes.len(), count, "an attribute repeats in <{tag}>");
            if !tag.ends_with('/') && !VOID.contains(&name.as_str()) {
                open.push(name);
            }
        }
        assert!(open.is_empty(), "left open: {open:?}");
    }

    #[test]
    fn the_report_is_one_well_formed_self_contained_page() {
        let summary = synthetic();
        let html = html(&info(), &summary);
        check_nesting(&html);
        assert!(html.starts_with("<!DOCTYPE html>"));
        // Nothing to fetch: no links, sources, scripts, stylesheets or namespaces by URL.
        for outside in ["http", "src=", "href=", "<script", "<link", "url(", "@import"] {
            assert!(!html.contains(outside), "the report refers to `{outside}`");
        }
        assert_eq!(html.matches("<svg").count(), 2 + Metric::ALL.len());
        assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
        for metric in Metric::ALL {
            assert!(html.contains(&format!("<code>{}</code>", metric.name())), "{} in the table", metric.name());
            assert!(html.contains(&format!("<title>{}: ", metric.name())), "{} has a histogram", metric.name());
        }
        for text in [
            "ws://127.0.0.1:18090",
            "viva.v1.json",
            "2026-01-01 00:00:00 UTC",
            "senior-backend.strong, frontend.strong",
            "Throughput over the run",
            "Events received per second",
            "Sessions live",
            "Latency by percentile",
            "latency (ms, log scale)",
            "time since the run started (s)",
            "event_timeout: 1",
            "p99_first_delta_ms&lt;20",
            "MISSED",
            "FAILED",
            "&#39;p99_first_delta_ms&lt;20&#39;",
            ">90%<",
            ">99.9%<",
            ">99.99%<",
            "2,000",
        ] {
            assert!(html.contains(text), "the report shows `{text}`");
        }
    }

    #[test]
    fn the_plots_stand_alone_as_svg_files() {
        let summary = synthetic();
        let dir = std::env::temp_dir().join(format!("viva-load-report-{}", std::process::id()));
        let written = write_svgs(&dir, &summary).unwrap();
        let names: Vec<String> =
            written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(
            names,
            [
                "throughput.svg",
                "latency-percentiles.svg",
                "latency-connect.svg",
                "latency-start_first_delta.svg",
                "latency-ack.svg",
                "latency-first_delta.svg",
                "latency-score.svg",
                "latency-speech_end_to_answer.svg",
                "latency-speech_end_to_audio.svg",
                "latency-reconnect.svg"
            ]
        );
        for path in &written {
            let svg = std::fs::read_to_string(path).unwrap();
            check_nesting(&svg);
            assert!(svg.contains(r#"<svg xmlns="http://www.w3.org/2000/svg""#), "{}", path.display());
            assert_eq!(svg.matches("http").count(), 1, "only the namespace: {}", path.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_histogram_draws_a_bar_per_bucket_and_marks_the_percentiles() {
        let summary = synthetic();
        let svg = histogram(&summary, Metric::Ack).finish(false);
        let buckets = &summary.distributions["ack"].buckets;
        let filled = buckets.iter().filter(|b| b.count > 0).count();
        assert_eq!(svg.matches("<rect ").count(), 1 + filled, "the background and a bar per filled bucket");
        for label in ["p50 ", "p90 ", "p99 ", "samples", "latency (ms, log scale)"] {
            assert!(svg.contains(label), "{label}");
        }
    }

    #[test]
    fn an_empty_run_still_renders() {
        let summary = Aggregate::new().summary(Duration::ZERO);
        let html = html(&info(), &summary);
        check_nesting(&html);
        assert!(html.contains("no samples") && html.contains("no data"));
        assert!(!html.contains("NaN") && !html.contains("inf\""), "no number is undefined");
    }

    #[test]
    fn times_and_command_lines_print_as_expected() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_661)), "2000-02-29 01:01:01 UTC");
        let counts: Vec<String> = [0, 999, 1_000, 61_950, 1_234_567].map(grouped).to_vec();
        assert_eq!(counts, ["0", "999", "1,000", "61,950", "1,234,567"]);
        let args = ["viva-load", "replay", "--url", "ws://h:1", "--threshold", "p99_ack_ms<5", "it's"];
        expect_test::expect![[r#"viva-load replay --url ws://h:1 --threshold 'p99_ack_ms<5' 'it'\''s'"#]]
            .assert_eq(&command_line(args.map(String::from)));
    }
}
