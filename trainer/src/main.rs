//! `trainer`: the command-line side of the product. Each subcommand is a module; the work
//! itself lives in the `shared` library.

mod pretrained;
mod tasks;
mod weights;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Fine-tune torchvision's ResNet on FashionAI attributes with burn",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download, inspect and check torchvision ResNet weights.
    #[command(subcommand)]
    Weights(weights::Command),
    /// List the FashionAI tasks and their classes.
    Tasks,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Weights(command) => weights::run(command),
        Command::Tasks => {
            tasks::print();
            Ok(())
        }
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
