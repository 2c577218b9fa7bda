//! `trainer weights`: fetch torchvision's ImageNet weights, and check a weight file.

use std::path::PathBuf;

use anyhow::Result;
use burn::prelude::*;
use clap::{Args, Subcommand};
use shared::model::Arch;
use shared::weights::{Head, inspect, load_torchvision};

use crate::pretrained::Pretrained;

#[derive(Subcommand)]
pub enum Command {
    /// Download torchvision's ImageNet weights into torch.hub's cache (reused if PyTorch
    /// already downloaded them) and print the file's path.
    Fetch(WeightsArgs),
    /// Load torchvision weights (any architecture of `--arch`) and run them once on the CPU: a weight file
    /// (`.pth`/`.pt` saved by `torch.save(model.state_dict())`, or `.safetensors`), or
    /// `imagenet` / `imagenet-v2` (fetched first if needed).
    Check(WeightsArgs),
}

#[derive(Args)]
pub struct WeightsArgs {
    /// `imagenet` (IMAGENET1K_V1, the tutorial's era), `imagenet-v2`, or (check only) a path.
    #[arg(default_value = "imagenet")]
    weights: Pretrained,
    /// Which architecture's ImageNet weights (a file says itself what it holds).
    #[arg(long, default_value = "resnet50")]
    arch: Arch,
    /// Cache folder [default: $TORCH_HOME/hub/checkpoints or ~/.cache/torch/hub/checkpoints].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Fetch(args) => {
            anyhow::ensure!(
                matches!(args.weights, Pretrained::Imagenet(_)),
                "fetch downloads `imagenet` or `imagenet-v2` weights"
            );
            let path = args.weights.resolve(args.arch, args.cache_dir)?;
            println!(
                "{}",
                path.expect("ImageNet weights resolve to a file").display()
            );
            Ok(())
        }
        Command::Check(args) => match args.weights.resolve(args.arch, args.cache_dir)? {
            Some(path) => check(&path),
            None => anyhow::bail!("`none` names no weights to check"),
        },
    }
}

fn check(file: &std::path::Path) -> Result<()> {
    let info = inspect(file)?;
    println!(
        "{}: {} state dict of {} (width {}), {} classes",
        file.display(),
        info.format,
        info.arch,
        info.width_mult,
        info.num_classes
    );
    let device = Device::flex();
    let model = load_torchvision(file, None, Head::Pretrained, &device)?;
    let parameters = model.num_params();
    let crop = info.arch.input_size().crop as usize;
    let logits = model.forward(Tensor::zeros([1, 3, crop, crop], &device));
    let values = crate::device::read(logits, "a forward pass")?;
    anyhow::ensure!(
        values.iter().all(|v| v.is_finite()),
        "{}: the loaded model produces non-finite logits",
        file.display()
    );
    println!(
        "loaded all {parameters} parameters; a forward pass gives {} finite logits",
        values.len()
    );
    Ok(())
}
