//! The tutorial's and the competition's ranking metrics, which burn does not have, as
//! epoch-level burn-train metrics.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorReadError;
use burn::tensor::activation::softmax;
use burn::train::metric::{
    Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes, NumericEntry,
    SerializedEntry,
};
use shared::ranking::argmax;

use super::metric_names::RunMetric;
use shared::tasks::Mark;

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

/// What the ranking metrics read from a validation batch.
pub struct RankingInput {
    pub logits: Tensor<2>,
    pub marks: Arc<Vec<Vec<Mark>>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ranking {
    /// The tutorial's "AP": mean reciprocal rank of the true class.
    MrrAp,
    /// The official FashionAI AP.
    FashionAiAp,
    /// The official BasicPrecision (precision with every image kept).
    BasicPrecision,
}

impl Ranking {
    pub fn name(self) -> RunMetric {
        match self {
            Ranking::MrrAp => RunMetric::MrrAp,
            Ranking::FashionAiAp => RunMetric::FashionAiAp,
            Ranking::BasicPrecision => RunMetric::BasicPrecision,
        }
    }
}

/// Collects the epoch's softmax probabilities and label marks; the value exists once the
/// epoch is complete.
#[derive(Clone)]
pub struct RankingMetric {
    kind: Ranking,
    name: MetricName,
    probabilities: Vec<Vec<f32>>,
    marks: Vec<Vec<Mark>>,
    value: Option<f64>,
}

impl RankingMetric {
    pub fn new(kind: Ranking) -> Self {
        RankingMetric {
            kind,
            name: Arc::new(kind.name().display().to_string()),
            probabilities: Vec::new(),
            marks: Vec::new(),
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
            unit: None,
            higher_is_better: true,
        }
        .into()
    }

    fn update(
        &mut self,
        input: &RankingInput,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let [_, classes] = input.logits.dims();
        let probabilities = softmax(input.logits.clone(), 1)
            .try_into_data()?
            .convert::<f32>()
            .try_into_vec::<f32>()?;
        self.probabilities
            .extend(probabilities.chunks(classes).map(<[f32]>::to_vec));
        self.marks.extend(input.marks.iter().cloned());
        Ok(SerializedEntry::not_available(None))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        let value = match self.kind {
            Ranking::MrrAp => mean_reciprocal_rank(&self.probabilities, &self.marks),
            Ranking::FashionAiAp => fashionai_ap(&self.probabilities, &self.marks).0,
            Ranking::BasicPrecision => fashionai_ap(&self.probabilities, &self.marks).1,
        };
        self.value = Some(value);
        Ok(SerializedEntry::new(
            format!("epoch {value:.4}"),
            NumericEntry::Final(value).serialize(),
        ))
    }

    fn clear(&mut self) {
        self.probabilities.clear();
        self.marks.clear();
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

#[cfg(test)]
mod tests {
    use super::*;
    use Mark::{Maybe as M, No as N, Yes as Y};

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
