//! The best epoch: the highest validation FashionAI AP of the trained weights or, with
//! `--model-ema`, of their average, the first of equal ones. Found again from every epoch's
//! record each time, so that a resumed run chooses as an uninterrupted one (burn's own
//! strategies keep their best in memory); `Metrics::update_best` chooses the same way.

use burn::train::checkpoint::{CheckpointingAction, CheckpointingStrategy};
use burn::train::metric::store::{Aggregate, EventStoreClient, Split};

use super::metric_names::RunMetric;

/// The best epoch of the first `epochs`.
pub fn best_of(epochs: usize, store: &EventStoreClient) -> usize {
    let trained = RunMetric::BEST.display();
    let average = RunMetric::of_average(trained);
    let value = |name: &str, epoch: usize| {
        store
            .find_metric(name, epoch, Aggregate::Mean, &Split::Valid)
            .unwrap_or(f64::NEG_INFINITY)
    };
    let values = (1..=epochs).map(|epoch| value(trained, epoch).max(value(&average, epoch)));
    best_epoch(values)
}

/// The epoch (from 1) of the highest value, the first of equal ones.
pub fn best_epoch(values: impl IntoIterator<Item = f64>) -> usize {
    let mut best = (1, f64::NEG_INFINITY);
    for (epoch, value) in (1..).zip(values) {
        if value > best.1 {
            best = (epoch, value);
        }
    }
    best.0
}

/// Keeps the best epoch's checkpoint (burn's `MetricCheckpointingStrategy`, choosing by
/// [`best_of`]).
#[derive(Default)]
pub struct KeepBest {
    kept: Option<usize>,
}

impl CheckpointingStrategy for KeepBest {
    fn checkpointing(
        &mut self,
        epoch: usize,
        store: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        let best = best_of(epoch, store);
        let mut actions = Vec::new();
        if let Some(kept) = self.kept.filter(|&kept| kept != best) {
            actions.push(CheckpointingAction::Delete(kept));
        }
        if best == epoch {
            actions.push(CheckpointingAction::Save);
        }
        self.kept = Some(best);
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_the_highest_values_is_the_best() {
        assert_eq!(best_epoch([0.5, 0.7, 0.7, 0.6]), 2);
        assert_eq!(best_epoch([0.9]), 1);
        assert_eq!(best_epoch([f64::NEG_INFINITY, 0.1]), 2);
    }
}
