//! `trainer bench`: training and inference images/s of a ResNet on the chosen backend, and
//! the input pipeline's images/s on all CPU cores. A measurement tool, not a test: compare it
//! with `tools/bench_torch.py` (the same step in PyTorch) on the same machine.

use std::time::Instant;

use anyhow::{Result, bail};
use burn::prelude::*;
use burn::train::Learner;
use clap::Args;
use image::{ImageFormat, Rgb, RgbImage};
use rayon::prelude::*;
use serde::Serialize;
use shared::model::Arch;
use shared::precision::Precision;
use shared::preprocess::{self, InputSize};
use shared::tasks::Mark;

use crate::device::{self, Compute, DeviceChoice, fit};
use crate::train::loader::Batch;
use crate::train::step::Classifier;
use crate::train::{TrainConfig, schedule};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long, default_value = "resnet50")]
    pub arch: Arch,
    /// Batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "32,64")]
    pub batch_sizes: Vec<usize>,
    /// Timed steps per batch size, after the warm-up steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed first steps (kernel compilation and autotuning happen here).
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    #[arg(long, default_value_t = 224)]
    pub input_size: u32,
    /// Arithmetic of the training step's convolutions (`trainer train --precision`).
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: Precision,
    /// Classes of the classifier (6 = skirt length).
    #[arg(long, default_value_t = 6)]
    pub classes: usize,
    #[arg(long, default_value = "auto", help = device::HELP)]
    pub device: DeviceChoice,
    /// Photos decoded by the input-pipeline benchmark (0 to skip it).
    #[arg(long, default_value_t = 256)]
    pub pipeline_images: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

#[derive(Serialize)]
struct ModelResult {
    batch_size: usize,
    train_images_per_s: f64,
    infer_images_per_s: f64,
    first_step_s: f64,
}

#[derive(Serialize)]
struct Report {
    arch: String,
    precision: Precision,
    device: String,
    input_size: u32,
    models: Vec<ModelResult>,
    pipeline_images_per_s: Option<f64>,
    pipeline_threads: usize,
}

pub fn run(args: BenchArgs) -> Result<()> {
    if args.steps == 0 || args.batch_sizes.contains(&0) {
        bail!("--steps and every batch size must be at least 1");
    }
    let compute = device::pick(args.device)?;
    println!(
        "{} at {}px on {}, training in {:?}",
        args.arch, args.input_size, compute.name, args.precision
    );
    let mut models = Vec::new();
    for &batch_size in &args.batch_sizes {
        let result = measure_model(&args, batch_size, &compute)?;
        println!(
            "batch {batch_size:>4}: train {:>8.1} images/s, inference {:>8.1} images/s (first step {:.1} s)",
            result.train_images_per_s, result.infer_images_per_s, result.first_step_s
        );
        models.push(result);
    }
    let pipeline =
        (args.pipeline_images > 0).then(|| measure_pipeline(args.pipeline_images, args.input_size));
    if let Some(rate) = pipeline {
        println!(
            "input pipeline (decode 600x800 JPEG, resize, crop, flip, normalise): {rate:.1} images/s on {} threads",
            rayon::current_num_threads()
        );
    }
    let report = Report {
        arch: args.arch.to_string(),
        precision: args.precision,
        device: compute.name.clone(),
        input_size: args.input_size,
        models,
        pipeline_images_per_s: pipeline,
        pipeline_threads: rayon::current_num_threads(),
    };
    if let Some(path) = &args.json {
        crate::atomic::write_atomic(path, &serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}

/// The trainer's own step (forward, cross-entropy, backward, SGD) on a synthetic batch, then
/// a forward pass without autodiff, each timed after a synchronisation.
fn measure_model(args: &BenchArgs, batch_size: usize, compute: &Compute) -> Result<ModelResult> {
    let config = TrainConfig {
        arch: args.arch,
        pretrained: "none".into(),
        epochs: 1,
        batch_size,
        lr_steps: vec![],
        input_size: args.input_size,
        precision: args.precision,
        ..TrainConfig::default()
    };
    let shape = config.model(args.classes);
    let footprint = shape.footprint(args.input_size as usize);
    fit::check_training(batch_size, 1, &footprint, compute)?;
    let device = &compute.device;
    let train_device = device.clone().autodiff();
    let net = shape.init(&train_device);
    let mut learner = Learner::new(
        Classifier::new(net, &config),
        schedule::sgd(&config),
        schedule::lr_schedule(&config, 1)?,
    );
    let side = args.input_size as usize;
    let batch = |device: &Device| Batch {
        images: Tensor::random(
            [batch_size, 3, side, side],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            device,
        ),
        targets: Tensor::from_data(
            TensorData::from(
                (0..batch_size)
                    .map(|i| (i % args.classes) as i64)
                    .collect::<Vec<_>>()
                    .as_slice(),
            ),
            device,
        ),
        marks: std::sync::Arc::new(vec![vec![Mark::No; args.classes]; batch_size]),
    };
    let mut step = || -> Result<()> {
        let output = learner.train_step(batch(&train_device));
        learner.lr_step();
        learner.optimizer_step(output.grads);
        device::read(output.item.loss, "a training step")?;
        Ok(())
    };
    let started = Instant::now();
    step()?;
    let first_step_s = started.elapsed().as_secs_f64();
    for _ in 1..args.warmup {
        step()?;
    }
    train_device.sync()?;
    let started = Instant::now();
    for _ in 0..args.steps {
        step()?;
    }
    train_device.sync()?;
    let train_images_per_s = (args.steps * batch_size) as f64 / started.elapsed().as_secs_f64();

    let model = learner.model().valid();
    let input = batch(device).images;
    for _ in 0..args.warmup.max(1) {
        device::read(
            model.net.forward_in(input.clone(), args.precision.dtype()),
            "inference",
        )?;
    }
    device.sync()?;
    let started = Instant::now();
    for _ in 0..args.steps {
        device::read(
            model.net.forward_in(input.clone(), args.precision.dtype()),
            "inference",
        )?;
    }
    let infer_images_per_s = (args.steps * batch_size) as f64 / started.elapsed().as_secs_f64();
    Ok(ModelResult {
        batch_size,
        train_images_per_s,
        infer_images_per_s,
        first_step_s,
    })
}

/// Training preprocessing of photo-sized JPEGs on every core, as the loader runs it.
fn measure_pipeline(images: usize, input_size: u32) -> f64 {
    let photo = RgbImage::from_fn(600, 800, |x, y| {
        Rgb([(x % 251) as u8, (y % 241) as u8, ((x * y) % 239) as u8])
    });
    let mut jpeg = std::io::Cursor::new(Vec::new());
    photo
        .write_to(&mut jpeg, ImageFormat::Jpeg)
        .expect("encoding a JPEG in memory");
    let jpeg = jpeg.into_inner();
    let size = InputSize::with_crop(input_size);
    let started = Instant::now();
    let decoded = (0..images)
        .into_par_iter()
        .filter(|&i| {
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(i as u64);
            preprocess::train_input(&jpeg, size, &mut rng).is_ok()
        })
        .count();
    decoded as f64 / started.elapsed().as_secs_f64()
}
