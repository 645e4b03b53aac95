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
    /// How the time axis reads, when it is not plain time (a comparison's).
    pub axis_note: Option<String>,
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

/// `+M min` (or `+H h`) of a time in seconds since a side's start.
fn since_start(s: &i64) -> String {
    match *s {
        s if s % 3600 == 0 && s != 0 => format!("+{} h", s / 3600),
        s => format!("+{} min", s / 60),
    }
}

/// A report's buckets: their start times (seconds) and width.
struct Buckets {
    starts: Vec<i64>,
    width: i64,
}

impl Buckets {
    fn of(r: &Report) -> Option<Buckets> {
        let starts: Vec<i64> = r.timeline.iter().filter_map(|b| secs(&b.bucket)).collect();
        if starts.is_empty() || starts.len() != r.timeline.len() {
            return None;
        }
        let width = (r.requests.bucket_seconds as i64).max(1);
        Some(Buckets { starts, width })
    }

    fn first(&self) -> i64 {
        self.starts[0]
    }

    fn end(&self) -> i64 {
        *self.starts.last().expect("one bucket at least") + self.width
    }
}

/// A report's incident windows, shaded.
fn incident_shades(r: &Report) -> Vec<(i64, i64, RGBColor)> {
    r.incidents
        .iter()
        .filter_map(|i| Some((secs(&i.start)?, secs(&i.end)?, SHADE)))
        .collect()
}

/// A chart's x axis: its range, the spans shaded over the whole height, how a time reads.
struct Axis {
    range: std::ops::Range<i64>,
    shades: Vec<(i64, i64, RGBColor)>,
    label: fn(&i64) -> String,
}

impl Axis {
    /// The axis of one report: its buckets, its incidents shaded.
    fn of(r: &Report, b: &Buckets) -> Axis {
        Axis {
            range: b.first()..b.end().max(b.first() + 1),
            shades: incident_shades(r),
            label: hhmm,
        }
    }

    fn range(&self) -> std::ops::Range<i64> {
        self.range.clone()
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
                .x_label_formatter(&$axis.label)
                .y_desc($desc)
                .light_line_style(RGBColor(0xee, 0xee, 0xee))
                .draw()?;
            $c.draw_series($axis.shades.iter().map(|&(s, e, colour)| {
                Rectangle::new([(s, $lo), (e, $hi)], colour.filled())
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
    legend_at(c, SeriesLabelPosition::UpperLeft)
}

/// Draws the series' labels at `at`, over a white box.
fn legend_at<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    c: &mut ChartContext<'a, DB, CT>,
    at: SeriesLabelPosition,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    c.configure_series_labels()
        .position(at)
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

/// A report as drawn: its buckets, the offset its times are drawn at (a comparison's side
/// drawn from its own start), its colours (5xx and p99; requests and p50) and its name in
/// the legend (empty for a report alone).
struct Drawn<'a> {
    r: &'a Report,
    b: Buckets,
    offset: i64,
    strong: RGBColor,
    light: RGBColor,
    name: &'static str,
}

type Bucket = crate::aggregate::TimelineBucket;
/// A figure of a bucket, if it has one.
type Figure<'f> = &'f dyn Fn(&Bucket) -> Option<f64>;

impl Drawn<'_> {
    /// Its points, `f` of each bucket at the bucket's middle.
    fn points(&self, f: &dyn Fn(&Bucket) -> Option<f64>) -> Vec<(i64, f64)> {
        self.r
            .timeline
            .iter()
            .zip(&self.b.starts)
            .filter_map(|(t, &x)| f(t).map(|v| (x - self.offset + self.b.width / 2, v)))
            .collect()
    }

    /// A series' label: `what` and the side's name.
    fn label(&self, what: &str) -> String {
        format!("{what} {}", self.name).trim_end().to_string()
    }
}

fn line_key(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new([(x, y), (x + 14, y)], c.stroke_width(2))
}

fn box_key(c: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled())
}

/// The largest value of `f` over the sides' buckets.
fn top(sides: &[Drawn<'_>], f: &dyn Fn(&Bucket) -> Option<f64>) -> f64 {
    sides
        .iter()
        .flat_map(|d| d.points(f))
        .map(|(_, v)| v)
        .fold(0.0, f64::max)
}

/// Requests per bucket as a line, their 5xx as bars, of each side.
fn requests_chart(axis: &Axis, sides: &[Drawn<'_>]) -> Option<String> {
    let count = |t: &Bucket| Some(t.requests as f64);
    let most = top(sides, &count);
    if most <= 0.0 {
        return None;
    }
    let hi = most * 1.1 + 1.0;
    draw!(axis, 0.0..hi, (0.0, hi), "requests / bucket", |c| {
        for d in sides {
            let w = d.b.width;
            let bars =
                d.r.timeline
                    .iter()
                    .zip(&d.b.starts)
                    .filter(|(t, _)| t.errors_5xx > 0);
            c.draw_series(bars.map(|(t, &x)| {
                let x = x - d.offset;
                Rectangle::new([(x, 0.0), (x + w, t.errors_5xx as f64)], d.strong.filled())
            }))?
            .label(d.label("5xx"))
            .legend(box_key(d.strong));
            c.draw_series(LineSeries::new(d.points(&count), d.light.stroke_width(2)))?
                .label(d.label("requests"))
                .legend(line_key(d.light));
        }
        // Between the request line (near the top) and the 5xx bars (at the bottom).
        legend_at(&mut c, SeriesLabelPosition::MiddleLeft)?;
    })
}

/// p50 and p99 latency per bucket of each side, on a log scale (12 ms and 9 s on one chart).
fn latency_chart(axis: &Axis, sides: &[Drawn<'_>]) -> Option<String> {
    let p50 = |t: &Bucket| t.p50_ms.filter(|v| *v > 0.0);
    let p99 = |t: &Bucket| t.p99_ms.filter(|v| *v > 0.0);
    let values: Vec<f64> = sides
        .iter()
        .flat_map(|d| d.points(&p50).into_iter().chain(d.points(&p99)))
        .map(|(_, v)| v)
        .collect();
    if values.is_empty() {
        return None;
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min) / 1.5;
    let hi = values.iter().copied().fold(0.0, f64::max) * 1.5;
    draw!(
        axis,
        (lo..hi).log_scale(),
        (lo, hi),
        "latency, ms (log)",
        |c| {
            for d in sides {
                let series: [(&str, Figure, RGBColor); 2] =
                    [("p50", &p50, d.light), ("p99", &p99, d.strong)];
                for (q, f, colour) in series {
                    c.draw_series(LineSeries::new(d.points(f), colour.stroke_width(2)))?
                        .label(d.label(q))
                        .legend(line_key(colour));
                }
            }
            legend(&mut c)?;
        }
    )
}

/// The report's charts.
pub fn charts(r: &Report) -> Charts {
    let Some(buckets) = Buckets::of(r) else {
        return Charts::default();
    };
    let axis = Axis::of(r, &buckets);
    let w = buckets.width;
    // Signatures: one stacked bar a bucket, a layer a signature (the report's order).
    let ids: Vec<&str> = r.signatures.iter().map(|s| s.id.as_str()).collect();
    let n = |b: &Bucket, id: &str| b.signatures.get(id).copied().unwrap_or(0);
    let top_records = r
        .timeline
        .iter()
        .map(|b| ids.iter().map(|id| n(b, id)).sum::<u64>())
        .max()
        .unwrap_or(0);
    let signatures =
        (top_records > 0)
            .then(|| {
                let hi = top_records + top_records / 10 + 1;
                draw!(axis, 0u64..hi, (0, hi), "records", |c| {
                    for (k, id) in ids.iter().enumerate() {
                        let fill = PALETTE[k % PALETTE.len()].filled();
                        c.draw_series(r.timeline.iter().zip(&buckets.starts).filter_map(
                            |(b, &x)| {
                                let below: u64 = ids[..k].iter().map(|i| n(b, i)).sum();
                                let here = n(b, id);
                                (here > 0).then(|| {
                                    Rectangle::new([(x, below), (x + w, below + here)], fill)
                                })
                            },
                        ))?
                        .label(*id)
                        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], fill));
                    }
                    legend(&mut c)?;
                })
            })
            .flatten();
    let side = [Drawn {
        r,
        b: buckets,
        offset: 0,
        strong: PALETTE[0],
        light: PALETTE[1],
        name: "",
    }];
    Charts {
        signatures,
        requests: requests_chart(&axis, &side),
        latency: latency_chart(&axis, &side),
        axis_note: None,
    }
}

/// The region after the change, on a shared time axis.
const AFTER: RGBColor = RGBColor(0xe3, 0xf2, 0xe1);
const GREY: RGBColor = RGBColor(0x9a, 0x9a, 0x9a);
const LIGHT_GREY: RGBColor = RGBColor(0xc4, 0xc4, 0xc4);

/// The charts of a comparison: signature records, requests with 5xx, and p50/p99 latency of
/// both sides (before in grey, after in colour). Sides that follow each other (a log split at
/// the change, or an after that starts within the sides' length of the before's end) share
/// a time axis, the after side shaded and the incidents as in [`charts`]; otherwise both are
/// drawn from their own start, one over the other.
pub fn compare_charts(before: &Report, after: &Report) -> Charts {
    let (Some(bb), Some(ab)) = (Buckets::of(before), Buckets::of(after)) else {
        return Charts::default();
    };
    let longest = (bb.end() - bb.first()).max(ab.end() - ab.first());
    let shared = bb.starts.last() <= ab.starts.first() && ab.first() - bb.end() <= longest;
    let (axis, offsets, note) = match shared {
        true => {
            let mut shades: Vec<(i64, i64, RGBColor)> = vec![(ab.first(), ab.end(), AFTER)];
            for r in [before, after] {
                shades.extend(incident_shades(r));
            }
            let axis = Axis {
                range: bb.first()..ab.end().max(bb.first() + 1),
                shades,
                label: hhmm,
            };
            let note =
                "Both sides on one time axis (UTC), the after side shaded green, incidents red.";
            (axis, (0, 0), note)
        }
        false => {
            let axis = Axis {
                range: 0..longest.max(1),
                shades: Vec::new(),
                label: since_start,
            };
            let note = "The sides are far apart in time: each is drawn from its own start.";
            (axis, (bb.first(), ab.first()), note)
        }
    };
    let sides = [
        Drawn {
            r: before,
            b: bb,
            offset: offsets.0,
            strong: GREY,
            light: LIGHT_GREY,
            name: "before",
        },
        Drawn {
            r: after,
            b: ab,
            offset: offsets.1,
            strong: PALETTE[0],
            light: PALETTE[1],
            name: "after",
        },
    ];
    // Signature records: a line a side (stacked bars of two sides would overlap).
    let records = |t: &Bucket| Some(t.signatures.values().sum::<u64>() as f64);
    let most = top(&sides, &records);
    let signatures = (most > 0.0)
        .then(|| {
            let hi = most * 1.1 + 1.0;
            draw!(axis, 0.0..hi, (0.0, hi), "signature records", |c| {
                for d in &sides {
                    c.draw_series(LineSeries::new(
                        d.points(&records),
                        d.strong.stroke_width(2),
                    ))?
                    .label(d.name)
                    .legend(line_key(d.strong));
                }
                legend(&mut c)?;
            })
        })
        .flatten();
    Charts {
        signatures,
        requests: requests_chart(&axis, &sides),
        latency: latency_chart(&axis, &sides),
        axis_note: Some(note.to_string()),
    }
}
