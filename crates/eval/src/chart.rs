//! The summary's bar chart: success (%) per group, one bar per action mode with its value
//! written on it (so a 0% bar still shows), as SVG.

use plotters::prelude::*;

use crate::summary::Summary;

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// An SVG document; empty where plotting fails (the table and JSON still carry the numbers).
pub fn bars(summary: &Summary) -> String {
    let mut svg = String::new();
    // Room under each group for its name (about 7 px a character) or its bars, whichever is wider.
    let longest = summary
        .rows
        .iter()
        .map(|r| r.group.chars().count())
        .max()
        .unwrap_or(0);
    let per_group = (28 * (summary.modes.len() as u32 + 1)).max(7 * longest as u32 + 8);
    let width = (120 + per_group * summary.rows.len() as u32).max(520);
    if let Err(e) = draw(summary, &mut svg, (width, 440)) {
        tracing::warn!("the summary chart could not be drawn: {e}");
        return String::new();
    }
    svg
}

/// The x axis is a row of slots: for each group one per mode and one empty between groups, so
/// that the labels (the group's name under its middle slot) sit under their bars.
fn draw(
    summary: &Summary,
    out: &mut String,
    size: (u32, u32),
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(out, size).into_drawing_area();
    root.fill(&WHITE)?;
    let modes = summary.modes.len().max(1);
    let per_group = modes + 1;
    let slots = (summary.rows.len() * per_group).max(1) as u32;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{} — {}", summary.benchmark, summary.model),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(48)
        // Headroom above 100% for the values and the legend.
        .build_cartesian_2d((0..slots).into_segmented(), 0f64..140f64)?;
    let label = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(slot) | SegmentValue::Exact(slot) => {
            let (group, within) = (*slot as usize / per_group, *slot as usize % per_group);
            if within == modes / 2 {
                summary
                    .rows
                    .get(group)
                    .map(|r| r.group.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        }
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(slots as usize)
        .x_label_formatter(&label)
        .y_desc("success (%)")
        .y_labels(8)
        .y_label_formatter(&|y| {
            if *y <= 100.0 {
                format!("{y:.0}")
            } else {
                String::new()
            }
        })
        .draw()?;
    for (m, mode) in summary.modes.iter().enumerate() {
        let color = COLORS[m % COLORS.len()];
        let bars: Vec<(u32, f64)> = summary
            .rows
            .iter()
            .enumerate()
            .filter_map(|(g, row)| {
                let cell = row.cells.get(mode).filter(|c| c.runs > 0)?;
                Some(((g * per_group + m) as u32, 100.0 * cell.pass_at_1))
            })
            .collect();
        chart
            .draw_series(bars.iter().map(|&(slot, pct)| {
                Rectangle::new(
                    [
                        (SegmentValue::Exact(slot), 0.0),
                        (SegmentValue::Exact(slot + 1), pct),
                    ],
                    color.filled(),
                )
            }))?
            .label(mode.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        chart.draw_series(bars.iter().map(|&(slot, pct)| {
            Text::new(
                format!("{pct:.0}"),
                (SegmentValue::CenterOf(slot), pct + 6.0),
                ("sans-serif", 11).into_font(),
            )
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
