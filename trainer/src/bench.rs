//! `trainer bench`: training and inference images/s of a ResNet on the chosen backend, and
//! the input pipeline's images/s on all CPU cores. A measurement tool, not a test: compare it
//! with `tools/bench_torch.py` (the same step in PyTorch) on the same machine. Under `mpirun`
//! it measures data-parallel training (each rank steps on its part of every batch) and, with
//! `--allreduce`, the time of one all-reduce.

use std::time::Instant;

use anyhow::{Result, bail};
use burn::prelude::*;
use burn::train::Learner;
use clap::Args;
use image::{ImageFormat, Rgb, RgbImage};
use rayon::prelude::*;
use serde::Serialize;
use shared::heads::Heads;
use shared::model::Arch;
use shared::precision::Precision;
use shared::preprocess::InputSize;
use shared::tasks::Mark;

use crate::device::{self, Compute, DeviceChoice, fit};
use crate::ranks;
use crate::recipe::{Augmentation, Recipe, TrainConfig};
use crate::train::loader::Batch;
use crate::train::step::Classifier;
use crate::train::{optimizer, schedule};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long, default_value = "resnet50")]
    pub arch: Arch,
    /// What to time, as timm's `benchmark.py --bench`: the training step, the inference pass
    /// (BatchNorms folded, as `eval`, `predict` and `classify` run it), or both.
    #[arg(long, value_enum, default_value = "both")]
    pub bench: Bench,
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
    /// Passes per training step (`trainer train --accumulate`).
    #[arg(long, default_value_t = 1)]
    pub accumulate: usize,
    /// Under `mpirun`: also time an all-reduce (sum) of this many f32 values between the
    /// ranks (25557032: ResNet-50's gradients).
    #[arg(long)]
    pub allreduce: Option<usize>,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Bench {
    Both,
    Train,
    Inference,
}

#[derive(Serialize)]
struct ModelResult {
    batch_size: usize,
    /// Images of the global batch per second, over all ranks.
    train_images_per_s: Option<f64>,
    /// Per rank, on its part of the batch.
    infer_images_per_s: Option<f64>,
    first_step_s: Option<f64>,
}

#[derive(Serialize)]
struct AllReduce {
    values: usize,
    seconds: f64,
}

#[derive(Serialize)]
struct Report {
    arch: String,
    precision: Precision,
    device: String,
    input_size: u32,
    ranks: usize,
    accumulate: usize,
    models: Vec<ModelResult>,
    allreduce: Option<AllReduce>,
    pipeline_images_per_s: Option<f64>,
    /// With `--recipe modern`'s augmentation.
    modern_pipeline_images_per_s: Option<f64>,
    pipeline_threads: usize,
}

/// `trainer bench`, as one process or as one rank of several.
pub fn run(args: BenchArgs) -> Result<()> {
    ranks::run_as_rank(args.device, |compute| measure(args, compute))
}

fn measure(args: BenchArgs, compute: &Compute) -> Result<()> {
    if args.steps == 0 || args.batch_sizes.contains(&0) {
        bail!("--steps and every batch size must be at least 1");
    }
    let world = ranks::world();
    ranks::say(format_args!(
        "{} at {}px on {} ({} rank(s), --accumulate {}), in {:?}",
        args.arch, args.input_size, compute.name, world.size, args.accumulate, args.precision
    ));
    let mut models = Vec::new();
    for &batch_size in &args.batch_sizes {
        let result = measure_model(&args, batch_size, compute)?;
        let mut line = format!("batch {batch_size:>4}:");
        if let Some((train, first)) = result.train_images_per_s.zip(result.first_step_s) {
            line += &format!(" train {train:>8.1} images/s (first step {first:.1} s)");
        }
        if let Some(infer) = result.infer_images_per_s {
            line += &format!(" inference {infer:>8.1} images/s per rank");
        }
        ranks::say(format_args!("{line}"));
        models.push(result);
    }
    let allreduce = args
        .allreduce
        .filter(|_| world.size > 1)
        .map(measure_allreduce);
    if let Some(allreduce) = &allreduce {
        ranks::say(format_args!(
            "all-reduce of {} f32 values ({:.1} MB) between {} ranks: {:.3} s",
            allreduce.values,
            allreduce.values as f64 * 4e-6,
            world.size,
            allreduce.seconds
        ));
    }
    if !world.is_root() {
        return Ok(());
    }
    // The tutorial's augmentation, then `--recipe modern`'s.
    let size = args.arch.input_size().with_crop(args.input_size);
    let mut modern = TrainConfig::default();
    Recipe::Modern.apply(&mut modern, &Default::default());
    let [pipeline, modern_pipeline] = [TrainConfig::default().augmentation, modern.augmentation]
        .map(|augmentation| {
            (args.pipeline_images > 0)
                .then(|| measure_pipeline(args.pipeline_images, size, &augmentation))
        });
    if let Some((rate, modern)) = pipeline.zip(modern_pipeline) {
        println!(
            "input pipeline (decode 600x800 JPEG, resize, crop, flip, normalise): {rate:.1} images/s on {} threads; with --recipe modern's augmentation (random resized crop, TrivialAugment, random erasing): {modern:.1} images/s",
            rayon::current_num_threads()
        );
    }
    let report = Report {
        arch: args.arch.to_string(),
        precision: args.precision,
        device: compute.name.clone(),
        input_size: args.input_size,
        ranks: world.size,
        accumulate: args.accumulate,
        models,
        allreduce,
        pipeline_images_per_s: pipeline,
        modern_pipeline_images_per_s: modern_pipeline,
        pipeline_threads: rayon::current_num_threads(),
    };
    if let Some(path) = &args.json {
        crate::atomic::write_atomic(path, &serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}

/// What `--bench` asks for: the trainer's own step (forward, cross-entropy, backward, SGD) on a
/// synthetic batch, and a forward pass without autodiff (of the trained model, or of a freshly
/// initialised one for `--bench inference`), each timed after a synchronisation.
fn measure_model(args: &BenchArgs, batch_size: usize, compute: &Compute) -> Result<ModelResult> {
    let mut config = TrainConfig {
        epochs: 1,
        batch_size,
        accumulate: args.accumulate,
        precision: args.precision,
        ..TrainConfig::default()
    };
    config.model.arch = args.arch;
    config.model.pretrained = "none".into();
    config.model.input_size = Some(args.input_size);
    config.validate()?;
    let shape = config.net(args.classes);
    // This rank's part of each batch.
    let per_rank = batch_size / ranks::world().size;
    let side = args.input_size as usize;
    let batch = |device: &Device| Batch {
        images: Tensor::random(
            [per_rank, 3, side, side],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            device,
        ),
        targets: Tensor::from_data(
            TensorData::from(
                (0..per_rank)
                    .map(|i| (i % args.classes) as i64)
                    .collect::<Vec<_>>()
                    .as_slice(),
            ),
            device,
        ),
        marks: std::sync::Arc::new(vec![vec![Mark::No; args.classes]; per_rank]),
        tasks: std::sync::Arc::new(vec![0; per_rank]),
        mixed: None,
    };
    let device = &compute.device;
    let mut result = ModelResult {
        batch_size,
        train_images_per_s: None,
        infer_images_per_s: None,
        first_step_s: None,
    };
    let net = if args.bench == Bench::Inference {
        shape.init(device)
    } else {
        let footprint = shape.footprint(args.input_size as usize, &Device::flex());
        fit::check_training(per_rank, args.accumulate, &footprint, compute)?;
        let train_device = device.clone().autodiff();
        let classes = (0..args.classes).map(|class| class.to_string()).collect();
        let heads = Heads::single("bench", classes)?;
        let model = Classifier::new(shape.init(&train_device), heads, &config);
        let optim = optimizer::optimizer(&config.optimizer, &model);
        let mut learner = Learner::new(model, optim, schedule::Schedule::new(&config, 1));
        let mut step = || -> Result<()> {
            let output = learner.train_step(batch(&train_device));
            learner.lr_step();
            learner.optimizer_step(output.grads);
            device::read(output.item.loss, "a training step")?;
            Ok(())
        };
        let started = Instant::now();
        step()?;
        result.first_step_s = Some(started.elapsed().as_secs_f64());
        for _ in 1..args.warmup {
            step()?;
        }
        train_device.sync()?;
        let started = Instant::now();
        for _ in 0..args.steps {
            step()?;
        }
        train_device.sync()?;
        let seconds = started.elapsed().as_secs_f64();
        result.train_images_per_s = Some((args.steps * batch_size) as f64 / seconds);
        learner.model().valid().net
    };
    if args.bench == Bench::Train {
        return Ok(result);
    }

    // Inference as `eval`, `predict` and `classify` run it: BatchNorms folded.
    let net = net.folded();
    let input = batch(device).images;
    for _ in 0..args.warmup.max(1) {
        device::read(
            net.forward_in(input.clone(), args.precision.dtype()),
            "inference",
        )?;
    }
    device.sync()?;
    let started = Instant::now();
    for _ in 0..args.steps {
        device::read(
            net.forward_in(input.clone(), args.precision.dtype()),
            "inference",
        )?;
    }
    let seconds = started.elapsed().as_secs_f64();
    result.infer_images_per_s = Some((args.steps * per_rank) as f64 / seconds);
    Ok(result)
}

/// The mean time of an all-reduce of `values` f32 values (after one untimed).
fn measure_allreduce(values: usize) -> AllReduce {
    let mut buffer = vec![1.0f32; values];
    ranks::sum(&mut buffer);
    const TIMES: u32 = 5;
    let started = Instant::now();
    for _ in 0..TIMES {
        ranks::sum(&mut buffer);
    }
    AllReduce {
        values,
        seconds: started.elapsed().as_secs_f64() / f64::from(TIMES),
    }
}

/// Training preprocessing of photo-sized JPEGs on every core, as the loader runs it, with
/// `augmentation`.
fn measure_pipeline(images: usize, size: InputSize, augmentation: &Augmentation) -> f64 {
    let photo = RgbImage::from_fn(600, 800, |x, y| {
        Rgb([(x % 251) as u8, (y % 241) as u8, ((x * y) % 239) as u8])
    });
    let mut jpeg = std::io::Cursor::new(Vec::new());
    photo
        .write_to(&mut jpeg, ImageFormat::Jpeg)
        .expect("encoding a JPEG in memory");
    let jpeg = jpeg.into_inner();
    let started = Instant::now();
    let decoded = (0..images)
        .into_par_iter()
        .filter(|&i| {
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(i as u64);
            crate::augment::train_input(&jpeg, size, augmentation, &mut rng).is_ok()
        })
        .count();
    decoded as f64 / started.elapsed().as_secs_f64()
}
