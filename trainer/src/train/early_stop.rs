//! `--early-stop-patience N`: training ends when the best epoch (`best`: the validation
//! FashionAI AP, the trained weights' or their average's) is N epochs behind.

use burn::train::EarlyStoppingStrategy;
use burn::train::metric::store::EventStoreClient;

use super::best::best_of;

/// Stops after `patience` epochs without a better one.
#[derive(Clone)]
pub struct NoImprovement {
    pub patience: usize,
}

impl EarlyStoppingStrategy for NoImprovement {
    fn should_stop(&mut self, epoch: usize, store: &EventStoreClient) -> bool {
        epoch - best_of(epoch, store) >= self.patience
    }
}
