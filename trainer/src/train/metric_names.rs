//! The numbers a run records, one name each. burn-train reports a metric by its display name;
//! the metric files key it (`metrics.json`, the columns of `metrics.csv`), the summary line
//! and the progress bar abbreviate it, the curves label it, and the best epoch is chosen by
//! one of them: all from here, so renaming one is one edit.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMetric {
    Loss,
    Accuracy,
    LearningRate,
    /// The tutorial's "AP": mean over images of 1 / (1 + classes scored above the truth).
    MrrAp,
    /// The competition's metric.
    FashionAiAp,
    /// The competition's precision with every image kept.
    BasicPrecision,
}

impl RunMetric {
    const ALL: [RunMetric; 6] = [
        RunMetric::Loss,
        RunMetric::Accuracy,
        RunMetric::LearningRate,
        RunMetric::MrrAp,
        RunMetric::FashionAiAp,
        RunMetric::BasicPrecision,
    ];

    /// The validation metric that picks the best epoch.
    pub const BEST: RunMetric = RunMetric::FashionAiAp;

    /// As the metric names itself to burn-train (burn's own metrics, and ours).
    pub fn display(self) -> &'static str {
        match self {
            RunMetric::Loss => "Loss",
            RunMetric::Accuracy => "Accuracy",
            RunMetric::LearningRate => "Learning Rate",
            RunMetric::MrrAp => "MRR-AP",
            RunMetric::FashionAiAp => "FashionAI AP",
            RunMetric::BasicPrecision => "Basic Precision",
        }
    }

    /// Its key in `metrics.json` (and column in `metrics.csv`, after `train_` or `val_`).
    pub fn key(self) -> &'static str {
        match self {
            RunMetric::Loss => "loss",
            RunMetric::Accuracy => "accuracy",
            RunMetric::LearningRate => "learning_rate",
            RunMetric::MrrAp => "mrr_ap",
            RunMetric::FashionAiAp => "fashionai_ap",
            RunMetric::BasicPrecision => "basic_precision",
        }
    }

    /// In the per-epoch summary line and beside the progress bar.
    pub fn short(self) -> &'static str {
        match self {
            RunMetric::Loss => "loss",
            RunMetric::Accuracy => "acc",
            RunMetric::LearningRate => "lr",
            RunMetric::MrrAp => "MRR-AP",
            RunMetric::FashionAiAp => "FashionAI-AP",
            RunMetric::BasicPrecision => "basic-P",
        }
    }

    /// The metric burn-train reports as `display`.
    pub fn from_display(display: &str) -> Option<RunMetric> {
        Self::ALL.into_iter().find(|name| name.display() == display)
    }
}

#[cfg(test)]
mod tests {
    use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric, Metric};

    use super::RunMetric;
    use crate::train::metrics::{Ranking, RankingMetric};

    /// Every metric the Learner reports is known by the name it reports (a metric renamed in
    /// burn, or here, would otherwise vanish from the files and the best-epoch choice).
    #[test]
    fn every_reported_metric_is_known_by_its_name() {
        let reported = [
            (LossMetric::new().name(), RunMetric::Loss),
            (AccuracyMetric::new().name(), RunMetric::Accuracy),
            (LearningRateMetric::new().name(), RunMetric::LearningRate),
            (RankingMetric::new(Ranking::MrrAp).name(), RunMetric::MrrAp),
            (
                RankingMetric::new(Ranking::FashionAiAp).name(),
                RunMetric::FashionAiAp,
            ),
            (
                RankingMetric::new(Ranking::BasicPrecision).name(),
                RunMetric::BasicPrecision,
            ),
        ];
        for (name, metric) in reported {
            assert_eq!(RunMetric::from_display(&name), Some(metric), "{name}");
        }
        let keys: std::collections::BTreeSet<_> = RunMetric::ALL.map(RunMetric::key).into();
        assert_eq!(keys.len(), RunMetric::ALL.len());
    }
}
