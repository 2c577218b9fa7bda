//! Honest answers: how sure a model may say it is, and when a photo looks unlike the ones it
//! learned from. `trainer export` fits this on the run's validation split and writes it into
//! the bundle's manifest; `trainer classify` and the page apply it with [`answer`].
//!
//! - Temperature scaling (Guo et al., 2017): the logits are divided by a temperature `T`
//!   before the softmax, `T` minimising the validation negative log-likelihood. It changes
//!   how confident the probabilities are, never which class comes first.
//! - "Not sure": a calibrated top probability below `unsure_below`, the lowest threshold at
//!   which the validation answers at or above it are right at least [`TARGET_ACCURACY`] of
//!   the time ([`NEVER_SURE`] when no threshold gets there: every answer is unsure).
//! - "Unlike the training photos": the energy score `-logsumexp(logits)` (Liu et al., 2020)
//!   above `energy_above`, the [`IN_DISTRIBUTION_KEPT`] quantile of the validation photos'
//!   energies: about 5% of photos like the training ones are flagged, by construction (none
//!   with fewer than 20 validation photos, where the quantile is their largest energy).

use serde::{Deserialize, Serialize};

use crate::ranking::{argmax, softmax};

/// How often the answers not flagged as unsure should be right on the validation split.
pub const TARGET_ACCURACY: f64 = 0.9;
/// The share of validation photos whose energy passes as in-distribution.
pub const IN_DISTRIBUTION_KEPT: f64 = 0.95;
/// The temperatures the fit may choose from.
pub const TEMPERATURES: (f32, f32) = (0.05, 20.0);
/// The "not sure" threshold of a model whose validation answers never reach the target: above
/// any probability (an f32 softmax can round to exactly 1).
pub const NEVER_SURE: f32 = 2.0;
/// Bins of the expected calibration error.
const ECE_BINS: usize = 15;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Logits are divided by this before the softmax.
    pub temperature: f32,
    /// A calibrated top probability below this is "not sure".
    pub unsure_below: f32,
    /// An energy score above this: the photo looks unlike the training photos.
    pub energy_above: f32,
    /// What the fit found on the validation split, for people.
    pub validation: Figures,
}

/// The validation split's numbers before and after calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub images: usize,
    pub accuracy: f64,
    /// Mean negative log-likelihood at temperature 1, then at the fitted temperature.
    pub nll_before: f64,
    pub nll_after: f64,
    /// Expected calibration error (15 equal-width confidence bins), before and after.
    pub ece_before: f64,
    pub ece_after: f64,
    /// The share of validation photos flagged "not sure", and the accuracy on the others.
    pub unsure: f64,
    pub accuracy_when_sure: Option<f64>,
    /// The share flagged as unlike the training photos.
    pub out_of_distribution: f64,
}

/// One photo's answer under a calibration.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Softmax of the logits at the calibration's temperature.
    pub probabilities: Vec<f32>,
    pub unsure: bool,
    pub out_of_distribution: bool,
}

/// What a bundle tells people about one photo: the flags are `None` for a bundle without
/// calibration.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub probabilities: Vec<f32>,
    pub unsure: Option<bool>,
    pub out_of_distribution: Option<bool>,
}

/// One photo's answer, the same for `trainer classify` and the page: `calibration`'s verdict on
/// its `logits`, or without a calibration the `uncalibrated` probabilities and no flags.
pub fn answer(
    calibration: Option<&Calibration>,
    logits: &[f32],
    uncalibrated: impl FnOnce() -> Vec<f32>,
) -> Answer {
    match calibration.map(|c| c.judge(logits)) {
        Some(Verdict {
            probabilities,
            unsure,
            out_of_distribution,
        }) => Answer {
            probabilities,
            unsure: Some(unsure),
            out_of_distribution: Some(out_of_distribution),
        },
        None => Answer {
            probabilities: uncalibrated(),
            unsure: None,
            out_of_distribution: None,
        },
    }
}

impl Calibration {
    /// Fits a calibration to validation logits and their true classes; `None` without any.
    pub fn fit(logits: &[Vec<f32>], truth: &[usize]) -> Option<Calibration> {
        if logits.is_empty() || logits.len() != truth.len() {
            return None;
        }
        let temperature = fit_temperature(logits, truth) as f32;
        let calibrated: Vec<Vec<f32>> = logits.iter().map(|l| softmax_at(l, temperature)).collect();
        let confident: Vec<(f32, bool)> = calibrated
            .iter()
            .zip(truth)
            .map(|(p, &t)| (p[argmax(p)], argmax(p) == t))
            .collect();
        let unsure_below = unsure_threshold(&confident);
        let mut energies: Vec<f32> = logits.iter().map(|l| energy(l)).collect();
        energies.sort_by(f32::total_cmp);
        let kept = (IN_DISTRIBUTION_KEPT * energies.len() as f64).ceil() as usize;
        let energy_above = energies[kept.clamp(1, energies.len()) - 1];

        let n = logits.len() as f64;
        let sure: Vec<bool> = confident
            .iter()
            .filter(|(p, _)| *p >= unsure_below)
            .map(|&(_, right)| right)
            .collect();
        let raw: Vec<Vec<f32>> = logits.iter().map(|l| softmax(l)).collect();
        let validation = Figures {
            images: logits.len(),
            accuracy: confident.iter().filter(|(_, right)| *right).count() as f64 / n,
            nll_before: nll(logits, truth, 1.0),
            nll_after: nll(logits, truth, f64::from(temperature)),
            ece_before: expected_calibration_error(&raw, truth),
            ece_after: expected_calibration_error(&calibrated, truth),
            unsure: 1.0 - sure.len() as f64 / n,
            accuracy_when_sure: (!sure.is_empty())
                .then(|| sure.iter().filter(|&&r| r).count() as f64 / sure.len() as f64),
            out_of_distribution: energies.iter().filter(|&&e| e > energy_above).count() as f64 / n,
        };
        Some(Calibration {
            temperature,
            unsure_below,
            energy_above,
            validation,
        })
    }

    /// The calibrated probabilities and flags for one photo's logits.
    pub fn judge(&self, logits: &[f32]) -> Verdict {
        let probabilities = softmax_at(logits, self.temperature);
        Verdict {
            unsure: probabilities[argmax(&probabilities)] < self.unsure_below,
            out_of_distribution: energy(logits) > self.energy_above,
            probabilities,
        }
    }

    /// Why a manifest's calibration cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Some(format!(
                "calibration temperature {} is not a positive number",
                self.temperature
            ));
        }
        if !(self.unsure_below.is_finite() && self.energy_above.is_finite()) {
            return Some("calibration thresholds must be finite numbers".to_string());
        }
        None
    }
}

/// The energy score: low for photos like the training ones, high for others.
pub fn energy(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    -(max + logits.iter().map(|&l| (l - max).exp()).sum::<f32>().ln())
}

fn softmax_at(logits: &[f32], temperature: f32) -> Vec<f32> {
    let scaled: Vec<f32> = logits.iter().map(|l| l / temperature).collect();
    softmax(&scaled)
}

/// Mean negative log-likelihood of the true classes at `temperature`, in f64.
fn nll(logits: &[Vec<f32>], truth: &[usize], temperature: f64) -> f64 {
    let total: f64 = logits
        .iter()
        .zip(truth)
        .map(|(l, &t)| {
            let z: Vec<f64> = l.iter().map(|&v| f64::from(v) / temperature).collect();
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            lse - z[t]
        })
        .sum();
    total / logits.len() as f64
}

/// The NLL is convex in 1/T, so a golden-section search over 1/T finds its minimum.
fn fit_temperature(logits: &[Vec<f32>], truth: &[usize]) -> f64 {
    let cost = |inverse: f64| nll(logits, truth, 1.0 / inverse);
    let (mut low, mut high) = (
        1.0 / f64::from(TEMPERATURES.1),
        1.0 / f64::from(TEMPERATURES.0),
    );
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..100 {
        let a = high - ratio * (high - low);
        let b = low + ratio * (high - low);
        if cost(a) <= cost(b) {
            high = b;
        } else {
            low = a;
        }
    }
    2.0 / (low + high)
}

/// The lowest top probability from which on the answers reach [`TARGET_ACCURACY`].
fn unsure_threshold(confident: &[(f32, bool)]) -> f32 {
    let mut sorted = confident.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut right = 0usize;
    let mut threshold = NEVER_SURE;
    for (k, &(p, correct)) in sorted.iter().enumerate() {
        right += usize::from(correct);
        // Only where the next answer is less sure: equal probabilities stand or fall together.
        let group_ends = sorted.get(k + 1).is_none_or(|next| next.0 < p);
        if group_ends && right as f64 >= TARGET_ACCURACY * (k + 1) as f64 {
            threshold = p;
        }
    }
    threshold
}

fn expected_calibration_error(probabilities: &[Vec<f32>], truth: &[usize]) -> f64 {
    let mut bins = [(0usize, 0f64, 0usize); ECE_BINS];
    for (p, &t) in probabilities.iter().zip(truth) {
        let top = argmax(p);
        let confidence = f64::from(p[top]);
        let bin = ((confidence * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        bins[bin].0 += 1;
        bins[bin].1 += confidence;
        bins[bin].2 += usize::from(top == t);
    }
    let n = probabilities.len() as f64;
    bins.iter()
        .filter(|(count, ..)| *count > 0)
        .map(|&(_, confidence, right)| (right as f64 - confidence).abs() / n)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits whose classes are drawn from softmax(logits / `temperature`): a model that is
    /// overconfident by exactly that temperature.
    fn overconfident(temperature: f32, n: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f32 / (1u64 << 53) as f32
        };
        (0..n)
            .map(|_| {
                let logits: Vec<f32> = (0..4).map(|_| 8.0 * uniform() - 4.0).collect();
                let p = softmax_at(&logits, temperature);
                let u = uniform();
                let mut acc = 0.0;
                let class = p.iter().position(|&q| {
                    acc += q;
                    u < acc
                });
                (logits, class.unwrap_or(3))
            })
            .unzip()
    }

    #[test]
    fn the_fitted_temperature_is_the_one_the_labels_were_drawn_at() {
        for temperature in [0.5f32, 1.0, 2.5] {
            let (logits, truth) = overconfident(temperature, 4000);
            let fit = Calibration::fit(&logits, &truth).unwrap();
            assert!(
                (fit.temperature / temperature - 1.0).abs() < 0.1,
                "{} fitted for {temperature}",
                fit.temperature
            );
            assert!(fit.validation.nll_after <= fit.validation.nll_before + 1e-9);
        }
        let (logits, truth) = overconfident(2.5, 4000);
        let fit = Calibration::fit(&logits, &truth).unwrap();
        assert!(fit.validation.ece_after < fit.validation.ece_before / 2.0);
    }

    #[test]
    fn sure_answers_reach_the_target_accuracy() {
        let (logits, truth) = overconfident(2.0, 2000);
        let fit = Calibration::fit(&logits, &truth).unwrap();
        let sure: Vec<bool> = logits
            .iter()
            .zip(&truth)
            .filter(|(l, _)| !fit.judge(l).unsure)
            .map(|(l, &t)| argmax(l) == t)
            .collect();
        let accuracy = sure.iter().filter(|&&r| r).count() as f64 / sure.len() as f64;
        assert!(accuracy >= TARGET_ACCURACY, "{accuracy}");
        assert_eq!(Some(accuracy), fit.validation.accuracy_when_sure);
        assert!(fit.validation.unsure > 0.0 && fit.validation.unsure < 1.0);
        // A threshold a little lower would let in answers that miss the target.
        let lower: Vec<bool> = logits
            .iter()
            .zip(&truth)
            .filter(|(l, _)| softmax_at(l, fit.temperature)[argmax(l)] >= fit.unsure_below - 0.05)
            .map(|(l, &t)| argmax(l) == t)
            .collect();
        assert!(
            (lower.iter().filter(|&&r| r).count() as f64) < TARGET_ACCURACY * lower.len() as f64
        );
    }

    #[test]
    fn a_model_that_is_always_wrong_is_never_sure_and_one_always_right_always_is() {
        let logits = vec![vec![3.0, 0.0], vec![0.0, 2.0], vec![1.0, 0.5]];
        let wrong = Calibration::fit(&logits, &[1, 0, 1]).unwrap();
        assert_eq!(wrong.unsure_below, NEVER_SURE);
        assert!(logits.iter().all(|l| wrong.judge(l).unsure));
        let right = Calibration::fit(&logits, &[0, 1, 0]).unwrap();
        assert!(logits.iter().all(|l| !right.judge(l).unsure));
        assert_eq!(right.validation.unsure, 0.0);
    }

    #[test]
    fn five_in_a_hundred_validation_photos_look_unusual() {
        let (logits, truth) = overconfident(1.0, 100);
        let fit = Calibration::fit(&logits, &truth).unwrap();
        let flagged = logits
            .iter()
            .filter(|l| fit.judge(l).out_of_distribution)
            .count();
        assert_eq!(flagged, 5);
        assert_eq!(fit.validation.out_of_distribution, 0.05);
        // Logits that are all low (no class fits) have a high energy.
        assert!(fit.judge(&[-6.0, -6.0, -6.0, -6.0]).out_of_distribution);
        assert!(!fit.judge(&[9.0, -6.0, -6.0, -6.0]).out_of_distribution);
    }

    #[test]
    fn the_temperature_changes_confidence_not_the_answer() {
        let fit = Calibration {
            temperature: 2.0,
            unsure_below: 0.5,
            energy_above: 0.0,
            validation: Calibration::fit(&[vec![1.0, 0.0]], &[0])
                .unwrap()
                .validation,
        };
        let verdict = fit.judge(&[2.0, 0.0, -1.0]);
        assert_eq!(verdict.probabilities, softmax(&[1.0, 0.0, -0.5]));
        assert_eq!(argmax(&verdict.probabilities), 0);
        assert!(!verdict.unsure);
        assert!(fit.judge(&[0.2, 0.0, 0.1]).unsure);
        assert!(Calibration::fit(&[], &[]).is_none());
        let broken = Calibration {
            temperature: 0.0,
            ..fit
        };
        assert!(broken.problem().unwrap().contains("not a positive number"));
    }
}
