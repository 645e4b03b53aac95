//! The report's charts as SVG (plotters): signature records over time stacked by signature,
//! requests with their 5xx, and p50/p99 latency on a log scale, each with the incident
//! windows shaded. Drawn from the report's timeline, so every format shows the same numbers.

use plotters::prelude::*;

use super::Report;

/// Width and height of a chart, in SVG user units (the page scales them to its width).
const SIZE: (u32, u32) = (960, 300);

/// A signature's colour (stable: by its rank in the report), an incident's shade.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];
const SHADE: RGBColor = RGBColor(0xff, 0xd6, 0xd6);

/// The three charts, as SVG documents; `None` where the report has nothing to draw (no
/// timeline, no request, no latency).
#[derive(Debug, Default, Clone)]
pub struct Charts {
    /// Signature records per bucket, stacked by signature.
    pub signatures: Option<String>,
    /// Requests and 5xx per bucket.
    pub requests: Option<String>,
    /// p50 and p99 latency per bucket, log scale.
    pub latency: Option<String>,
}

/// Seconds since the epoch of an RFC 3339 time.
fn secs(t: &str) -> Option<i64> {
    t.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// `HH:MM` (UTC) of a time in seconds.
fn hhmm(s: &i64) -> String {
    jiff::Timestamp::from_second(*s)
        .map(|t| t.strftime("%H:%M").to_string())
        .unwrap_or_default()
}

/// The buckets' start times and width, and the incidents as time spans.
struct Axis {
    starts: Vec<i64>,
    width: i64,
    incidents: Vec<(i64, i64)>,
}

impl Axis {
    fn of(r: &Report) -> Option<Axis> {
        let starts: Vec<i64> = r.timeline.iter().filter_map(|b| secs(&b.bucket)).collect();
        if starts.is_empty() || starts.len() != r.timeline.len() {
            return None;
        }
        let width = (r.requests.bucket_seconds as i64).max(1);
        let incidents = r
            .incidents
            .iter()
            .filter_map(|i| Some((secs(&i.start)?, secs(&i.end)?)))
            .collect();
        Some(Axis {
            starts,
            width,
            incidents,
        })
    }

    fn range(&self) -> std::ops::Range<i64> {
        let first = self.starts[0];
        let last = *self.starts.last().expect("one bucket at least") + self.width;
        first..last.max(first + 1)
    }
}

/// Draws one chart into an SVG string: the frame, the shaded incidents over the whole
/// height (`$lo..$hi`, the y range), then `$series` (a block using `$c`, the chart, and
/// returning a plotters result). `None` if plotters fails.
macro_rules! draw {
    ($axis:expr, $y:expr, ($lo:expr, $hi:expr), $desc:expr, |$c:ident| $series:block) => {{
        let mut svg = String::new();
        let drawn = (|| -> Result<(), Box<dyn std::error::Error>> {
            let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
            root.fill(&WHITE)?;
            let mut $c = ChartBuilder::on(&root)
                .margin(10)
                .x_label_area_size(28)
                .y_label_area_size(64)
                .build_cartesian_2d($axis.range(), $y)?;
            $c.configure_mesh()
                .x_labels(10)
                .x_label_formatter(&hhmm)
                .y_desc($desc)
                .light_line_style(RGBColor(0xee, 0xee, 0xee))
                .draw()?;
            $c.draw_series($axis.incidents.iter().map(|&(s, e)| {
                Rectangle::new([(s, $lo), (e, $hi)], SHADE.filled())
            }))?;
            $series
            root.present()?;
            Ok(())
        })()
        .is_ok();
        drawn.then_some(svg)
    }};
}

/// Draws the series' labels in the chart's upper left corner, over a white box.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    c: &mut ChartContext<'a, DB, CT>,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(0xcc, 0xcc, 0xcc))
        .label_font(("sans-serif", 13))
        .draw()?;
    Ok(())
}

/// The chart files [`write_charts`] writes, and what each shows.
const FILES: [(&str, &str); 3] = [
    (
        "signatures.svg",
        "Signature records over time, stacked by signature",
    ),
    ("requests.svg", "Requests and 5xx over time"),
    ("latency.svg", "p50 and p99 latency over time, log scale"),
];

/// The caption of each chart file among `written` (the paths [`write_charts`] returned).
pub fn chart_captions(written: &[std::path::PathBuf]) -> Vec<(&'static str, &std::path::Path)> {
    written
        .iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            let (_, caption) = FILES.iter().find(|(f, _)| *f == name)?;
            Some((*caption, p.as_path()))
        })
        .collect()
}

/// Writes the charts that have something to draw into `dir` (created if missing) as
/// `signatures.svg`, `requests.svg` and `latency.svg`; returns their paths.
pub fn write_charts(r: &Report, dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let c = charts(r);
    let mut written = Vec::new();
    for (name, svg) in [
        (FILES[0].0, c.signatures),
        (FILES[1].0, c.requests),
        (FILES[2].0, c.latency),
    ] {
        if let Some(svg) = svg {
            let p = dir.join(name);
            std::fs::write(&p, svg)?;
            written.push(p);
        }
    }
    Ok(written)
}

/// The report's charts.
pub fn charts(r: &Report) -> Charts {
    let Some(axis) = Axis::of(r) else {
        return Charts::default();
    };
    let w = axis.width;
    // Signatures: one stacked bar a bucket, a layer a signature (the report's order).
    let ids: Vec<&str> = r.signatures.iter().map(|s| s.id.as_str()).collect();
    let totals: Vec<u64> = r
        .timeline
        .iter()
        .map(|b| {
            ids.iter()
                .map(|id| b.signatures.get(*id).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let top = totals.iter().copied().max().unwrap_or(0);
    let signatures = (top > 0)
        .then(|| {
            let hi = top + top / 10 + 1;
            draw!(axis, 0u64..hi, (0, hi), "records", |c| {
                for (k, id) in ids.iter().enumerate() {
                    let RGBColor(r0, g0, b0) = PALETTE[k % PALETTE.len()];
                    let fill = RGBColor(r0, g0, b0).filled();
                    c.draw_series(r.timeline.iter().zip(&axis.starts).filter_map(|(b, &x)| {
                        let below: u64 = ids[..k]
                            .iter()
                            .map(|i| b.signatures.get(*i).copied().unwrap_or(0))
                            .sum();
                        let n = b.signatures.get(*id).copied().unwrap_or(0);
                        (n > 0).then(|| Rectangle::new([(x, below), (x + w, below + n)], fill))
                    }))?
                    .label(*id)
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], fill));
                }
                legend(&mut c)?;
            })
        })
        .flatten();
    // Requests: the count as a line, the 5xx as bars under it.
    let most = r.timeline.iter().map(|b| b.requests).max().unwrap_or(0);
    let requests = (most > 0)
        .then(|| {
            let hi = most + most / 10 + 1;
            draw!(axis, 0u64..hi, (0, hi), "requests / bucket", |c| {
                c.draw_series(
                    r.timeline
                        .iter()
                        .zip(&axis.starts)
                        .filter(|(b, _)| b.errors_5xx > 0)
                        .map(|(b, &x)| {
                            Rectangle::new([(x, 0), (x + w, b.errors_5xx)], PALETTE[0].filled())
                        }),
                )?
                .label("5xx")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], PALETTE[0].filled())
                });
                c.draw_series(LineSeries::new(
                    r.timeline
                        .iter()
                        .zip(&axis.starts)
                        .map(|(b, &x)| (x + w / 2, b.requests)),
                    PALETTE[1].stroke_width(2),
                ))?
                .label("requests")
                .legend(|(x, y)| {
                    PathElement::new([(x, y), (x + 14, y)], PALETTE[1].stroke_width(2))
                });
                legend(&mut c)?;
            })
        })
        .flatten();
    // Latency: p50 and p99 on a log scale (12 ms and 9 s on one chart).
    let values: Vec<f64> = r
        .timeline
        .iter()
        .flat_map(|b| [b.p50_ms, b.p99_ms])
        .flatten()
        .filter(|v| *v > 0.0)
        .collect();
    let latency = (!values.is_empty())
        .then(|| {
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min) / 1.5;
            let hi = values.iter().copied().fold(0.0, f64::max) * 1.5;
            draw!(
                axis,
                (lo..hi).log_scale(),
                (lo, hi),
                "latency, ms (log)",
                |c| {
                    for (pick, colour) in [(0, PALETTE[1]), (1, PALETTE[0])] {
                        let points = r.timeline.iter().zip(&axis.starts).filter_map(|(b, &x)| {
                            let v = if pick == 0 { b.p50_ms } else { b.p99_ms };
                            v.filter(|v| *v > 0.0).map(|v| (x + w / 2, v))
                        });
                        c.draw_series(LineSeries::new(points, colour.stroke_width(2)))?
                            .label(if pick == 0 { "p50" } else { "p99" })
                            .legend(move |(x, y)| {
                                PathElement::new([(x, y), (x + 14, y)], colour.stroke_width(2))
                            });
                    }
                    legend(&mut c)?;
                }
            )
        })
        .flatten();
    Charts {
        signatures,
        requests,
        latency,
    }
}
