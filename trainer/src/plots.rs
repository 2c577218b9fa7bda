//! Charts as PNG files, drawn with plotters and a bundled font (nothing from the system):
//! learning curves and confusion matrices.

use std::collections::BTreeMap;
use std::sync::Once;

use anyhow::{Result, anyhow};
use image::{ImageFormat, RgbImage};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::run::metrics::EpochRecord;
use crate::train::metric_names::RunMetric;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 480;
/// A font for the labels, so drawing needs nothing from the system.
const FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");

/// A split's name and its values in an epoch's record.
type Pick = (&'static str, fn(&EpochRecord) -> &BTreeMap<String, f64>);

const TRAIN: Pick = ("train", |e| &e.train);
const VALID: Pick = ("val", |e| &e.valid);

fn register_font() {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Draws on a white `width` x `height` canvas and encodes it as PNG.
fn png(
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    register_font();
    let mut pixels = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw(&root)?;
        root.present().map_err(|e| anyhow!("drawing: {e}"))?;
    }
    let image = RgbImage::from_raw(width, height, pixels).ok_or_else(|| anyhow!("chart buffer"))?;
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// Line colours for per-task curves (one per FashionAI task).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One curve: its legend and what it draws from each epoch's record.
struct Series {
    label: String,
    pick: Pick,
    key: String,
    color: RGBColor,
}

impl Series {
    fn of(pick: Pick, name: RunMetric, color: RGBColor) -> Series {
        Series {
            label: format!("{} {}", pick.0, name.display()),
            pick,
            key: name.key().to_string(),
            color,
        }
    }
}

/// The learning curves of `epochs`: losses on the left, accuracy and APs on the right; for a
/// run over several tasks, a second row with each task's validation accuracy and FashionAI AP.
pub fn curves(epochs: &[EpochRecord]) -> Result<Vec<u8>> {
    // `<task>.<key>` records (metric_names): the tasks, in the order of their first epoch.
    let mut tasks: Vec<&str> = Vec::new();
    for key in epochs.iter().flat_map(|e| e.valid.keys()) {
        if let Some((task, _)) = key.split_once('.')
            && !tasks.contains(&task)
        {
            tasks.push(task);
        }
    }
    let rows = if tasks.is_empty() { 1 } else { 2 };
    png((WIDTH, HEIGHT * rows), |root| {
        let (top, bottom) = root.split_vertically(HEIGHT);
        let (left, right) = top.split_horizontally(WIDTH / 2);
        panel(
            &left,
            "loss",
            epochs,
            &[
                Series::of(TRAIN, RunMetric::Loss, RED),
                Series::of(VALID, RunMetric::Loss, BLUE),
            ],
        )?;
        let mut rankings = vec![
            Series::of(TRAIN, RunMetric::Accuracy, RGBColor(240, 150, 150)),
            Series::of(VALID, RunMetric::Accuracy, BLUE),
            Series::of(VALID, RunMetric::MrrAp, GREEN),
            Series::of(VALID, RunMetric::FashionAiAp, MAGENTA),
        ];
        if epochs.iter().any(EpochRecord::has_average) {
            let name = RunMetric::FashionAiAp;
            rankings.push(Series {
                label: format!("{} {}", VALID.0, RunMetric::of_average(name.display())),
                pick: VALID,
                key: name.average_key(),
                color: RGBColor(90, 0, 90),
            });
        }
        panel(&right, "accuracy and AP", epochs, &rankings)?;
        if tasks.is_empty() {
            return Ok(());
        }
        let (left, right) = bottom.split_horizontally(WIDTH / 2);
        let per_task = |name: RunMetric| -> Vec<Series> {
            tasks
                .iter()
                .enumerate()
                .map(|(i, task)| Series {
                    label: task.to_string(),
                    pick: VALID,
                    key: name.record_key(Some(task)),
                    color: PALETTE[i % PALETTE.len()],
                })
                .collect()
        };
        let mut accuracies = per_task(RunMetric::Accuracy);
        accuracies.push(Series::of(VALID, RunMetric::GarmentAccuracy, BLACK));
        panel(&left, "val accuracy per task", epochs, &accuracies)?;
        panel(
            &right,
            "val FashionAI AP per task",
            epochs,
            &per_task(RunMetric::FashionAiAp),
        )
    })
}

fn panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    title: &str,
    epochs: &[EpochRecord],
    series: &[Series],
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<_>| anyhow!("drawing curves: {e}");
    let points = |series: &Series| -> Vec<(f64, f64)> {
        let (_, values) = series.pick;
        epochs
            .iter()
            .filter_map(|e| Some((e.epoch as f64, *values(e).get(&series.key)?)))
            .collect()
    };
    let values: Vec<f64> = series.iter().flat_map(points).map(|(_, y)| y).collect();
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
    for line in series {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(points(line), color.stroke_width(2)))
            .map_err(err)?
            .label(line.label.clone())
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

/// A confusion matrix: rows are true classes, columns predictions; cells are shaded by the
/// share of their row and show the count.
pub fn confusion(classes: &[String], counts: &[Vec<usize>]) -> Result<Vec<u8>> {
    let n = classes.len();
    let cell = 64u32;
    let label = 190u32;
    let side = label + cell * n as u32 + 20;
    png((side, side), |root| {
        let err = |e: DrawingAreaErrorKind<_>| anyhow!("drawing the confusion matrix: {e}");
        let text = |s: &str, x: i32, y: i32, size: i32, color: &RGBColor| {
            Text::new(
                s.to_string(),
                (x, y),
                ("sans-serif", size).into_font().color(color),
            )
        };
        root.draw(&text("true \\ predicted", 8, 8, 14, &BLACK))
            .map_err(err)?;
        for (i, name) in classes.iter().enumerate() {
            let short: String = name.chars().take(22).collect();
            let y = (label + cell * i as u32 + cell / 2 - 7) as i32;
            root.draw(&text(&format!("{i} {short}"), 8, y, 13, &BLACK))
                .map_err(err)?;
            let x = (label + cell * i as u32 + cell / 2 - 4) as i32;
            root.draw(&text(&i.to_string(), x, (label - 24) as i32, 14, &BLACK))
                .map_err(err)?;
        }
        for (i, row) in counts.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f64;
            for (j, &count) in row.iter().enumerate() {
                let share = count as f64 / total;
                let (x, y) = (
                    (label + cell * j as u32) as i32,
                    (label + cell * i as u32) as i32,
                );
                let shade = (255.0 * (1.0 - 0.85 * share)) as u8;
                let fill = RGBColor(shade, shade, 255);
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell as i32, y + cell as i32)],
                    fill.filled(),
                ))
                .map_err(err)?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell as i32, y + cell as i32)],
                    BLACK.mix(0.2),
                ))
                .map_err(err)?;
                let color = if share > 0.6 { WHITE } else { BLACK };
                let s = count.to_string();
                let tx = x + cell as i32 / 2 - 4 * s.len() as i32;
                root.draw(&text(&s, tx, y + cell as i32 / 2 - 8, 15, &color))
                    .map_err(err)?;
            }
        }
        Ok(())
    })
}
