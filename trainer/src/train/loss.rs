//! The loss over the classifier's heads (`shared::heads`). An image's loss is the
//! cross-entropy of its own task's head and, in a model of several tasks, the garment head's
//! cross-entropy of that task. The other heads' outputs are masked out of the image's softmax,
//! so a head learns only from its own task's images: its gradient is exactly zero for a batch
//! without them, and batches may mix tasks freely.

use core::ops::Range;

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use shared::heads::Heads;

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
        };
    };
    let device = logits.device();
    let offsets: Vec<i64> = tasks
        .iter()
        .map(|&task| heads.columns(task).start as i64)
        .collect();
    let targets = classes + Tensor::from_data(TensorData::from(offsets.as_slice()), &device);
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
    }
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
}
