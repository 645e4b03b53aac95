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

/// A chart's x axis: its range, the spans shaded over the whole height, how a time reads.
struct Axis {
    range: std::ops::Range<i64>,
    shades: Vec<(i64, i64, RGBColor)>,
    label: fn(&i64) -> String,
}

impl Axis {
    /// The axis of one report: its buckets, its incidents shaded.
    fn of(r: &Report, b: &Buckets) -> Axis {
        let shades = r
            .incidents
            .iter()
            .filter_map(|i| Some((secs(&i.start)?, secs(&i.end)?, SHADE)))
            .collect();
        Axis {
            range: b.first()..b.end().max(b.first() + 1),
            shades,
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
    let Some(buckets) = Buckets::of(r) else {
        return Charts::default();
    };
    let axis = Axis::of(r, &buckets);
    let w = buckets.width;
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
    let signatures =
        (top > 0)
            .then(|| {
                let hi = top + top / 10 + 1;
                draw!(axis, 0u64..hi, (0, hi), "records", |c| {
                    for (k, id) in ids.iter().enumerate() {
                        let RGBColor(r0, g0, b0) = PALETTE[k % PALETTE.len()];
                        let fill = RGBColor(r0, g0, b0).filled();
                        c.draw_series(r.timeline.iter().zip(&buckets.starts).filter_map(
                            |(b, &x)| {
                                let below: u64 = ids[..k]
                                    .iter()
                                    .map(|i| b.signatures.get(*i).copied().unwrap_or(0))
                                    .sum();
                                let n = b.signatures.get(*id).copied().unwrap_or(0);
                                (n > 0)
                                    .then(|| Rectangle::new([(x, below), (x + w, below + n)], fill))
                            },
                        ))?
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
                        .zip(&buckets.starts)
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
                        .zip(&buckets.starts)
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
                        let points =
                            r.timeline
                                .iter()
                                .zip(&buckets.starts)
                                .filter_map(|(b, &x)| {
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
        axis_note: None,
    }
}

/// A side of a comparison as drawn: its report, buckets, the offset its times are drawn at,
/// its colours (5xx and p99, requests and p50) and its name in the legend.
struct Drawn<'a> {
    r: &'a Report,
    b: Buckets,
    offset: i64,
    strong: RGBColor,
    light: RGBColor,
    name: &'static str,
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
                shades.extend(
                    r.incidents
                        .iter()
                        .filter_map(|i| Some((secs(&i.start)?, secs(&i.end)?, SHADE))),
                );
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
    // Each side's points, at the middle of their buckets.
    let points = |d: &Drawn, f: &dyn Fn(&crate::aggregate::TimelineBucket) -> Option<f64>| {
        d.r.timeline
            .iter()
            .zip(&d.b.starts)
            .filter_map(|(t, &x)| f(t).map(|v| (x - d.offset + d.b.width / 2, v)))
            .collect::<Vec<(i64, f64)>>()
    };
    let line = |c: RGBColor| c.stroke_width(2);
    let key = |c: RGBColor| {
        move |(x, y): (i32, i32)| PathElement::new([(x, y), (x + 14, y)], c.stroke_width(2))
    };
    let bar = |c: RGBColor| {
        move |(x, y): (i32, i32)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled())
    };
    let records =
        |t: &crate::aggregate::TimelineBucket| Some(t.signatures.values().sum::<u64>() as f64);
    let top = |f: &dyn Fn(&crate::aggregate::TimelineBucket) -> Option<f64>| {
        sides
            .iter()
            .flat_map(|d| points(d, f))
            .map(|(_, v)| v)
            .fold(0.0, f64::max)
    };
    let most_records = top(&records);
    let signatures = (most_records > 0.0)
        .then(|| {
            let hi = most_records * 1.1 + 1.0;
            draw!(axis, 0.0..hi, (0.0, hi), "signature records", |c| {
                for d in &sides {
                    c.draw_series(LineSeries::new(points(d, &records), line(d.strong)))?
                        .label(d.name)
                        .legend(key(d.strong));
                }
                legend(&mut c)?;
            })
        })
        .flatten();
    let requests_of = |t: &crate::aggregate::TimelineBucket| Some(t.requests as f64);
    let most = top(&requests_of);
    let requests = (most > 0.0)
        .then(|| {
            let hi = most * 1.1 + 1.0;
            draw!(axis, 0.0..hi, (0.0, hi), "requests / bucket", |c| {
                for d in &sides {
                    let w = d.b.width;
                    c.draw_series(
                        d.r.timeline
                            .iter()
                            .zip(&d.b.starts)
                            .filter(|(t, _)| t.errors_5xx > 0)
                            .map(|(t, &x)| {
                                let x = x - d.offset;
                                Rectangle::new(
                                    [(x, 0.0), (x + w, t.errors_5xx as f64)],
                                    d.strong.filled(),
                                )
                            }),
                    )?
                    .label(format!("5xx {}", d.name))
                    .legend(bar(d.strong));
                    c.draw_series(LineSeries::new(points(d, &requests_of), line(d.light)))?
                        .label(format!("requests {}", d.name))
                        .legend(key(d.light));
                }
                legend(&mut c)?;
            })
        })
        .flatten();
    let values: Vec<f64> = sides
        .iter()
        .flat_map(|d| d.r.timeline.iter().flat_map(|t| [t.p50_ms, t.p99_ms]))
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
                    for d in &sides {
                        for (q, colour) in [("p99", d.strong), ("p50", d.light)] {
                            let pick = |t: &crate::aggregate::TimelineBucket| {
                                match q {
                                    "p99" => t.p99_ms,
                                    _ => t.p50_ms,
                                }
                                .filter(|v| *v > 0.0)
                            };
                            c.draw_series(LineSeries::new(points(d, &pick), line(colour)))?
                                .label(format!("{q} {}", d.name))
                                .legend(key(colour));
                        }
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
        axis_note: Some(note.to_string()),
    }
}
