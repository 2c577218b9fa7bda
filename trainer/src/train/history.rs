//! The per-epoch record of a run: `metrics.json` and `metrics.csv` in the run folder,
//! rewritten atomically after each epoch, a one-line summary per epoch on stdout, and the
//! learning curves in `curves.png`. Registered with burn-train as its metric logger, it also
//! answers the Learner's "best epoch" queries for checkpointing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use burn::train::logger::MetricLogger;
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricAttributes, MetricDefinition, MetricId, NumericEntry};
use indicatif::ProgressBar;

use super::metric_names::RunMetric;
use crate::atomic::write_atomic;
use crate::run::{
    self,
    metrics::{EpochRecord, Metrics},
};

pub struct History {
    run: PathBuf,
    total_epochs: usize,
    metrics: Metrics,
    definitions: HashMap<MetricId, MetricDefinition>,
    current: EpochRecord,
    /// When the current epoch started (the previous one ended).
    started: Instant,
    /// The progress bar, which prints the summary lines above itself.
    bar: ProgressBar,
    /// Whether this process prints and writes the record (rank 0), or only keeps it to
    /// answer the Learner's queries as rank 0 does.
    writes: bool,
}

impl History {
    /// Continues the record of `run` after `last_epoch` (0 for a new run): later epochs, from
    /// before a crash, are dropped since they will be trained again.
    pub fn open(
        run: &Path,
        last_epoch: usize,
        total_epochs: usize,
        bar: ProgressBar,
        writes: bool,
    ) -> Result<History> {
        let mut metrics = if last_epoch > 0 {
            Metrics::read(run)?
        } else {
            Metrics::default()
        };
        metrics.epochs.retain(|e| e.epoch <= last_epoch);
        metrics.update_best();
        Ok(History {
            run: run.to_path_buf(),
            total_epochs,
            metrics,
            definitions: HashMap::new(),
            current: EpochRecord::default(),
            started: Instant::now(),
            bar,
            writes,
        })
    }

    fn end_epoch(&mut self) -> Result<()> {
        let mut record = std::mem::take(&mut self.current);
        record.seconds = self.started.elapsed().as_secs_f64();
        self.started = Instant::now();
        let line = summary_line(&record, self.total_epochs);
        self.metrics.epochs.retain(|e| e.epoch != record.epoch);
        self.metrics.epochs.push(record);
        self.metrics.update_best();
        if !self.writes {
            return Ok(());
        }
        self.bar.suspend(|| println!("{line}"));
        write_atomic(
            &run::metrics_json(&self.run),
            &serde_json::to_vec_pretty(&self.metrics)?,
        )?;
        write_atomic(&run::metrics_csv(&self.run), &self.metrics.csv()?)?;
        write_atomic(
            &run::curves_png(&self.run),
            &crate::plots::curves(&self.metrics.epochs)?,
        )
    }
}

fn summary_line(record: &EpochRecord, total: usize) -> String {
    use RunMetric::{Accuracy, FashionAiAp, GarmentAccuracy, Loss, MrrAp};
    let show = |values: &BTreeMap<String, f64>, names: &[RunMetric]| {
        names
            .iter()
            .filter_map(|name| Some(format!("{} {:.4}", name.short(), values.get(name.key())?)))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let average = match record.valid.get(&FashionAiAp.average_key()) {
        Some(ap) => format!("  |  EMA: {} {ap:.4}", FashionAiAp.short()),
        None => String::new(),
    };
    format!(
        "epoch {}/{total}  train: {}  |  val: {}{average}  |  {:.1} s",
        record.epoch,
        show(&record.train, &[Loss, Accuracy]),
        show(
            &record.valid,
            &[Loss, Accuracy, MrrAp, FashionAiAp, GarmentAccuracy]
        ),
        record.seconds
    )
}

impl MetricLogger for History {
    fn log(&mut self, update: MetricsUpdate, epoch: usize, split: &Split) {
        self.current.epoch = epoch;
        for numeric in update.entries_numeric {
            let Some(NumericEntry::Final(value)) = numeric.numeric_entry else {
                continue;
            };
            let Some(definition) = self.definitions.get(&numeric.entry.metric_id) else {
                continue;
            };
            let Some(key) = RunMetric::key_of(&definition.name) else {
                continue;
            };
            let percent = matches!(&definition.attributes,
                MetricAttributes::Numeric(a) if a.unit.as_deref() == Some("%"));
            let value = if percent { value / 100.0 } else { value };
            let values = match split {
                Split::Train => &mut self.current.train,
                _ => &mut self.current.valid,
            };
            values.insert(key, value);
        }
    }

    fn read_numeric(
        &mut self,
        name: &str,
        epoch: usize,
        split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        let key = RunMetric::key_of(name);
        let record = self.metrics.epochs.iter().find(|e| e.epoch == epoch);
        let value = record.zip(key).and_then(|(e, key)| match split {
            Split::Train => e.train.get(&key),
            _ => e.valid.get(&key),
        });
        Ok(value
            .map(|v| vec![NumericEntry::Final(*v)])
            .unwrap_or_default())
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        self.definitions
            .insert(definition.metric_id.clone(), definition);
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        if summary.split == Split::Valid
            && let Err(err) = self.end_epoch()
        {
            // The checkpoint of this epoch is still written; say what failed and go on.
            eprintln!(
                "warning: could not record epoch {}: {err:#}",
                summary.epoch_number
            );
        }
    }
}
