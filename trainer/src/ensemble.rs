//! Several trained models answering together, as the competition's best teams answered: each
//! member (any architecture and input size, each preprocessed as it was trained) scores the
//! photos alone, and each task's probabilities are the weighted mean of the members that know
//! the task. The garment head of an ensemble of several tasks is the weighted mean of the
//! members' garment heads (their tasks in the ensemble's order, renormalised), or uniform
//! where no member has one.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use indicatif::ProgressBar;
use shared::calibration::Calibration;
use shared::heads::{Heads, TaskClasses};
use shared::preprocess::View;

use crate::device::Compute;
use crate::infer::{self, Options, Scores};
use crate::trained::{Trained, load_model};

/// The options of the commands that take several `--model`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EnsembleArgs {
    /// Each `--model`'s weight in the ensemble's mean, in their order (default: equal).
    #[arg(long, value_delimiter = ',', value_name = "W,W,...")]
    pub weights: Option<Vec<f32>>,
    /// How every model sees the photos: `crop` or `pad` (default: each model's own, as it was
    /// trained).
    #[arg(long, value_enum)]
    pub view: Option<View>,
}

impl EnsembleArgs {
    pub fn load(
        &self,
        paths: &[PathBuf],
        labels: Option<&Path>,
        device: &burn::prelude::Device,
    ) -> Result<Ensemble> {
        Ensemble::load(paths, self.weights.as_deref(), self.view, labels, device)
    }
}

/// A member's scores of each image: `None` where the image's task is not the member's.
pub type MemberScores = Vec<Option<Result<Scores, String>>>;

pub struct Ensemble {
    pub members: Vec<Trained>,
    /// Each member's weight (`--weights`, 1 each by default).
    pub weights: Vec<f32>,
    /// The members' tasks, in the order they first appear (or a run's: `order_as`).
    pub heads: Heads,
}

impl Ensemble {
    /// Loads the models at `paths` (checkpoints, run folders, bundles or torchvision weight
    /// files), each with its own preprocessing, or all with `view` where given.
    pub fn load(
        paths: &[PathBuf],
        weights: Option<&[f32]>,
        view: Option<View>,
        labels: Option<&Path>,
        device: &burn::prelude::Device,
    ) -> Result<Ensemble> {
        let members = paths
            .iter()
            .map(|path| {
                let mut model = load_model(path, labels, device)?;
                if let Some(view) = view {
                    model.size = model.size.with_view(view);
                }
                Ok(model)
            })
            .collect::<Result<Vec<_>>>()?;
        let weights = match weights {
            None => vec![1.0; members.len()],
            Some(weights) if weights.len() != members.len() => bail!(
                "expected one weight per model, in their order ({} models), got {}",
                members.len(),
                weights.len()
            ),
            Some(weights) if weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) => {
                bail!("the weights must be positive numbers")
            }
            Some(weights) => weights.to_vec(),
        };
        Ensemble::new(members, weights)
    }

    /// The ensemble of `members`; refused where two of them name a task's classes differently.
    pub fn new(members: Vec<Trained>, weights: Vec<f32>) -> Result<Ensemble> {
        let mut tasks: Vec<(TaskClasses, &Path)> = Vec::new();
        for member in &members {
            for task in member.heads.tasks() {
                match tasks.iter().find(|(known, _)| known.name == task.name) {
                    Some((known, _)) if known.classes == task.classes => {}
                    Some((known, source)) => bail!(
                        "{} and {} disagree on the classes of {}: [{}] against [{}]",
                        source.display(),
                        member.source.display(),
                        task.name,
                        known.classes.join(", "),
                        task.classes.join(", ")
                    ),
                    None => tasks.push((task.clone(), &member.source)),
                }
            }
        }
        let heads = Heads::new(tasks.into_iter().map(|(task, _)| task).collect())?;
        Ok(Ensemble {
            members,
            weights,
            heads,
        })
    }

    /// The ensemble answering the tasks of `heads` in their order: refused (false) unless its
    /// tasks and classes are those, in any order.
    pub fn order_as(&mut self, heads: &Heads) -> bool {
        let mine = self.heads.tasks();
        let same = mine.len() == heads.tasks().len()
            && heads.tasks().iter().all(|task| mine.contains(task));
        if same {
            self.heads = heads.clone();
        }
        same
    }

    /// Whether some member has a garment head (which says which task a photo shows).
    pub fn knows_garments(&self) -> bool {
        self.members.iter().any(|m| m.heads.is_multi_task())
    }

    /// The calibrations of a single model; an ensemble's averaged probabilities have none.
    pub fn calibrations(&self) -> Vec<Option<Calibration>> {
        match &self.members[..] {
            [only] if only.heads == self.heads => only.calibrations.clone(),
            _ => vec![None; self.heads.tasks().len()],
        }
    }

    /// Each image's scores in the ensemble's layout (`heads`), or why it could not be read.
    /// With `tasks` (each image's task, among `heads`'), a member scores only the images of
    /// the tasks it knows. A single member's scores are its own; an ensemble's logits are the
    /// logarithms of its probabilities (whose softmax they are).
    pub fn scores(
        &self,
        images: &[PathBuf],
        tasks: Option<&[usize]>,
        options: Options,
        compute: &Compute,
        progress: &ProgressBar,
    ) -> Result<Vec<Result<Scores, String>>> {
        if let [only] = &self.members[..]
            && only.heads == self.heads
        {
            return infer::scores(only, images, options, compute, progress);
        }
        let each = self.member_scores(images, tasks, options, compute, progress)?;
        Ok(self.combined(&each))
    }

    /// Each member's scores of each image (`None`: the image's task is not the member's).
    pub fn member_scores(
        &self,
        images: &[PathBuf],
        tasks: Option<&[usize]>,
        options: Options,
        compute: &Compute,
        progress: &ProgressBar,
    ) -> Result<Vec<MemberScores>> {
        let names = self.heads.tasks();
        let answered: Vec<Vec<usize>> = self
            .members
            .iter()
            .map(|member| {
                (0..images.len())
                    .filter(|&i| {
                        tasks.is_none_or(|tasks| {
                            let name = &names[tasks[i]].name;
                            member.heads.tasks().iter().any(|t| &t.name == name)
                        })
                    })
                    .collect()
            })
            .collect();
        progress.set_length(answered.iter().map(Vec::len).sum::<usize>() as u64);
        let mut each = Vec::new();
        for (member, indices) in self.members.iter().zip(&answered) {
            let own: Vec<PathBuf> = indices.iter().map(|&i| images[i].clone()).collect();
            let mut scores = vec![None; images.len()];
            for (&i, result) in indices
                .iter()
                .zip(infer::scores(member, &own, options, compute, progress)?)
            {
                scores[i] = Some(result);
            }
            each.push(scores);
        }
        Ok(each)
    }

    /// The ensemble's scores from its members' ([`member_scores`](Self::member_scores)).
    pub fn combined(&self, each: &[MemberScores]) -> Vec<Result<Scores, String>> {
        let images = each.first().map_or(0, Vec::len);
        (0..images)
            .map(|image| {
                let mut members = Vec::new();
                let mut probabilities = Vec::new();
                for ((member, weight), scores) in self.members.iter().zip(&self.weights).zip(each) {
                    match &scores[image] {
                        Some(Ok(scores)) => {
                            members.push((&member.heads, *weight));
                            probabilities.push(scores.probabilities.as_slice());
                        }
                        Some(Err(err)) => return Err(err.clone()),
                        None => {}
                    }
                }
                let probabilities = combine(&self.heads, &members, &probabilities);
                Ok(Scores {
                    logits: probabilities
                        .iter()
                        .map(|p| p.max(f32::MIN_POSITIVE).ln())
                        .collect(),
                    probabilities,
                })
            })
            .collect()
    }

    /// The members' sources, for messages.
    pub fn name(&self) -> String {
        let names: Vec<String> = self
            .members
            .iter()
            .map(|m| m.source.display().to_string())
            .collect();
        names.join(" + ")
    }
}

/// Each of `member`'s tasks' place among `heads`' tasks, which include them.
pub fn places(heads: &Heads, member: &Heads) -> Vec<usize> {
    member
        .tasks()
        .iter()
        .map(|task| {
            (heads.tasks().iter())
                .position(|t| t.name == task.name)
                .expect("every member's task is the ensemble's")
        })
        .collect()
}

/// The probabilities of members of `(heads, weight)` (each in its own layout) in the layout of
/// `heads`, their tasks' union: per task the weighted mean of the members that know it.
fn combine(heads: &Heads, members: &[(&Heads, f32)], probabilities: &[&[f32]]) -> Vec<f32> {
    let mut sums = vec![0.0f32; heads.width()];
    let mut weights = vec![0.0f32; heads.tasks().len()];
    for (&(own, weight), probabilities) in members.iter().zip(probabilities) {
        let places = places(heads, own);
        for (head, &task) in places.iter().enumerate() {
            let columns = heads.columns(task);
            for (sum, p) in sums[columns]
                .iter_mut()
                .zip(&probabilities[own.columns(head)])
            {
                *sum += weight * p;
            }
            weights[task] += weight;
        }
        if let (Some(theirs), Some(ours)) = (own.garment(), heads.garment()) {
            for (&task, p) in places.iter().zip(&probabilities[theirs]) {
                sums[ours.start + task] += weight * p;
            }
        }
    }
    // A task no member answered for this image: uniform.
    for (task, &weight) in weights.iter().enumerate() {
        let columns = heads.columns(task);
        let uniform = 1.0 / columns.len() as f32;
        for sum in &mut sums[columns] {
            *sum = if weight > 0.0 { *sum / weight } else { uniform };
        }
    }
    if let Some(columns) = heads.garment() {
        let total: f32 = sums[columns.clone()].iter().sum();
        let uniform = 1.0 / columns.len() as f32;
        for sum in &mut sums[columns] {
            *sum = if total > 0.0 { *sum / total } else { uniform };
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads(tasks: &[(&str, usize)]) -> Heads {
        Heads::new(
            tasks
                .iter()
                .map(|&(name, classes)| TaskClasses {
                    name: name.into(),
                    classes: (0..classes).map(|c| c.to_string()).collect(),
                })
                .collect(),
        )
        .unwrap()
    }

    fn close(ours: &[f32], expected: &[f32]) {
        assert_eq!(ours.len(), expected.len());
        for (a, b) in ours.iter().zip(expected) {
            assert!((a - b).abs() <= 1e-6, "{ours:?} against {expected:?}");
        }
    }

    #[test]
    fn one_task_is_the_weighted_mean() {
        let task = heads(&[("a", 3)]);
        let (one, two) = ([0.7, 0.2, 0.1], [0.1, 0.3, 0.6]);
        let mean = combine(&task, &[(&task, 1.0), (&task, 1.0)], &[&one, &two]);
        close(&mean, &[0.4, 0.25, 0.35]);
        let weighted = combine(&task, &[(&task, 1.0), (&task, 3.0)], &[&one, &two]);
        close(&weighted, &[0.25, 0.275, 0.475]);
        // One member: its own numbers, exactly.
        close(&combine(&task, &[(&task, 2.5)], &[&one]), &one);
    }

    /// Per-task members and a multi-task member: each task from the members that know it, the
    /// garment head from the multi-task member alone.
    #[test]
    fn each_task_is_answered_by_the_members_that_know_it() {
        let union = heads(&[("a", 2), ("b", 3)]);
        let (a, b) = (heads(&[("a", 2)]), heads(&[("b", 3)]));
        let both = heads(&[("b", 3), ("a", 2)]);
        // `both`'s layout: b's 3, a's 2, then its garment head (b, a).
        let of_both = [0.2, 0.2, 0.6, 0.9, 0.1, 0.3, 0.7];
        let answered = combine(
            &union,
            &[(&a, 1.0), (&b, 1.0), (&both, 1.0)],
            &[&[0.5, 0.5], &[0.6, 0.2, 0.2], &of_both],
        );
        close(&answered, &[0.7, 0.3, 0.4, 0.2, 0.4, 0.7, 0.3]);
        // Without a multi-task member nothing says which garment: uniform.
        let answered = combine(
            &union,
            &[(&a, 1.0), (&b, 1.0)],
            &[&[0.5, 0.5], &[0.6, 0.2, 0.2]],
        );
        close(&answered[5..], &[0.5, 0.5]);
    }
}
