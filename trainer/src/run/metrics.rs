//! `metrics.json` and `metrics.csv`: one record per epoch of a run, and the best epoch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::train::metric_names::RunMetric;

/// One epoch's values, keyed like `loss`, `accuracy`, `mrr_ap` (fractions, not percent).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train: BTreeMap<String, f64>,
    pub valid: BTreeMap<String, f64>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    pub epochs: Vec<EpochRecord>,
    /// The epoch with the highest validation FashionAI AP.
    pub best_epoch: Option<usize>,
}

impl Metrics {
    pub fn read(run: &Path) -> Result<Metrics> {
        let path = super::metrics_json(run);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a metrics file", path.display()))
    }

    pub fn update_best(&mut self) {
        self.best_epoch = self
            .epochs
            .iter()
            .filter_map(|e| Some((e.epoch, *e.valid.get(RunMetric::BEST.key())?)))
            .fold(
                None,
                |best: Option<(usize, f64)>, (epoch, value)| match best {
                    Some((_, b)) if b >= value => best,
                    _ => Some((epoch, value)),
                },
            )
            .map(|(epoch, _)| epoch);
    }

    /// `metrics.csv`: a column per metric and split (`train_loss`, `val_fashionai_ap`, ...).
    pub fn csv(&self) -> Result<Vec<u8>> {
        let columns = |pick: fn(&EpochRecord) -> &BTreeMap<String, f64>| {
            let keys: BTreeSet<&String> = self.epochs.iter().flat_map(|e| pick(e).keys()).collect();
            keys.into_iter().cloned().collect::<Vec<String>>()
        };
        let (train, valid) = (columns(|e| &e.train), columns(|e| &e.valid));
        let mut writer = csv::Writer::from_writer(Vec::new());
        let header = std::iter::once("epoch".to_string())
            .chain(train.iter().map(|key| format!("train_{key}")))
            .chain(valid.iter().map(|key| format!("val_{key}")))
            .chain(std::iter::once("seconds".to_string()));
        writer.write_record(header)?;
        for e in &self.epochs {
            let value = |values: &BTreeMap<String, f64>, key: &String| {
                values.get(key).map(f64::to_string).unwrap_or_default()
            };
            let row = std::iter::once(e.epoch.to_string())
                .chain(train.iter().map(|key| value(&e.train, key)))
                .chain(valid.iter().map(|key| value(&e.valid, key)))
                .chain(std::iter::once(format!("{:.1}", e.seconds)));
            writer.write_record(row)?;
        }
        Ok(writer.into_inner()?)
    }
}
