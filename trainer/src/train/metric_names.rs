//! The numbers a run records, one name each. burn-train reports a metric by its display name;
//! the metric files key it (`metrics.json`, the columns of `metrics.csv`), the summary line
//! and the progress bar abbreviate it, the curves label it, and the best epoch is chosen by
//! one of them: all from here, so renaming one is one edit. A run over several tasks also
//! records each task's validation metrics, as `<name> [<task>]` and `<task>.<key>`; the plain
//! names are then the mean over the tasks. With `--model-ema` the average's validation
//! metrics are recorded too, as `EMA <name>` and `ema_<key>`.

/// What the names of `--model-ema`'s average's metrics start with.
const AVERAGE: &str = "EMA ";

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
    /// Over several tasks: how often the garment head names a photo's task.
    GarmentAccuracy,
}

impl RunMetric {
    const ALL: [RunMetric; 7] = [
        RunMetric::Loss,
        RunMetric::Accuracy,
        RunMetric::LearningRate,
        RunMetric::MrrAp,
        RunMetric::FashionAiAp,
        RunMetric::BasicPrecision,
        RunMetric::GarmentAccuracy,
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
            RunMetric::GarmentAccuracy => "Garment Accuracy",
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
            RunMetric::GarmentAccuracy => "garment_accuracy",
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
            RunMetric::GarmentAccuracy => "garment",
        }
    }

    /// The display name of the metric of `--model-ema`'s average, whose is `display`.
    pub fn of_average(display: &str) -> String {
        format!("{AVERAGE}{display}")
    }

    /// Its key in `metrics.json` for `--model-ema`'s average.
    pub fn average_key(self) -> String {
        format!("ema_{}", self.key())
    }

    /// The `metrics.json` key of what burn-train reports as `display`: a metric's, one task's
    /// or the average's.
    pub fn key_of(display: &str) -> Option<String> {
        let (average, display) = match display.strip_prefix(AVERAGE) {
            Some(display) => (true, display),
            None => (false, display),
        };
        let (name, task) = Self::parse(display)?;
        let key = match average {
            true => name.average_key(),
            false => name.key().to_string(),
        };
        Some(match task {
            Some(task) => format!("{task}.{key}"),
            None => key,
        })
    }

    /// The metric burn-train reports as `display`.
    pub fn from_display(display: &str) -> Option<RunMetric> {
        Self::ALL.into_iter().find(|name| name.display() == display)
    }

    /// Its display name for one task of several.
    pub fn of_task(self, task: &str) -> String {
        format!("{} [{task}]", self.display())
    }

    /// The metric and, for one task's, the task, that burn-train reports as `display`.
    pub fn parse(display: &str) -> Option<(RunMetric, Option<&str>)> {
        match display.strip_suffix(']').and_then(|d| d.split_once(" [")) {
            Some((name, task)) => Some((Self::from_display(name)?, Some(task))),
            None => Some((Self::from_display(display)?, None)),
        }
    }

    /// Its key in `metrics.json`: `key()`, or `<task>.<key>` for one task's.
    pub fn record_key(self, task: Option<&str>) -> String {
        match task {
            Some(task) => format!("{task}.{}", self.key()),
            None => self.key().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric, Metric};
    use shared::heads::{Heads, TaskClasses};

    use super::RunMetric;
    use crate::train::metrics::{OfEma, Ranking, RankingMetric};

    /// Every metric the Learner reports is known by the name it reports (a metric renamed in
    /// burn, or here, would otherwise vanish from the files and the best-epoch choice).
    #[test]
    fn every_reported_metric_is_known_by_its_name() {
        let task = |name: &str| TaskClasses {
            name: name.into(),
            classes: vec!["x".into(), "y".into()],
        };
        let heads = Heads::new(vec![task("a"), task("b")]).unwrap();
        let reported = [
            (LossMetric::new().name(), RunMetric::Loss),
            (AccuracyMetric::new().name(), RunMetric::Accuracy),
            (LearningRateMetric::new().name(), RunMetric::LearningRate),
            (
                RankingMetric::new(Ranking::Accuracy, &heads).name(),
                RunMetric::Accuracy,
            ),
            (
                RankingMetric::new(Ranking::MrrAp, &heads).name(),
                RunMetric::MrrAp,
            ),
            (
                RankingMetric::new(Ranking::FashionAiAp, &heads).name(),
                RunMetric::FashionAiAp,
            ),
            (
                RankingMetric::new(Ranking::BasicPrecision, &heads).name(),
                RunMetric::BasicPrecision,
            ),
            (
                RankingMetric::new(Ranking::Garment, &heads).name(),
                RunMetric::GarmentAccuracy,
            ),
        ];
        for (name, metric) in reported {
            assert_eq!(RunMetric::parse(&name), Some((metric, None)), "{name}");
        }
        let of_task = RankingMetric::of_task(Ranking::FashionAiAp, &heads, 1).name();
        assert_eq!(
            RunMetric::parse(&of_task),
            Some((RunMetric::FashionAiAp, Some("b")))
        );
        assert_eq!(
            RunMetric::FashionAiAp.record_key(Some("b")),
            "b.fashionai_ap"
        );
        assert_eq!(RunMetric::key_of(&of_task).unwrap(), "b.fashionai_ap");
        let average = OfEma::new(RankingMetric::new(Ranking::FashionAiAp, &heads)).name();
        assert_eq!(RunMetric::key_of(&average).unwrap(), "ema_fashionai_ap");
        let loss = OfEma::new(LossMetric::new()).name();
        assert_eq!(RunMetric::key_of(&loss).unwrap(), "ema_loss");
        let keys: std::collections::BTreeSet<_> = RunMetric::ALL.map(RunMetric::key).into();
        assert_eq!(keys.len(), RunMetric::ALL.len());
    }
}
