//! The histograms of `codeact data stats` as one SVG: assistant turns per row and, when tokens
//! were counted, tokens per row.

use plotters::prelude::*;

use super::stats::Stats;

const BLUE: RGBColor = RGBColor(31, 119, 180);

/// An SVG document; empty when plotting fails (the table and JSON still carry the numbers).
pub fn histograms(stats: &Stats) -> String {
    let mut svg = String::new();
    let panels = if stats.tokens_per_row.is_empty() {
        1
    } else {
        2
    };
    if let Err(e) = draw(stats, &mut svg, panels) {
        tracing::warn!("the histograms could not be drawn: {e}");
        return String::new();
    }
    svg
}

fn draw(stats: &Stats, out: &mut String, panels: usize) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(out, (520 * panels as u32, 380)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels));
    let turns: Vec<u64> = stats.turns_per_row.iter().map(|&t| t as u64).collect();
    panel(&areas[0], "assistant turns per row", &turns, 1)?;
    if panels == 2 {
        let tokens: Vec<u64> = stats.tokens_per_row.iter().map(|&t| t as u64).collect();
        let max = tokens.iter().copied().max().unwrap_or(1);
        // About 20 bins of a round width.
        let width = round_width(max / 20 + 1);
        panel(&areas[1], "tokens per row (ChatML)", &tokens, width)?;
    }
    root.present()?;
    Ok(())
}

fn round_width(w: u64) -> u64 {
    let mut step = 1;
    while step * 10 <= w {
        step *= 10;
    }
    [1, 2, 5, 10]
        .iter()
        .map(|m| m * step)
        .find(|&x| x >= w)
        .unwrap_or(w)
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    values: &[u64],
    width: u64,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let bins = values.iter().map(|v| v / width).max().unwrap_or(0) + 1;
    let mut counts = vec![0u32; bins as usize];
    for v in values {
        counts[(v / width) as usize] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d((0..bins).into_segmented(), 0u32..top + top / 10 + 1)?;
    // x is the bin's index; its label is the bin's lower bound.
    let label = |v: &SegmentValue<u64>| match v {
        SegmentValue::CenterOf(b) | SegmentValue::Exact(b) => (b * width).to_string(),
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&label)
        .y_desc("rows")
        .draw()?;
    chart.draw_series(
        Histogram::vertical(&chart)
            .style(BLUE.filled())
            .margin(2)
            .data(values.iter().map(|v| (v / width, 1u32))),
    )?;
    Ok(())
}
