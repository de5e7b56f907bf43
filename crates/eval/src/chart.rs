//! The summary's bar chart: success (%) per group, one bar per action mode, as SVG.

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
    let width = 160 + 120 * summary.rows.len() as u32;
    if let Err(e) = draw(summary, &mut svg, (width.max(480), 420)) {
        tracing::warn!("the summary chart could not be drawn: {e}");
        return String::new();
    }
    svg
}

fn draw(
    summary: &Summary,
    out: &mut String,
    size: (u32, u32),
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(out, size).into_drawing_area();
    root.fill(&WHITE)?;
    let groups: Vec<&str> = summary.rows.iter().map(|r| r.group.as_str()).collect();
    let n = groups.len().max(1);
    let modes = summary.modes.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{} — {}", summary.benchmark, summary.model),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..n as f64, 0f64..100f64)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            groups.get(i).map(|g| g.to_string()).unwrap_or_default()
        })
        // Labels sit at each group's left edge; move them under its middle.
        .x_label_offset((size.0 as i32 - 84) / n as i32 / 2)
        .y_desc("success (%)")
        .draw()?;
    let bar = 0.8 / modes as f64;
    for (m, mode) in summary.modes.iter().enumerate() {
        let color = COLORS[m % COLORS.len()];
        let rects = summary.rows.iter().enumerate().map(move |(g, row)| {
            let pct = row.cells.get(mode).map_or(0.0, |c| 100.0 * c.pass_at_1);
            let x0 = g as f64 + 0.1 + m as f64 * bar;
            Rectangle::new([(x0, 0.0), (x0 + bar, pct)], color.filled())
        });
        chart
            .draw_series(rects)?
            .label(mode.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
