//! `trainer prepare`: reads the labels, checks the images, splits train/validation with a
//! seed and writes the split as manifests into a run folder. Nothing is copied unless
//! `--materialize` asks for the tutorial's folder layout.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use shared::heads::{Heads, TaskClasses};
use shared::tasks::{SKIRT_LENGTH, Task};

use crate::atomic::write_atomic;
use crate::data::{self, BadRow, Manifest, Sample};
use crate::run::lock::RunLock;

/// Bad rows printed; all of them go to `bad_rows.txt`.
const SHOWN_BAD_ROWS: usize = 10;

#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// A FashionAI root (with `Annotations/label.csv` or `Annotations/<task>.csv` and
    /// `Images/`), or an image folder (`<root>/<class>/*.jpg`). Repeat to merge roots, e.g.
    /// the train set and the warm-up set.
    #[arg(long = "data", required = true)]
    pub roots: Vec<PathBuf>,
    /// FashionAI task (see `trainer tasks`); several, separated by commas, or `all` for one
    /// model that answers them all. Ignored for image folders.
    #[arg(long, default_value = SKIRT_LENGTH)]
    pub task: String,
    /// The run folder to create (dataset.json, train.csv, val.csv).
    #[arg(long)]
    pub out: PathBuf,
    /// Share of the shuffled images kept for validation.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Seed of the shuffle before the split.
    #[arg(long, default_value_t = 1024)]
    pub seed: u64,
    /// Also lay the split out as `<out>/{train,val}/<class>/` (hard links where possible).
    #[arg(long)]
    pub materialize: bool,
}

pub fn run(args: PrepareArgs) -> Result<()> {
    let holdout = Holdout {
        fraction: args.val_fraction,
        seed: args.seed,
    };
    let manifest = prepare(&args.roots, &args.task, holdout, &args.out)?;
    if args.materialize {
        let (linked, copied) = data::materialize(&manifest, &args.out)?;
        println!(
            "materialized {}/{{train,val}}/<class>/: {linked} hard links, {copied} copies",
            args.out.display()
        );
    }
    Ok(())
}

/// The share of the shuffled images kept for validation, and the shuffle's seed.
#[derive(Clone, Copy, Debug)]
pub struct Holdout {
    pub fraction: f64,
    pub seed: u64,
}

/// Reads `roots` (FashionAI roots of `tasks`, a task name, a comma list or `all`; or image
/// folders), writes the split into the run folder `out` and returns it.
pub fn prepare(roots: &[PathBuf], tasks: &str, holdout: Holdout, out: &Path) -> Result<Manifest> {
    if !(0.0..1.0).contains(&holdout.fraction) {
        bail!("--val-fraction must be in [0, 1), got {}", holdout.fraction);
    }
    let (heads, samples, bad_rows) = read_roots(roots, tasks)?;
    let _lock = RunLock::acquire(out, "prepare")?;
    report_bad_rows(&bad_rows, out)?;
    if samples.len() < 2 {
        bail!("only {} usable images: nothing to train on", samples.len());
    }
    let sources = roots
        .iter()
        .map(|root| std::path::absolute(root).unwrap_or_else(|_| root.clone()))
        .collect();
    let split = split_per_task(samples, heads.tasks().len(), holdout);
    let manifest = Manifest::new(
        &heads,
        sources,
        (holdout.seed, holdout.fraction),
        split,
        bad_rows.len(),
    );
    manifest.write(out)?;
    print_summary(&manifest, &heads, out);
    Ok(manifest)
}

/// Each task's images split by the seeded rule on their own, so that a task's split is the
/// one a run over that task alone would have; the tasks' parts follow one another.
fn split_per_task(
    samples: Vec<Sample>,
    tasks: usize,
    holdout: Holdout,
) -> (Vec<Sample>, Vec<Sample>) {
    let mut per_task = vec![Vec::new(); tasks];
    for sample in samples {
        per_task[sample.task].push(sample);
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for samples in per_task {
        let (task_train, task_val) = data::split(samples, holdout.fraction, holdout.seed);
        train.extend(task_train);
        val.extend(task_val);
    }
    (train, val)
}

type Read = (Heads, Vec<Sample>, Vec<BadRow>);

/// Every root's usable samples, with the tasks and classes they share.
fn read_roots(roots: &[PathBuf], task_spec: &str) -> Result<Read> {
    let folders = roots
        .iter()
        .filter(|root| data::is_image_folder(root))
        .count();
    if folders > 0 && folders < roots.len() {
        bail!("cannot merge FashionAI roots with image folders");
    }
    for root in roots {
        if !root.is_dir() {
            bail!("{}: not a folder", root.display());
        }
    }
    if folders > 0 {
        let mut all = Vec::new();
        let mut classes: Option<Vec<String>> = None;
        for root in roots {
            let (found, samples) = data::read_image_folder(root)?;
            if classes.as_ref().is_some_and(|c| *c != found) {
                bail!(
                    "{}: its class folders differ from the first root's",
                    root.display()
                );
            }
            println!(
                "{}: {} images in {} class folders",
                root.display(),
                samples.len(),
                found.len()
            );
            classes = Some(found);
            all.extend(samples);
        }
        let heads = Heads::single(&folder_name(&roots[0]), classes.unwrap_or_default())?;
        return Ok((heads, all, Vec::new()));
    }
    let tasks = Task::list(task_spec)?;
    let (mut samples, mut bad) = (Vec::new(), Vec::new());
    for root in roots {
        let table = data::read_fashionai(root, &tasks)
            .with_context(|| format!("reading {}", root.display()))?;
        let names: Vec<&str> = tasks.iter().map(|task| task.name).collect();
        println!(
            "{}: {} {} rows, {} bad rows, {} rows of other tasks",
            root.display(),
            table.samples.len(),
            names.join(" + "),
            table.bad_rows.len(),
            table.other_tasks
        );
        samples.extend(table.samples);
        bad.extend(table.bad_rows);
    }
    // Tasks without a usable row are left out: a head would learn nothing.
    let present: Vec<usize> = (0..tasks.len())
        .filter(|&task| samples.iter().any(|s| s.task == task))
        .collect();
    if present.len() < tasks.len() && !present.is_empty() {
        let missing: Vec<&str> = (0..tasks.len())
            .filter(|task| !present.contains(task))
            .map(|task| tasks[task].name)
            .collect();
        eprintln!(
            "note: no usable rows of {}: left out of the run",
            missing.join(", ")
        );
        // Every sample's task is present: renumbered to its place among them.
        let mut renumbered = vec![0; tasks.len()];
        for (place, &task) in present.iter().enumerate() {
            renumbered[task] = place;
        }
        for sample in &mut samples {
            sample.task = renumbered[sample.task];
        }
    }
    let heads = match present.is_empty() {
        true => tasks.iter().collect::<Vec<_>>(),
        false => present.iter().map(|&task| &tasks[task]).collect(),
    }
    .into_iter()
    .map(|task| TaskClasses {
        name: task.name.to_string(),
        classes: task.classes.iter().map(|c| c.to_string()).collect(),
    })
    .collect();
    Ok((Heads::new(heads)?, samples, bad))
}

fn folder_name(root: &Path) -> String {
    std::path::absolute(root)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "images".to_string())
}

/// Prints the first bad rows and writes all of them to `<out>/bad_rows.txt`.
fn report_bad_rows(bad: &[BadRow], out: &Path) -> Result<()> {
    if bad.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = crate::run::bad_rows(out);
    let mut text = String::new();
    for row in bad {
        let _ = writeln!(text, "{row}");
    }
    write_atomic(&path, text.as_bytes())?;
    eprintln!(
        "{} bad rows skipped (all listed in {}):",
        bad.len(),
        path.display()
    );
    for row in bad.iter().take(SHOWN_BAD_ROWS) {
        eprintln!("  {row}");
    }
    if bad.len() > SHOWN_BAD_ROWS {
        eprintln!("  ... and {} more", bad.len() - SHOWN_BAD_ROWS);
    }
    Ok(())
}

fn print_summary(manifest: &Manifest, heads: &Heads, out: &Path) {
    let info = &manifest.info;
    println!(
        "{}: {} train + {} val images (seed {}, {:.0}% validation)",
        out.display(),
        info.counts.train,
        info.counts.val,
        info.seed,
        info.val_fraction * 100.0
    );
    for (task, head) in heads.tasks().iter().enumerate() {
        if heads.is_multi_task() {
            println!("  {}", head.name);
        }
        for (class, name) in head.classes.iter().enumerate() {
            let count = |samples: &[Sample]| {
                let of_class = |s: &&Sample| s.task == task && s.label.class == class;
                samples.iter().filter(of_class).count()
            };
            println!(
                "  {class} {name:<28} {:>6} train {:>6} val",
                count(&manifest.train),
                count(&manifest.val)
            );
        }
    }
}
