//! Learning curves as a PNG: losses on the left, validation accuracy and APs on the right.

use std::collections::BTreeMap;
use std::sync::Once;

use anyhow::{Result, anyhow};
use image::{ImageFormat, RgbImage};
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::history::EpochRecord;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 480;
/// A font for the labels, so drawing needs nothing from the system.
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSansMono.ttf");

type Pick = fn(&EpochRecord) -> &BTreeMap<String, f64>;

const TRAIN: Pick = |e| &e.train;
const VALID: Pick = |e| &e.valid;

/// PNG bytes of the curves for `epochs`.
pub fn draw(epochs: &[EpochRecord]) -> Result<Vec<u8>> {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
    let mut pixels = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        let (left, right) = root.split_horizontally(WIDTH / 2);
        panel(
            &left,
            "loss",
            epochs,
            &[
                ("train loss", TRAIN, "loss", RED),
                ("val loss", VALID, "loss", BLUE),
            ],
        )?;
        panel(
            &right,
            "accuracy and AP",
            epochs,
            &[
                ("train accuracy", TRAIN, "accuracy", RGBColor(240, 150, 150)),
                ("val accuracy", VALID, "accuracy", BLUE),
                ("val MRR-AP", VALID, "mrr_ap", GREEN),
                ("val FashionAI AP", VALID, "fashionai_ap", MAGENTA),
            ],
        )?;
        root.present().map_err(|e| anyhow!("drawing curves: {e}"))?;
    }
    let image = RgbImage::from_raw(WIDTH, HEIGHT, pixels).ok_or_else(|| anyhow!("curve buffer"))?;
    let mut png = std::io::Cursor::new(Vec::new());
    image.write_to(&mut png, ImageFormat::Png)?;
    Ok(png.into_inner())
}

fn panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    title: &str,
    epochs: &[EpochRecord],
    series: &[(&str, Pick, &str, RGBColor)],
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<_>| anyhow!("drawing curves: {e}");
    let points = |pick: Pick, key: &str| -> Vec<(f64, f64)> {
        epochs
            .iter()
            .filter_map(|e| Some((e.epoch as f64, *pick(e).get(key)?)))
            .collect()
    };
    let values: Vec<f64> = series
        .iter()
        .flat_map(|(_, pick, key, _)| points(*pick, key))
        .map(|(_, y)| y)
        .collect();
    let top = values.iter().copied().fold(0.0f64, f64::max).max(1e-3) * 1.05;
    let last = epochs.iter().map(|e| e.epoch).max().unwrap_or(1).max(2) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(1.0..last, 0.0..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    for (label, pick, key, color) in series {
        let color = *color;
        chart
            .draw_series(LineSeries::new(points(*pick, key), color.stroke_width(2)))
            .map_err(err)?
            .label(*label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    Ok(())
}
