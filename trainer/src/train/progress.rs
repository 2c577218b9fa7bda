//! burn-train's progress display, drawn with indicatif: a bar per split with the running loss
//! and accuracy. The per-epoch summary line comes from the metric log (`history`), which
//! prints through the same bar so that the two never overwrite each other.

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use indicatif::{ProgressBar, ProgressStyle};

use super::metric_names::RunMetric;
use std::collections::{BTreeMap, HashMap};

pub struct Bars {
    bar: ProgressBar,
    epoch: usize,
    total_epochs: usize,
    names: HashMap<MetricId, String>,
    /// The split's running mean of each shown metric: the sum of its values and their count.
    running: BTreeMap<&'static str, (f64, f64)>,
}

/// The metrics worth a glance while an epoch runs.
const SHOWN: [RunMetric; 2] = [RunMetric::Loss, RunMetric::Accuracy];

impl Bars {
    /// Draws on `bar` (hidden when stderr is not a terminal).
    pub fn new(bar: ProgressBar) -> Self {
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} batches {per_sec} eta {eta}  {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Bars {
            bar,
            epoch: 0,
            total_epochs: 0,
            names: HashMap::new(),
            running: BTreeMap::new(),
        }
    }

    fn show(&mut self, state: MetricState) {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return;
        };
        let Some(name) = self
            .names
            .get(&entry.metric_id)
            .and_then(|name| RunMetric::from_display(name))
            .filter(|name| SHOWN.contains(name))
        else {
            return;
        };
        let (sum, count) = self.running.entry(name.short()).or_default();
        match value {
            NumericEntry::Value(value) => (*sum, *count) = (*sum + value, *count + 1.0),
            NumericEntry::Aggregated {
                aggregated_value,
                count: n,
            } => (*sum, *count) = (*sum + aggregated_value * n as f64, *count + n as f64),
            NumericEntry::Final(value) => (*sum, *count) = (value, 1.0),
        }
        let message: Vec<String> = self
            .running
            .iter()
            .map(|(name, (sum, count))| format!("{name} {:.3}", sum / count))
            .collect();
        self.bar.set_message(message.join("  "));
    }
}

impl MetricsRendererTraining for Bars {
    fn update_train(&mut self, state: MetricState) {
        self.show(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.show(state);
    }
}

impl MetricsRendererEvaluation for Bars {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
}

impl TrainingProgressLogger for Bars {
    fn start(
        &mut self,
        total_epochs: usize,
        start: usize,
        _items: Option<usize>,
        _label: Option<&str>,
    ) {
        (self.epoch, self.total_epochs) = (start, total_epochs);
    }

    /// Called when `epoch` (1-based) is over.
    fn update_epoch(&mut self, epoch: usize) {
        self.epoch = epoch + 1;
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.running.clear();
        self.bar.reset();
        self.bar.set_length(total_items as u64);
        self.bar.set_message("");
        self.bar.set_prefix(format!(
            "epoch {}/{} {split:5}",
            self.epoch.min(self.total_epochs),
            self.total_epochs
        ));
    }

    fn update_split(&mut self, items_processed: usize) {
        self.bar.set_position(items_processed as u64);
    }

    fn end_split(&mut self) {
        self.bar.set_length(0);
        self.bar.finish_and_clear();
    }

    fn end(&mut self) {}

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for Bars {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRenderer for Bars {
    fn manual_close(&mut self) {
        self.bar.finish_and_clear();
    }

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id, definition.name.to_string());
    }
}
