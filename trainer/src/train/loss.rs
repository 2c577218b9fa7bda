//! The loss over the classifier's heads (`shared::heads`). An image's loss is the
//! cross-entropy of its own task's head and, in a model of several tasks, the garment head's
//! cross-entropy of that task. The other heads' outputs are masked out of the image's softmax,
//! so a head learns only from its own task's images: its gradient is exactly zero for a batch
//! without them, and batches may mix tasks freely.

use core::ops::Range;

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use shared::heads::Heads;

use crate::data::Sample;

/// The logit a masked output takes: beside any real logit its softmax weight, and so its
/// gradient, is exactly zero (`exp` underflows), with no infinity to make NaNs of.
const MASKED: f32 = -1e9;

/// What the loss sees of a batch.
pub struct Scored {
    /// The logits with every output outside the image's task head masked: their softmax and
    /// argmax are the task's.
    pub logits: Tensor<2>,
    /// Each image's class as an output of the final layer (its task head's offset added).
    pub targets: Tensor<1, Int>,
    /// Each image's log-likelihood: minus its loss.
    pub log_likelihoods: Tensor<1>,
    /// With several tasks, the logits with every output outside the garment head masked.
    pub garment_logits: Option<Tensor<2>>,
    /// With several tasks, each image's output of the garment head (its task's).
    pub garment_targets: Vec<i64>,
}

impl Scored {
    /// Each image's probabilities: over its task head's outputs, and with several tasks also
    /// over the garment head's; zero elsewhere.
    pub fn probabilities(&self) -> Tensor<2> {
        let tasks = softmax(self.logits.clone(), 1);
        match &self.garment_logits {
            Some(garment) => tasks + softmax(garment.clone(), 1),
            None => tasks,
        }
    }
}

/// Scores `logits` `[images, heads.width()]` against each image's `classes` (within its task)
/// and `tasks`.
pub fn score(heads: &Heads, logits: Tensor<2>, classes: Tensor<1, Int>, tasks: &[usize]) -> Scored {
    // One task: the plain cross-entropy, with the very operations of burn's
    // `CrossEntropyLoss`, so that single-task training is what it always was.
    let Some(garment) = heads.garment() else {
        return Scored {
            log_likelihoods: log_likelihood(logits.clone(), classes.clone()),
            logits,
            targets: classes,
            garment_logits: None,
            garment_targets: Vec::new(),
        };
    };
    let device = logits.device();
    let targets = columns(heads, classes, tasks);
    let own_head: Vec<Range<usize>> = tasks.iter().map(|&task| heads.columns(task)).collect();
    let task_logits = keep(logits.clone(), &own_head);
    let garments: Vec<i64> = tasks
        .iter()
        .map(|&task| (garment.start + task) as i64)
        .collect();
    let garment_logits = keep(logits, &vec![garment; tasks.len()]);
    let garment_targets = Tensor::from_data(TensorData::from(garments.as_slice()), &device);
    Scored {
        log_likelihoods: log_likelihood(task_logits.clone(), targets.clone())
            + log_likelihood(garment_logits.clone(), garment_targets),
        logits: task_logits,
        targets,
        garment_logits: Some(garment_logits),
        garment_targets: garments,
    }
}

/// The training loss of a recipe: the cross-entropy of each head, with `--label-smoothing`
/// and `--class-weights` as torch's `CrossEntropyLoss(weight, label_smoothing)` computes them.
/// A batch's loss is the sum of its images' terms over the sum of their weights: the weighted
/// mean (the plain mean without class weights).
#[derive(Clone, Debug, Default)]
pub struct Criterion {
    pub label_smoothing: f64,
    /// Each output's class weight (1 for the garment head's outputs), or `None`.
    pub class_weights: Option<Vec<f32>>,
}

impl Criterion {
    /// Whether this is the plain cross-entropy.
    fn is_plain(&self) -> bool {
        self.label_smoothing == 0.0 && self.class_weights.is_none()
    }

    /// Each image's weight: its class's (1 without class weights). `targets` are outputs of
    /// the final layer (`Scored::targets`).
    pub fn weights(&self, targets: Tensor<1, Int>) -> Tensor<1> {
        let device = targets.device();
        match &self.class_weights {
            Some(weights) => {
                Tensor::<1>::from_floats(weights.as_slice(), &device).gather(0, targets)
            }
            None => Tensor::ones(targets.dims(), &device),
        }
    }

    /// The sum of the weights of a batch of `classes` (within their `tasks`), which divides
    /// its loss terms; `None` for the plain cross-entropy, which takes the mean.
    pub fn total_weight(
        &self,
        heads: &Heads,
        classes: Tensor<1, Int>,
        tasks: &[usize],
    ) -> Option<Tensor<1>> {
        (!self.is_plain()).then(|| self.weights(columns(heads, classes, tasks)).sum())
    }

    /// Each image's loss term (its weight included): the sum over a batch, divided by the sum
    /// of the batch's [`weights`](Self::weights), is the batch's loss. (The plain
    /// cross-entropy takes `Scored::log_likelihoods`' mean instead: the very operations of
    /// burn's `CrossEntropyLoss`, so that training without the options is what it always was.)
    pub fn terms(&self, scored: &Scored) -> Tensor<1> {
        let task = self.smoothed(scored.logits.clone(), scored.targets.clone(), true);
        match &scored.garment_logits {
            // The garment head's cross-entropy (smoothed, unweighted) counts by the image's
            // weight, as its task head's does.
            Some(garment) => {
                let columns = Tensor::<1, Int>::from_data(
                    TensorData::from(scored.garment_targets.as_slice()),
                    &garment.device(),
                );
                let garment = self.smoothed(garment.clone(), columns, false);
                task + garment * self.weights(scored.targets.clone())
            }
            None => task,
        }
    }

    /// torch's cross-entropy of each row of `logits` (masked outputs left out) with label
    /// smoothing, and with the class weights where `weighted`:
    /// (1 - e) w[y] (-log p[y]) + e/C sum_c w[c] (-log p[c]) over the row's C own outputs.
    fn smoothed(&self, logits: Tensor<2>, targets: Tensor<1, Int>, weighted: bool) -> Tensor<1> {
        let [images, width] = logits.dims();
        let device = logits.device();
        let own = logits.clone().greater_elem(MASKED / 2.0).float();
        let classes = own.clone().sum_dim(1).reshape([images]);
        let column_weights = match (&self.class_weights, weighted) {
            (Some(weights), true) => {
                own * Tensor::<1>::from_floats(weights.as_slice(), &device).reshape([1, width])
            }
            _ => own,
        };
        let log_p = log_softmax(logits, 1);
        let targets = targets.reshape([images, 1]);
        let target_weight = column_weights
            .clone()
            .gather(1, targets.clone())
            .reshape([images]);
        let nll = log_p.clone().gather(1, targets).reshape([images]).neg();
        let smooth = (log_p * column_weights).sum_dim(1).reshape([images]).neg() / classes;
        let e = self.label_smoothing as f32;
        (nll * target_weight).mul_scalar(1.0 - e) + smooth.mul_scalar(e)
    }
}

/// `--class-weights balanced`: each output's weight, images / (classes x the class's images)
/// over the training images of its task (scikit-learn's "balanced"). A class without training
/// images is never a target and keeps 1, as do the garment head's outputs.
pub fn balanced_weights(heads: &Heads, samples: &[Sample]) -> Vec<f32> {
    let mut counts = vec![0usize; heads.width()];
    let mut per_task = vec![0usize; heads.tasks().len()];
    for sample in samples {
        counts[heads.columns(sample.task).start + sample.label.class] += 1;
        per_task[sample.task] += 1;
    }
    let mut weights = vec![1.0f32; heads.width()];
    for (task, images) in per_task.into_iter().enumerate() {
        let columns = heads.columns(task);
        let classes = columns.len();
        for column in columns {
            if counts[column] > 0 {
                weights[column] = (images as f64 / (classes * counts[column]) as f64) as f32;
            }
        }
    }
    weights
}

/// Each image's class as an output of the final layer: its task head's offset added.
fn columns(heads: &Heads, classes: Tensor<1, Int>, tasks: &[usize]) -> Tensor<1, Int> {
    if heads.garment().is_none() {
        return classes;
    }
    let offsets: Vec<i64> = tasks
        .iter()
        .map(|&task| heads.columns(task).start as i64)
        .collect();
    let device = classes.device();
    classes + Tensor::from_data(TensorData::from(offsets.as_slice()), &device)
}

/// `log softmax(logits)[target]` of each row.
fn log_likelihood(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [images] = targets.dims();
    log_softmax(logits, 1)
        .gather(1, targets.reshape([images, 1]))
        .reshape([images])
}

/// `logits` with each row's outputs outside `columns[row]` masked.
fn keep(logits: Tensor<2>, columns: &[Range<usize>]) -> Tensor<2> {
    let [images, width] = logits.dims();
    let outside: Vec<bool> = columns
        .iter()
        .flat_map(|kept| (0..width).map(move |column| !kept.contains(&column)))
        .collect();
    let mask =
        Tensor::<2, Bool>::from_data(TensorData::new(outside, [images, width]), &logits.device());
    logits.mask_fill(mask, MASKED)
}

#[cfg(test)]
mod tests {
    use burn::optim::GradientsParams;
    use burn::tensor::Distribution;
    use shared::heads::TaskClasses;
    use shared::model::{Arch, NetConfig};

    use super::*;

    fn heads() -> Heads {
        let task = |name: &str, classes: usize| TaskClasses {
            name: name.into(),
            classes: (0..classes).map(|c| c.to_string()).collect(),
        };
        Heads::new(vec![task("a", 3), task("b", 2), task("c", 4)]).unwrap()
    }

    /// The gradient of each output row of the final layer, for a batch of `tasks`' images.
    fn head_gradients(tasks: &[usize], classes: &[i64]) -> Vec<Vec<f32>> {
        let device = Device::flex().autodiff();
        device.seed(7);
        let heads = heads();
        let net = NetConfig::new()
            .with_arch(Arch::Resnet18)
            .with_width_mult(4.0 / 64.0)
            .with_num_classes(heads.width())
            .init(&device);
        let images = Tensor::<4>::random([tasks.len(), 3, 32, 32], Distribution::Default, &device);
        let classes = Tensor::from_data(TensorData::from(classes), &device);
        let scored = score(&heads, net.forward(images), classes, tasks);
        let loss = scored.log_likelihoods.mean().neg();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        // burn's Linear weight is [inputs, outputs]: a head's outputs are columns.
        let weight = grads.get::<2>(net.final_linear().weight.id).unwrap();
        let [inputs, outputs] = weight.dims();
        let values = weight.into_data().try_to_vec::<f32>().unwrap();
        (0..outputs)
            .map(|o| (0..inputs).map(|i| values[i * outputs + o]).collect())
            .collect()
    }

    #[test]
    fn a_head_without_images_in_the_batch_gets_exactly_zero_gradient() {
        let heads = heads();
        // Images of tasks a and c only.
        let rows = head_gradients(&[0, 2, 2, 0], &[1, 3, 0, 2]);
        let zero = |range: Range<usize>| rows[range].iter().flatten().all(|g| *g == 0.0);
        assert!(zero(heads.columns(1)), "task b's head has a gradient");
        for task in [0, 2] {
            assert!(
                !zero(heads.columns(task)),
                "task {task}'s head learns nothing"
            );
        }
        let garment = heads.garment().unwrap();
        // The garment head learns every image's task, b's output included (pushed down).
        assert!(
            rows[garment]
                .iter()
                .all(|row| row.iter().any(|g| *g != 0.0))
        );
    }

    #[test]
    fn the_loss_is_the_tasks_and_the_garments_cross_entropy() {
        let device = Device::flex();
        let heads = heads();
        // One image of task b, class 1; logits 0 everywhere but a 1 on b's class 1 output.
        let mut row = vec![0.0f32; heads.width()];
        row[heads.columns(1).start + 1] = 1.0;
        let logits = Tensor::<2>::from_data(TensorData::new(row, [1, heads.width()]), &device);
        let classes = Tensor::from_data(TensorData::from([1i64]), &device);
        let scored = score(&heads, logits, classes, &[1]);
        let loss = -scored
            .log_likelihoods
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()[0];
        // Task b's two outputs (0 and 1), then the garment head's three equal outputs.
        let task = -(1f32.exp() / (1.0 + 1f32.exp())).ln();
        let garment = 3f32.ln();
        assert!((loss - (task + garment)).abs() < 1e-5, "{loss}");
        let targets = scored
            .targets
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert_eq!(targets, [heads.columns(1).start as i64 + 1]);
    }

    /// The loss with label smoothing and class weights equals torch's
    /// `cross_entropy(weight, label_smoothing)` (tools/make_recipe_golden.py).
    #[test]
    fn smoothed_and_weighted_losses_match_torch() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/recipe/losses.json"
        );
        let golden: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let rows: Vec<Vec<f32>> = serde_json::from_value(golden["logits"].clone()).unwrap();
        let targets: Vec<i64> = serde_json::from_value(golden["targets"].clone()).unwrap();
        let weights: Vec<f32> = serde_json::from_value(golden["weights"].clone()).unwrap();
        let device = Device::flex();
        let [images, classes] = [rows.len(), rows[0].len()];
        let heads = Heads::single("t", (0..classes).map(|c| c.to_string()).collect()).unwrap();
        let logits =
            Tensor::<2>::from_data(TensorData::new(rows.concat(), [images, classes]), &device);
        let targets = Tensor::<1, Int>::from_data(TensorData::from(targets.as_slice()), &device);
        let tasks = vec![0; images];
        for case in golden["cases"].as_array().unwrap() {
            let criterion = Criterion {
                label_smoothing: case["label_smoothing"].as_f64().unwrap(),
                class_weights: case["weighted"].as_bool().unwrap().then(|| weights.clone()),
            };
            let scored = score(&heads, logits.clone(), targets.clone(), &tasks);
            let loss = match criterion.total_weight(&heads, targets.clone(), &tasks) {
                Some(total) => criterion.terms(&scored).sum() / total,
                None => scored.log_likelihoods.mean().neg(),
            };
            let loss = loss.into_scalar::<f32>() as f64;
            let expected = case["loss"].as_f64().unwrap();
            assert!(
                (loss - expected).abs() < 1e-5 * expected,
                "{case}: {loss} vs torch {expected}"
            );
        }
    }

    /// In a model of several tasks, smoothing spreads over the image's own task's classes
    /// only: masked outputs take nothing.
    #[test]
    fn smoothing_stays_within_the_task_head() {
        let device = Device::flex();
        let heads = heads();
        // One image of task c (4 classes), all logits 0: its smoothed cross-entropy is ln 4
        // for the task head and ln 3 for the garment head, whatever the smoothing.
        let logits = Tensor::<2>::zeros([1, heads.width()], &device);
        let classes = Tensor::from_data(TensorData::from([2i64]), &device);
        let scored = score(&heads, logits, classes, &[2]);
        let criterion = Criterion {
            label_smoothing: 0.2,
            class_weights: None,
        };
        let loss = criterion.terms(&scored).into_scalar::<f32>();
        let expected = 4f32.ln() + 3f32.ln();
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    }

    /// scikit-learn's "balanced": images / (classes x the class's images), per task.
    #[test]
    fn balanced_weights_are_inverse_frequencies_per_task() {
        let heads = heads();
        let sample = |task: usize, class: usize| Sample {
            image: "x.jpg".into(),
            task,
            label: shared::tasks::Label::one_hot(class, heads.columns(task).len()),
        };
        // Task a: classes 0, 0, 0, 1 (class 2 absent); task b: 0 and 1 once each.
        let samples = [
            sample(0, 0),
            sample(0, 0),
            sample(0, 0),
            sample(0, 1),
            sample(1, 0),
            sample(1, 1),
        ];
        let weights = balanced_weights(&heads, &samples);
        let a = heads.columns(0).start;
        assert_eq!(&weights[a..a + 3], &[4.0 / 9.0, 4.0 / 3.0, 1.0]);
        let b = heads.columns(1).start;
        assert_eq!(&weights[b..b + 2], &[1.0, 1.0]);
        assert!(weights[heads.garment().unwrap()].iter().all(|&w| w == 1.0));
    }

    /// MixUp's and CutMix's loss, lambda of the label-smoothed cross-entropy of the images'
    /// own targets and 1 - lambda of the previous images', equals torch's cross-entropy of the
    /// mixed one-hot targets (tools/make_recipe_golden.py).
    #[test]
    fn mixed_targets_loss_matches_torch() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/recipe/");
        let settings: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{dir}mixing.json")).unwrap()).unwrap();
        let bytes = std::fs::read(format!("{dir}mixing.safetensors")).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let logits: Vec<f32> = file
            .tensor("logits")
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let device = Device::flex();
        let heads = Heads::single("t", (0..5).map(|c| c.to_string()).collect()).unwrap();
        let logits = Tensor::<2>::from_data(TensorData::new(logits, [4, 5]), &device);
        let targets: Vec<i64> = serde_json::from_value(settings["targets"].clone()).unwrap();
        // `roll(1, 0)`: each image's second target is the previous image's.
        let rolled: Vec<i64> = (0..4).map(|i| targets[(i + 3) % 4]).collect();
        let criterion = Criterion {
            label_smoothing: settings["label_smoothing"].as_f64().unwrap(),
            class_weights: None,
        };
        let loss = |targets: &[i64]| {
            let targets = Tensor::<1, Int>::from_data(TensorData::from(targets), &device);
            let scored = score(&heads, logits.clone(), targets.clone(), &[0; 4]);
            let total = criterion.total_weight(&heads, targets, &[0; 4]).unwrap();
            (criterion.terms(&scored).sum() / total).into_scalar::<f32>() as f64
        };
        for kind in ["mixup", "cutmix"] {
            let lambda = settings[format!("{kind}_lambda")].as_f64().unwrap();
            let ours = lambda * loss(&targets) + (1.0 - lambda) * loss(&rolled);
            let theirs = settings[format!("{kind}_loss")].as_f64().unwrap();
            assert!(
                (ours - theirs).abs() < 1e-5 * theirs,
                "{kind}: {ours} vs torch {theirs}"
            );
        }
    }
}
