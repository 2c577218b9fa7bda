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
    #[serde(deserialize_with = "values")]
    pub train: BTreeMap<String, f64>,
    #[serde(deserialize_with = "values")]
    pub valid: BTreeMap<String, f64>,
    pub seconds: f64,
}

/// An epoch's values, where JSON's `null` is the NaN it was written for (a loss that
/// diverged, or an epoch that a failing device ran to its end).
fn values<'de, D: serde::Deserializer<'de>>(reader: D) -> Result<BTreeMap<String, f64>, D::Error> {
    let values = BTreeMap::<String, Option<f64>>::deserialize(reader)?;
    Ok(values
        .into_iter()
        .map(|(key, value)| (key, value.unwrap_or(f64::NAN)))
        .collect())
}

/// Which weights of an epoch: the trained ones, or `--model-ema`'s average of them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Weights {
    Trained,
    Ema,
}

impl EpochRecord {
    /// The epoch's validation FashionAI AP and whose it is: `--model-ema`'s average's where
    /// that is higher than the trained weights'.
    pub fn best(&self) -> Option<(f64, Weights)> {
        // A NaN (an epoch that diverged) is no score.
        let value = |key: &str| self.valid.get(key).copied().filter(|v| !v.is_nan());
        let trained = value(RunMetric::BEST.key());
        let average = value(&RunMetric::BEST.average_key());
        match (trained, average) {
            (Some(trained), Some(average)) if average > trained => Some((average, Weights::Ema)),
            (Some(trained), _) => Some((trained, Weights::Trained)),
            (None, average) => average.map(|average| (average, Weights::Ema)),
        }
    }

    /// Whether the epoch validated `--model-ema`'s average.
    pub fn has_average(&self) -> bool {
        self.valid.contains_key(&RunMetric::BEST.average_key())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    pub epochs: Vec<EpochRecord>,
    /// The epoch with the highest validation FashionAI AP (of the trained weights or, with
    /// `--model-ema`, of their average; the first of equal ones).
    pub best_epoch: Option<usize>,
    /// With `--model-ema`: which weights of the best epoch scored it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_weights: Option<Weights>,
}

impl Metrics {
    pub fn read(run: &Path) -> Result<Metrics> {
        let path = super::metrics_json(run);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a metrics file", path.display()))
    }

    pub fn update_best(&mut self) {
        let best = self
            .epochs
            .iter()
            .filter_map(|e| Some((e, e.best()?)))
            .fold(
                None,
                |best: Option<(&EpochRecord, (f64, Weights))>, (e, value)| match best {
                    Some((_, b)) if b.0 >= value.0 => best,
                    _ => Some((e, value)),
                },
            );
        self.best_epoch = best.map(|(e, _)| e.epoch);
        self.best_weights = best
            .filter(|(e, _)| e.has_average())
            .map(|(_, (_, weights))| weights);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: usize, trained: f64, average: Option<f64>) -> EpochRecord {
        let mut valid = BTreeMap::from([("fashionai_ap".to_string(), trained)]);
        if let Some(average) = average {
            valid.insert("ema_fashionai_ap".to_string(), average);
        }
        EpochRecord {
            epoch,
            valid,
            ..EpochRecord::default()
        }
    }

    /// A NaN value (a diverged loss) is written as JSON's `null` and read back as NaN, so that
    /// `--resume` reads the record of a run whose loss diverged.
    #[test]
    fn a_nan_value_is_read_back() {
        let mut record = epoch(1, 0.5, None);
        record.train.insert("loss".to_string(), f64::NAN);
        let json = serde_json::to_string(&Metrics {
            epochs: vec![record],
            ..Metrics::default()
        })
        .unwrap();
        assert!(json.contains(r#""loss":null"#), "{json}");
        let read: Metrics = serde_json::from_str(&json).unwrap();
        assert!(read.epochs[0].train["loss"].is_nan());
        assert_eq!(read.epochs[0].valid["fashionai_ap"], 0.5);
    }

    /// An epoch whose AP is NaN (it diverged) is never the best.
    #[test]
    fn a_nan_score_is_never_the_best() {
        let mut metrics = Metrics {
            epochs: vec![
                epoch(1, 0.5, None),
                epoch(2, f64::NAN, Some(f64::NAN)),
                epoch(3, 0.4, None),
            ],
            ..Metrics::default()
        };
        metrics.update_best();
        assert_eq!(metrics.best_epoch, Some(1));
    }

    /// The best epoch is the first of the highest AP, the trained weights' or the average's;
    /// the trained weights win a tie.
    #[test]
    fn the_best_epoch_may_be_the_average_s() {
        let mut metrics = Metrics {
            epochs: vec![epoch(1, 0.5, Some(0.7)), epoch(2, 0.6, Some(0.6))],
            ..Metrics::default()
        };
        metrics.update_best();
        assert_eq!(metrics.best_epoch, Some(1));
        assert_eq!(metrics.best_weights, Some(Weights::Ema));
        metrics.epochs.push(epoch(3, 0.8, Some(0.8)));
        metrics.update_best();
        assert_eq!(metrics.best_epoch, Some(3));
        assert_eq!(metrics.best_weights, Some(Weights::Trained));
        let plain = epoch(1, 0.5, None);
        assert_eq!(plain.best(), Some((0.5, Weights::Trained)));
        let mut metrics = Metrics {
            epochs: vec![plain],
            ..Metrics::default()
        };
        metrics.update_best();
        assert_eq!(metrics.best_weights, None, "no average, nothing to say");
    }
}
