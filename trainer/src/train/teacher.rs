//! Knowledge distillation (`trainer distill`): a teacher (one trained model, or an ensemble
//! of several) scores each training batch as the student sees it, augmentation included, and
//! the student learns from the teacher's softened probabilities besides the labels, with
//! Hinton's loss: `alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy`,
//! where `_T` is a softmax at temperature `T`. The KL divergence is PyTorch's
//! `KLDivLoss(reduction="batchmean", log_target=True)` of the two log-softmaxes, taken over
//! each image's own task head and, for several tasks, the garment head (and a mixed image's
//! other heads), as the cross-entropy is.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, bail};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use clap::Args;
use serde::{Deserialize, Serialize};
use shared::heads::Heads;
use shared::model::Net;

use crate::ensemble::{Ensemble, places};

/// `trainer distill`'s teacher and loss, saved with the run's settings (so that `--resume`
/// finds the same teacher).
#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq)]
#[command(next_help_heading = "Distillation")]
pub struct Distillation {
    /// The teacher: a run folder (its best epoch), a checkpoint or a bundle; repeat for an
    /// ensemble. It must answer the student's tasks with the same classes.
    #[arg(
        long = "teacher",
        value_name = "MODEL",
        required_unless_present = "resume"
    )]
    pub teachers: Vec<PathBuf>,
    /// Each teacher's weight in the ensemble's mean, in their order (default: equal).
    #[arg(long, value_delimiter = ',', value_name = "W,W,...")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_weights: Option<Vec<f32>>,
    /// The softmax temperature T of both models' probabilities in the distillation term
    /// (which is multiplied by T^2, so its gradients keep their scale).
    #[arg(long, default_value_t = 4.0, value_name = "T")]
    pub kd_temperature: f64,
    /// The distillation term's weight; the cross-entropy with the labels gets 1 - alpha.
    #[arg(long, default_value_t = 0.9, value_name = "ALPHA")]
    pub kd_alpha: f64,
}

impl Distillation {
    /// Settings that cannot distil, refused before anything starts.
    pub fn validate(&self) -> Result<()> {
        if !(self.kd_temperature.is_finite() && self.kd_temperature > 0.0) {
            bail!("--kd-temperature must be a positive number");
        }
        if !(0.0..=1.0).contains(&self.kd_alpha) {
            bail!("--kd-alpha must be from 0 to 1");
        }
        Ok(())
    }
}

/// One network of the teacher.
#[derive(Debug)]
struct Member {
    net: Net,
    heads: Heads,
    /// Its input's side: the student's batch is resized to it where it differs.
    crop: usize,
    /// Each of its tasks' place among the student's.
    places: Vec<usize>,
    weight: f32,
}

/// The teacher as a training step uses it: inference-only networks on the training device.
#[derive(Clone, Debug)]
pub struct Teacher {
    members: Arc<Vec<Member>>,
    /// The student's heads, which the teacher's tasks equal.
    heads: Heads,
    temperature: f32,
    alpha: f32,
}

impl Teacher {
    /// Loads the teacher of `settings` on `device` (without autodiff), for a student of
    /// `heads`.
    pub fn load(settings: &Distillation, heads: &Heads, device: &Device) -> Result<Teacher> {
        let mut ensemble = Ensemble::load(
            &settings.teachers,
            settings.teacher_weights.as_deref(),
            None,
            None,
            device,
        )?;
        if !ensemble.order_as(heads) {
            let tasks = |heads: &Heads| {
                let names: Vec<String> = heads
                    .tasks()
                    .iter()
                    .map(|t| format!("{} ({})", t.name, t.classes.join(", ")))
                    .collect();
                names.join("; ")
            };
            bail!(
                "the teacher {} answers {}, but the student's data is {}: a teacher must be of \
                 the student's tasks and classes",
                ensemble.name(),
                tasks(&ensemble.heads),
                tasks(heads)
            );
        }
        let members = ensemble
            .members
            .into_iter()
            .zip(ensemble.weights)
            .map(|(member, weight)| Member {
                places: places(heads, &member.heads),
                net: member.net.folded(),
                heads: member.heads,
                crop: member.size.crop as usize,
                weight,
            })
            .collect();
        Ok(Teacher {
            members: Arc::new(members),
            heads: heads.clone(),
            temperature: settings.kd_temperature as f32,
            alpha: settings.kd_alpha as f32,
        })
    }

    /// The weight of the distillation term.
    pub fn alpha(&self) -> f32 {
        self.alpha
    }

    /// The teacher's probabilities at temperature T of `images` (a training pass's, on the
    /// autodiff device), in the student's layout: per head the weighted mean of the members
    /// that know the task, and `None` for the garment head where no member has one.
    fn targets(&self, images: Tensor<4>) -> (Tensor<2>, bool) {
        let images = images.without_autodiff().detach();
        let [count, _, side, _] = images.dims();
        let device = images.device();
        let heads = &self.heads;
        let tasks = heads.tasks().len();
        // Per ensemble head: the weighted sum of the members' probabilities, and the weights.
        let mut sums: Vec<Option<Tensor<2>>> = vec![None; tasks + 1];
        let mut weights = vec![0.0f32; tasks];
        for member in self.members.iter() {
            let input = match member.crop == side {
                true => images.clone(),
                false => interpolate(
                    images.clone(),
                    InterpolateOptions::new(InterpolateMode::Bilinear)
                        .with_output_size([member.crop, member.crop]),
                ),
            };
            let logits = member.net.forward(input).div_scalar(self.temperature);
            let mut add = |head: usize, probabilities: Tensor<2>| {
                let weighted = probabilities.mul_scalar(member.weight);
                sums[head] = Some(match sums[head].take() {
                    Some(sum) => sum + weighted,
                    None => weighted,
                });
                // The garment head is renormalised instead.
                if head < tasks {
                    weights[head] += member.weight;
                }
            };
            for (head, &task) in member.places.iter().enumerate() {
                let columns = member.heads.columns(head);
                add(task, softmax(logits.clone().slice([0..count, columns]), 1));
            }
            if let Some(columns) = member.heads.garment() {
                let garment = softmax(logits.slice([0..count, columns]), 1);
                // Its tasks' columns in the student's order; zeros for tasks it lacks.
                let ordered = (0..tasks)
                    .map(|task| match member.places.iter().position(|&p| p == task) {
                        Some(own) => garment.clone().slice([0..count, own..own + 1]),
                        None => Tensor::zeros([count, 1], &device),
                    })
                    .collect();
                add(tasks, Tensor::cat(ordered, 1));
            }
        }
        let garment_sum = sums[tasks].take();
        let garment_known = garment_sum.is_some();
        let mut columns: Vec<Tensor<2>> = sums
            .into_iter()
            .zip(&weights)
            .map(|(sum, &weight)| sum.expect("every task has a teacher").div_scalar(weight))
            .collect();
        if let Some(garment) = heads.garment() {
            columns.push(match garment_sum {
                // Renormalised: members of fewer tasks leave some of it out.
                Some(sum) => sum.clone() / sum.sum_dim(1),
                None => Tensor::zeros([count, garment.len()], &device),
            });
        }
        (Tensor::cat(columns, 1).autodiff(), garment_known)
    }

    /// The distillation term of a training pass: `T^2` times the mean over its images of the
    /// KL divergence from the teacher's probabilities to the student's (`logits`), over each
    /// image's own task head and, for several tasks, the garment head. A batch mixed by MixUp
    /// or CutMix (`mixed`: the other images' tasks and the share `lambda` of each image's own)
    /// takes the term over the other image's heads too, in the cross-entropy's shares.
    pub fn loss(
        &self,
        images: Tensor<4>,
        logits: Tensor<2>,
        tasks: &[usize],
        mixed: Option<(&[usize], f32)>,
    ) -> Tensor<1> {
        let (targets, garment_known) = self.targets(images);
        let term = |tasks: &[usize]| {
            kd_loss(
                &self.heads,
                logits.clone(),
                targets.clone(),
                tasks,
                garment_known,
                self.temperature,
            )
        };
        match mixed {
            // Both images of a mix are of one task where the model has one: the same term.
            Some((others, lambda)) if others != tasks => {
                term(tasks).mul_scalar(lambda) + term(others).mul_scalar(1.0 - lambda)
            }
            _ => term(tasks),
        }
    }
}

/// Hinton's distillation term for `logits` `[images, heads.width()]` against the teacher's
/// probabilities at temperature `temperature` (`targets`, same layout): `T^2` times the mean
/// over the images of the KL divergence over each image's task head and, where the teacher has
/// one (`garment`), the garment head.
pub fn kd_loss(
    heads: &Heads,
    logits: Tensor<2>,
    targets: Tensor<2>,
    tasks: &[usize],
    garment: bool,
    temperature: f32,
) -> Tensor<1> {
    let [count, width] = logits.dims();
    let device = logits.device();
    let scaled = logits.div_scalar(temperature);
    let log_student = Tensor::cat(
        heads
            .ranges()
            .map(|head| log_softmax(scaled.clone().slice([0..count, head]), 1))
            .collect(),
        1,
    );
    // Which outputs count for each image: its task's head, and the garment head.
    let mut mask = vec![0.0f32; count * width];
    for (image, &task) in tasks.iter().enumerate() {
        let garment = heads.garment().filter(|_| garment);
        for column in heads.columns(task).chain(garment.into_iter().flatten()) {
            mask[image * width + column] = 1.0;
        }
    }
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [count, width]), &device);
    // `KLDivLoss(log_target=True)`: exp(target) * (target - input), pointwise. A probability
    // of zero adds nothing (its log is clamped, its weight is zero).
    let log_targets = targets.clone().clamp_min(1e-30).log();
    let pointwise = targets * (log_targets - log_student) * mask;
    pointwise
        .sum()
        .div_scalar(count as f32)
        .mul_scalar(temperature * temperature)
        .reshape([1])
}

#[cfg(test)]
mod tests {
    use shared::heads::TaskClasses;

    use super::*;

    #[derive(Deserialize)]
    struct Case {
        heads: Vec<(String, usize)>,
        student: Vec<Vec<f32>>,
        teacher: Vec<Vec<f32>>,
        tasks: Vec<usize>,
        temperature: f32,
        loss: f32,
    }

    fn matrix(rows: &[Vec<f32>], device: &Device) -> Tensor<2> {
        let shape = [rows.len(), rows[0].len()];
        Tensor::from_data(TensorData::new(rows.concat(), shape), device)
    }

    /// Hinton's term equals PyTorch's `KLDivLoss(reduction="batchmean", log_target=True)`
    /// times T^2 (tools/make_kd_golden.py), for one task and for two with the garment head.
    #[test]
    fn distillation_loss_matches_pytorch() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/kd.json");
        let cases: Vec<Case> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let device = Device::flex();
        for case in cases {
            let heads = Heads::new(
                case.heads
                    .iter()
                    .map(|(name, classes)| TaskClasses {
                        name: name.clone(),
                        classes: (0..*classes).map(|c| c.to_string()).collect(),
                    })
                    .collect(),
            )
            .unwrap();
            // The teacher's probabilities at T, head by head.
            let targets: Vec<Vec<f32>> = case
                .teacher
                .iter()
                .map(|row| {
                    let scaled: Vec<f32> = row.iter().map(|v| v / case.temperature).collect();
                    heads.softmax(&scaled)
                })
                .collect();
            let loss = kd_loss(
                &heads,
                matrix(&case.student, &device),
                matrix(&targets, &device),
                &case.tasks,
                true,
                case.temperature,
            );
            let ours = loss.into_data().try_to_vec::<f32>().unwrap()[0];
            assert!(
                (ours - case.loss).abs() <= 1e-5 * case.loss.abs().max(1.0),
                "{:?} at T {}: {ours} against PyTorch's {}",
                case.heads,
                case.temperature,
                case.loss
            );
        }
    }
}
