//! `trainer demo`: the whole workflow on a generated toy dataset, for a machine without the
//! FashionAI data: generate -> prepare -> train -> eval -> predict -> export, leaving a web
//! bundle where the page looks for it (`model/`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use image::{Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use shared::model::Arch;
use shared::tasks::{SKIRT_LENGTH, Task};

use shared::precision::Precision;
use shared::preprocess::Tta;

use crate::device::{self, DeviceChoice};
use crate::ensemble::Ensemble;
use crate::infer::Options;
use crate::predict::{OnError, TestSet};
use crate::prepare::Holdout;
use crate::recipe::{ModelOptions, TrainConfig};
use crate::trained::best_checkpoint;
use crate::{evaluate, export, predict, prepare, train};

/// Band colours, one per class (the first three are red, green and blue).
const PALETTE: [[u8; 3]; 10] = [
    [230, 40, 40],
    [40, 230, 40],
    [40, 40, 230],
    [230, 230, 40],
    [230, 40, 230],
    [40, 230, 230],
    [240, 140, 20],
    [120, 40, 180],
    [20, 120, 60],
    [250, 250, 250],
];

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where the toy data and the run go.
    #[arg(long, default_value = "demo")]
    pub out: PathBuf,
    /// Where the web bundle goes (the page loads `model/` next to it).
    #[arg(long, default_value = "model")]
    pub bundle: PathBuf,
    /// The task(s) the toy data stands for: one, several separated by commas, or `all`
    /// (one model for all eight, with a garment head).
    #[arg(long, default_value = SKIRT_LENGTH)]
    pub tasks: String,
    /// Images per class (training + validation); a fifth as many more for the test set.
    #[arg(long, default_value_t = 40)]
    pub per_class: usize,
    #[arg(long, default_value_t = 6)]
    pub epochs: usize,
    /// The architecture trained (at a quarter of torchvision's width, from random weights).
    #[arg(long, default_value = "resnet18")]
    pub arch: Arch,
    #[arg(long, default_value = "auto", help = device::HELP)]
    pub device: DeviceChoice,
}

/// A small photo-like image of `class` of the `task`-th generated task: a band of the class's
/// colour at a random place over a noisy grey background. The eight tasks look different at
/// any size (the garment head must tell them apart): the background is mid grey, dark or
/// light (task modulo 3), and the band runs across for even tasks and down for odd ones,
/// diagonally from the seventh task on. Learnable in a few epochs by a small network, which
/// is all it is for.
pub fn toy_image(task: usize, class: usize, rng: &mut StdRng) -> RgbImage {
    let (width, height) = (rng.random_range(44..60), rng.random_range(40..56));
    let grey: u8 = match task % 3 {
        0 => rng.random_range(80..170),
        1 => rng.random_range(10..40),
        _ => rng.random_range(200..235),
    };
    let mut image = RgbImage::from_fn(width, height, |_, _| {
        let v = grey.saturating_add(rng.random_range(0..20));
        Rgb([v, v, v])
    });
    // Where a pixel lies across the band, and that coordinate's extent.
    let (across, extent): (fn(u32, u32) -> u32, u32) = match task {
        0..6 if task.is_multiple_of(2) => (|_, y| y, height),
        0..6 => (|x, _| x, width),
        _ => (|x, y| x + y, width + height),
    };
    let start = rng.random_range(0..extent / 2);
    let band = start..start + extent / 3;
    let colour = Rgb(PALETTE[class % PALETTE.len()]);
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        if band.contains(&across(x, y)) {
            *pixel = colour;
        }
    }
    image
}

/// Writes a FashionAI-format root for each task's first `classes` classes (the task's
/// position in `tasks` choosing how its images look, [`toy_image`]): `Images/<task>/*.jpg`,
/// `Annotations/label.csv` with `per_class` rows per class, and `Tests/question.csv` over
/// `test_per_class` further images per class. Returns the number of labelled images.
pub fn write_toy_fashionai(
    root: &Path,
    tasks: &[(Task, usize)],
    per_class: usize,
    test_per_class: usize,
) -> Result<usize> {
    for dir in [root.join("Annotations"), root.join("Tests")] {
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut rng = StdRng::seed_from_u64(7);
    let (mut labels, mut questions) = (Vec::new(), Vec::new());
    for (style, (task, classes)) in tasks.iter().enumerate() {
        let images = root.join("Images").join(task.name);
        fs::create_dir_all(&images).with_context(|| format!("creating {}", images.display()))?;
        for i in 0..(per_class + test_per_class) * classes {
            let class = i % classes;
            let name = format!("Images/{}/{i:04x}.jpg", task.name);
            toy_image(style, class, &mut rng)
                .save(root.join(&name))
                .with_context(|| format!("writing {}", root.join(&name).display()))?;
            if i < per_class * classes {
                let label: String = (0..task.num_classes())
                    .map(|c| if c == class { 'y' } else { 'n' })
                    .collect();
                labels.push(format!("{name},{},{label}", task.name));
            } else {
                questions.push(format!("{name},{},?", task.name));
            }
        }
    }
    fs::write(root.join("Annotations/label.csv"), labels.join("\n") + "\n")?;
    fs::write(root.join("Tests/question.csv"), questions.join("\n") + "\n")?;
    Ok(labels.len())
}

/// Classes generated per task in a demo of several tasks (a task of one gets all of its own).
const MULTI_TASK_CLASSES: usize = 3;

pub fn run(args: DemoArgs) -> Result<()> {
    let tasks = Task::list(&args.tasks)?;
    let (data, run) = (args.out.join("data"), args.out.join("run"));
    if run.exists() {
        fs::remove_dir_all(&run).with_context(|| format!("clearing {}", run.display()))?;
    }
    let toy: Vec<(Task, usize)> = match tasks[..] {
        [task] => {
            banner(&format!(
                "NOTE: a generated toy dataset (coloured bands standing for the {} classes of \
                 {}), not FashionAI photos: the numbers below show that the pipeline works, not \
                 how well a real model does.",
                task.num_classes(),
                task.name
            ));
            vec![(task, task.num_classes())]
        }
        _ => {
            banner(&format!(
                "NOTE: a generated toy dataset (coloured bands standing for {MULTI_TASK_CLASSES} \
                 classes of each of {} tasks, each task drawn its own way), not FashionAI photos: \
                 the numbers below show that the pipeline works, not how well a real model does.",
                tasks.len()
            ));
            tasks
                .iter()
                .map(|&task| (task, MULTI_TASK_CLASSES))
                .collect()
        }
    };
    let count = write_toy_fashionai(&data, &toy, args.per_class, (args.per_class / 5).max(1))?;
    println!(
        "generated {count} labelled images and a test set in {}",
        data.display()
    );

    banner("prepare");
    let holdout = Holdout {
        fraction: 0.2,
        seed: 1024,
    };
    let names: Vec<&str> = tasks.iter().map(|task| task.name).collect();
    prepare::prepare(std::slice::from_ref(&data), &names.join(","), holdout, &run)?;
    banner(&format!(
        "train (a narrow {} on 64x64 crops, from random weights)",
        args.arch
    ));
    let mut config = TrainConfig {
        epochs: args.epochs,
        batch_size: 16,
        ..TrainConfig::default()
    };
    config.model = ModelOptions {
        arch: args.arch,
        pretrained: "none".into(),
        input_size: Some(64),
        width_mult: 0.25,
        ..ModelOptions::default()
    };
    config.optimizer.lr = 0.02;
    config.schedule.lr_steps = vec![args.epochs * 2 / 3];
    config.schedule.lr_factor = 0.5;
    let compute = device::pick(args.device)?;
    train::train(&run, &config, &compute)?;
    let best = best_checkpoint(&run)?;
    let ten_crop = Options {
        tta: Tta::TEN_CROP,
        batch_size: 64,
    };
    let mut model = Ensemble::load(
        std::slice::from_ref(&best),
        None,
        None,
        None,
        &compute.device,
    )?;
    banner("eval (ten-crop)");
    evaluate::evaluate(&run, &mut model, None, ten_crop, &compute)?;
    banner("predict the test set");
    let test = TestSet::fashionai(data);
    let submission = args.out.join("submission.csv");
    predict::predict(
        &model,
        &test,
        ten_crop,
        OnError::Fail,
        &compute,
        &submission,
    )?;
    banner("export the web bundle");
    export::export(&best, Precision::F16, None, &args.bundle, &compute)?;
    banner(&format!(
        "done. Toy data, run, submission: {}; web bundle: {}. Again, this model knows coloured bands, not skirts: train on FashionAI (README) for a real one.",
        args.out.display(),
        args.bundle.display()
    ));
    Ok(())
}

fn banner(text: &str) {
    println!("\n== {text}");
}
