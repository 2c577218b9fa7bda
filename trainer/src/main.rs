//! `trainer`: the command-line side of the product. Each subcommand is a module of the
//! trainer library; the model and preprocessing live in the `shared` crate.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use trainer::{
    bench, classify, demo, devices, distill, evaluate, export, predict, prepare, tasks, train,
    weights,
};

#[derive(Parser)]
#[command(
    version,
    about = "Fine-tune torchvision's ResNet, MobileNetV3 or EfficientNet on FashionAI attributes with burn",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole workflow on a generated toy dataset (no FashionAI data needed).
    Demo(demo::DemoArgs),
    /// Read FashionAI labels (or an image folder), check the images, write a train/val split.
    Prepare(prepare::PrepareArgs),
    /// Fine-tune a network on a prepared run folder (GPU through wgpu, or the CPU).
    Train(Box<train::TrainArgs>),
    /// Train a student on a teacher's softened probabilities and the labels (knowledge
    /// distillation: e.g. an ensemble of large models into one small model for the page).
    Distill(Box<distill::DistillArgs>),
    /// Evaluate a trained model or an ensemble on a run's validation images (metrics,
    /// confusion matrix; each member, a teacher).
    Eval(evaluate::EvalArgs),
    /// Write the competition's submission CSV for a test set (ten-crop by default; several
    /// models of a task answer it as an ensemble).
    Predict(predict::PredictArgs),
    /// Export a checkpoint as a web bundle (manifest.json + model.safetensors).
    Export(export::ExportArgs),
    /// Classify photos with a bundle, checkpoint, run or torchvision weight file (several: an
    /// ensemble).
    Classify(classify::ClassifyArgs),
    /// Measure training, inference and input-pipeline images/s.
    Bench(bench::BenchArgs),
    /// Download, inspect and check torchvision weights (every architecture of --arch).
    #[command(subcommand)]
    Weights(weights::Command),
    /// List the FashionAI tasks and their classes.
    Tasks,
    /// List the GPUs wgpu sees (for --device gpu:N) and what --device auto picks.
    Devices,
}

fn main() {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Prepare(args) => prepare::run(args),
        Command::Train(mut args) => {
            // `--recipe` sets the options that the command line leaves out.
            if let Some(train) = matches.subcommand_matches("train") {
                args.apply_recipe(train);
            }
            train::run(*args)
        }
        Command::Distill(mut args) => {
            if let Some(distill) = matches.subcommand_matches("distill") {
                args.train.apply_recipe(distill);
            }
            distill::run(*args)
        }
        Command::Eval(args) => evaluate::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Export(args) => export::run(args),
        Command::Classify(args) => classify::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Weights(command) => weights::run(command),
        Command::Tasks => {
            tasks::print();
            Ok(())
        }
        Command::Devices => devices::run(),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
