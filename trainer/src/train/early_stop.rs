//! `--early-stop-patience N`: training ends when the validation FashionAI AP has not improved
//! for N epochs. The best epoch is found again from every epoch's record, so a resumed run
//! stops where an uninterrupted one would (burn's own strategy keeps its best in memory).

use burn::train::EarlyStoppingStrategy;
use burn::train::metric::store::{Aggregate, EventStoreClient, Split};

/// Stops after `patience` epochs without a better value of the metric `name`.
#[derive(Clone)]
pub struct NoImprovement {
    pub name: String,
    pub patience: usize,
}

impl EarlyStoppingStrategy for NoImprovement {
    fn should_stop(&mut self, epoch: usize, store: &EventStoreClient) -> bool {
        let values = (1..=epoch).map(|epoch| {
            store
                .find_metric(&self.name, epoch, Aggregate::Mean, &Split::Valid)
                .unwrap_or(f64::NEG_INFINITY)
        });
        let best = best_epoch(values);
        epoch - best >= self.patience
    }
}

/// The epoch (from 1) of the highest value, the first of equal ones, as the run's best
/// checkpoint is chosen.
pub fn best_epoch(values: impl IntoIterator<Item = f64>) -> usize {
    let mut best = (1, f64::NEG_INFINITY);
    for (epoch, value) in (1..).zip(values) {
        if value > best.1 {
            best = (epoch, value);
        }
    }
    best.0
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
