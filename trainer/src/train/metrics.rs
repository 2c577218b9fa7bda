//! The tutorial's and the competition's ranking metrics, which burn does not have, as
//! epoch-level burn-train metrics.

use std::sync::{Arc, OnceLock};

use burn::prelude::*;
use burn::tensor::TensorReadError;
use burn::train::metric::{
    Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes, NumericEntry,
    SerializedEntry,
};
use shared::heads::Heads;
use shared::ranking::argmax;

use super::metric_names::RunMetric;
use shared::tasks::{Label, Mark};

/// Mean over images of 1 / (1 + the number of classes scored above the true class): what the
/// tutorial prints as "AP" (a mean reciprocal rank).
pub fn mean_reciprocal_rank(probabilities: &[Vec<f32>], marks: &[Vec<Mark>]) -> f64 {
    let ranks = probabilities
        .iter()
        .zip(marks)
        .filter_map(|(probs, marks)| {
            let truth = marks.iter().position(|m| *m == Mark::Yes)?;
            let above = probs.iter().filter(|p| **p > probs[truth]).count();
            Some(1.0 / (1.0 + above as f64))
        });
    mean(ranks)
}

/// The official FashionAI metric for one task: `(AP, BasicPrecision)`.
///
/// Each image predicts its most probable class, with that probability as confidence. A
/// prediction on a `y` counts as correct, on an `n` as wrong, on an `m` not at all. For each
/// cut-off in the descending order of confidence (keeping the 1, 2, ..., N most confident
/// images) precision = correct / counted; AP is the mean of those precisions and
/// BasicPrecision the precision with every image kept. Images of equal confidence cannot be
/// separated by a threshold, so a cut-off inside a tie takes the precision at the tie's end;
/// cut-offs that keep only `m` predictions have no precision and are left out.
pub fn fashionai_ap(probabilities: &[Vec<f32>], marks: &[Vec<Mark>]) -> (f64, f64) {
    let mut predictions: Vec<(f32, Mark)> = probabilities
        .iter()
        .zip(marks)
        .map(|(probs, marks)| {
            let class = argmax(probs);
            (probs[class], marks[class])
        })
        .collect();
    predictions.sort_by(|a, b| b.0.total_cmp(&a.0));

    // Running counts at each position, then read at the end of each tie group.
    let mut counts = Vec::with_capacity(predictions.len());
    let (mut correct, mut counted) = (0usize, 0usize);
    for (_, mark) in &predictions {
        match mark {
            Mark::Yes => (correct, counted) = (correct + 1, counted + 1),
            Mark::No => counted += 1,
            Mark::Maybe => {}
        }
        counts.push((correct, counted));
    }
    let mut group_end = predictions.len();
    let mut precisions = vec![None; predictions.len()];
    for i in (0..predictions.len()).rev() {
        if i + 1 < predictions.len() && predictions[i].0 != predictions[i + 1].0 {
            group_end = i + 1;
        }
        let (correct, counted) = counts[group_end - 1];
        precisions[i] = (counted > 0).then(|| correct as f64 / counted as f64);
    }
    let basic = precisions.last().copied().flatten().unwrap_or(0.0);
    (mean(precisions.into_iter().flatten()), basic)
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// What the validation metrics read from a batch.
pub struct RankingInput {
    /// Each image's probabilities over its task head and the garment head, zero elsewhere
    /// (`loss::Scored::probabilities`).
    pub probabilities: Tensor<2>,
    pub marks: Arc<Vec<Vec<Mark>>>,
    /// Each image's task.
    pub tasks: Arc<Vec<usize>>,
    /// `probabilities`, read from the device by the first metric that needs them, for all.
    pub read: Arc<OnceLock<Vec<f32>>>,
}

impl RankingInput {
    fn probabilities(&self) -> Result<&[f32], TensorReadError> {
        if let Some(read) = self.read.get() {
            return Ok(read);
        }
        let read = self
            .probabilities
            .clone()
            .try_into_data()?
            .convert::<f32>()
            .try_into_vec::<f32>()?;
        Ok(self.read.get_or_init(|| read))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ranking {
    /// Share of images whose most probable class is the true one.
    Accuracy,
    /// The tutorial's "AP": mean reciprocal rank of the true class.
    MrrAp,
    /// The official FashionAI AP.
    FashionAiAp,
    /// The official BasicPrecision (precision with every image kept).
    BasicPrecision,
    /// Share of images whose most probable garment (the garment head's answer) is their task.
    Garment,
}

impl Ranking {
    pub fn name(self) -> RunMetric {
        match self {
            Ranking::Accuracy => RunMetric::Accuracy,
            Ranking::MrrAp => RunMetric::MrrAp,
            Ranking::FashionAiAp => RunMetric::FashionAiAp,
            Ranking::BasicPrecision => RunMetric::BasicPrecision,
            Ranking::Garment => RunMetric::GarmentAccuracy,
        }
    }

    /// Accuracies are reported in percent, as burn's own accuracy (which shares the name of
    /// ours, and so its attributes in the metric log).
    fn percent(self) -> bool {
        matches!(self, Ranking::Accuracy | Ranking::Garment)
    }

    /// The metric over images of one task.
    fn of(self, probabilities: &[Vec<f32>], marks: &[Vec<Mark>]) -> f64 {
        match self {
            Ranking::Accuracy | Ranking::Garment => accuracy(probabilities, marks),
            Ranking::MrrAp => mean_reciprocal_rank(probabilities, marks),
            Ranking::FashionAiAp => fashionai_ap(probabilities, marks).0,
            Ranking::BasicPrecision => fashionai_ap(probabilities, marks).1,
        }
    }
}

/// Share of images whose most probable class is marked `y`.
pub fn accuracy(probabilities: &[Vec<f32>], marks: &[Vec<Mark>]) -> f64 {
    let hits = probabilities
        .iter()
        .zip(marks)
        .map(|(probs, marks)| f64::from(u8::from(marks[argmax(probs)] == Mark::Yes)));
    mean(hits)
}

/// A task's images seen in an epoch: their probabilities and their marks.
type Seen = (Vec<Vec<f32>>, Vec<Vec<Mark>>);

/// Collects the epoch's softmax probabilities over each image's task head (the garment head's
/// for [`Ranking::Garment`]), and the label marks (a `y` on the task); the value exists once
/// the epoch is complete. It is one task's, or over several tasks the mean of the tasks'
/// values.
#[derive(Clone)]
pub struct RankingMetric {
    kind: Ranking,
    name: MetricName,
    heads: Heads,
    /// The task it measures; `None` for the mean over every task.
    task: Option<usize>,
    /// Per task: each image's probabilities over the task's classes, and its marks.
    seen: Vec<Seen>,
    value: Option<f64>,
}

impl RankingMetric {
    /// The metric over all of `heads`' tasks (their mean where there are several).
    pub fn new(kind: Ranking, heads: &Heads) -> Self {
        Self::with_scope(kind, heads, None)
    }

    /// The metric of one of several tasks, named `<metric> [<task>]`.
    pub fn of_task(kind: Ranking, heads: &Heads, task: usize) -> Self {
        Self::with_scope(kind, heads, Some(task))
    }

    fn with_scope(kind: Ranking, heads: &Heads, task: Option<usize>) -> Self {
        let name = match task {
            Some(task) => kind.name().of_task(&heads.tasks()[task].name),
            None => kind.name().display().to_string(),
        };
        RankingMetric {
            kind,
            name: Arc::new(name),
            heads: heads.clone(),
            task,
            seen: vec![Default::default(); heads.tasks().len()],
            value: None,
        }
    }
}

impl Metric for RankingMetric {
    type Input = RankingInput;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: self.kind.percent().then(|| "%".to_string()),
            higher_is_better: true,
        }
        .into()
    }

    fn update(
        &mut self,
        input: &RankingInput,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let width = self.heads.width();
        let probabilities = input.probabilities()?;
        let images = probabilities.chunks(width).zip(input.marks.iter());
        let tasks = self.heads.tasks().len();
        for ((row, marks), &task) in images.zip(input.tasks.iter()) {
            if self.task.is_some_and(|measured| measured != task) {
                continue;
            }
            let (columns, marks) = match (self.kind, self.heads.garment()) {
                (Ranking::Garment, Some(garment)) => (garment, Label::one_hot(task, tasks).marks),
                _ => (self.heads.columns(task), marks.clone()),
            };
            let (probabilities, all_marks) = &mut self.seen[task];
            probabilities.push(row[columns].to_vec());
            all_marks.push(marks);
        }
        Ok(SerializedEntry::not_available(None))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        let values = self
            .seen
            .iter()
            .filter(|(probabilities, _)| !probabilities.is_empty())
            .map(|(probabilities, marks)| self.kind.of(probabilities, marks));
        let value = mean(values) * if self.kind.percent() { 100.0 } else { 1.0 };
        self.value = Some(value);
        Ok(SerializedEntry::new(
            format!("epoch {value:.4}"),
            NumericEntry::Final(value).serialize(),
        ))
    }

    fn clear(&mut self) {
        self.seen.iter_mut().for_each(|(probabilities, marks)| {
            probabilities.clear();
            marks.clear();
        });
        self.value = None;
    }
}

impl Numeric for RankingMetric {
    fn value(&self) -> Option<NumericEntry> {
        None // Only defined over a whole epoch.
    }

    fn running_value(&self) -> Option<NumericEntry> {
        None
    }

    fn final_value(&self) -> NumericEntry {
        NumericEntry::Final(self.value.unwrap_or(0.0))
    }
}

/// A metric's input from `--model-ema`'s average, where the model has one.
pub struct OfAverage<T>(pub Option<T>);

/// A metric of `--model-ema`'s average, named `EMA <metric>`.
#[derive(Clone)]
pub struct OfEma<M> {
    metric: M,
    name: MetricName,
}

impl<M: Metric> OfEma<M> {
    pub fn new(metric: M) -> Self {
        let name = Arc::new(RunMetric::of_average(&metric.name()));
        OfEma { metric, name }
    }
}

impl<M: Metric> Metric for OfEma<M> {
    type Input = OfAverage<M::Input>;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn attributes(&self) -> MetricAttributes {
        self.metric.attributes()
    }

    fn update(
        &mut self,
        input: &OfAverage<M::Input>,
        metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        match &input.0 {
            Some(input) => self.metric.update(input, metadata),
            None => Ok(SerializedEntry::not_available(None)),
        }
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        self.metric.compute()
    }

    fn clear(&mut self) {
        self.metric.clear()
    }
}

impl<M: Numeric> Numeric for OfEma<M> {
    fn value(&self) -> Option<NumericEntry> {
        self.metric.value()
    }

    fn running_value(&self) -> Option<NumericEntry> {
        self.metric.running_value()
    }

    fn final_value(&self) -> NumericEntry {
        self.metric.final_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Mark::{Maybe as M, No as N, Yes as Y};

    #[test]
    fn accuracy_counts_the_most_probable_class_on_a_yes() {
        let probs = vec![vec![0.1, 0.9], vec![0.6, 0.4], vec![0.3, 0.7]];
        let marks = vec![vec![N, Y], vec![N, Y], vec![M, Y]];
        assert!((accuracy(&probs, &marks) - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn reciprocal_rank_counts_classes_above_the_truth() {
        let probs = vec![
            vec![0.1, 0.7, 0.2],
            vec![0.5, 0.2, 0.3],
            vec![0.2, 0.3, 0.5],
        ];
        let marks = vec![vec![N, Y, N], vec![N, N, Y], vec![Y, N, N]];
        // Ranks 0, 1, 2 -> 1, 1/2, 1/3.
        let expected = (1.0 + 0.5 + 1.0 / 3.0) / 3.0;
        assert!((mean_reciprocal_rank(&probs, &marks) - expected).abs() < 1e-12);
    }

    #[test]
    fn fashionai_ap_follows_the_official_definition() {
        // Confidences 0.9 (correct), 0.8 (wrong), 0.7 (on an `m`: not counted), 0.6 (correct).
        let probs = vec![
            vec![0.9, 0.1],
            vec![0.2, 0.8],
            vec![0.7, 0.3],
            vec![0.4, 0.6],
        ];
        let marks = vec![vec![Y, N], vec![Y, N], vec![M, N], vec![N, Y]];
        let (ap, basic) = fashionai_ap(&probs, &marks);
        // Cut-offs: 1/1, 1/2, 1/2 (the `m` adds nothing), 2/3.
        let expected = (1.0 + 0.5 + 0.5 + 2.0 / 3.0) / 4.0;
        assert!((ap - expected).abs() < 1e-12, "{ap} vs {expected}");
        assert!((basic - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn fashionai_ap_treats_ties_as_one_threshold() {
        let probs = vec![vec![0.8, 0.2], vec![0.8, 0.2]];
        let marks = vec![vec![N, Y], vec![Y, N]];
        // Both kept or neither: precision 1/2 at both cut-offs, whatever the order.
        assert_eq!(fashionai_ap(&probs, &marks), (0.5, 0.5));
        let swapped = [marks[1].clone(), marks[0].clone()];
        assert_eq!(fashionai_ap(&probs, &swapped), (0.5, 0.5));
    }
}
