//! Batches sized to a device, ahead of time: a network's [`Footprint`] (computed from its
//! architecture and input size) against the device's [`Limits`](super::Limits).

use anyhow::{Result, bail};
use shared::model::Footprint;

use super::Compute;

/// Tensors of the largest size alive at once in a forward pass without gradients: a block's
/// input, its branch, its shortcut and their sum.
const INFERENCE_LIVE: u64 = 4;

/// Copies of the parameters a training step holds: weights, gradients, SGD momentum and the
/// update being applied.
const TRAINING_COPIES: u64 = 4;

/// The likely causes of a device failing mid-run, for its messages.
pub const FAILURE_CAUSES: &str =
    "(is its memory full? a GPU shared with other programs, or a batch near its limit)";

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Views (images, or test-time-augmentation views) one forward pass may take: `requested`, or
/// fewer with a note where the device cannot hold that many.
pub fn inference_batch(
    requested: usize,
    footprint: &Footprint,
    compute: &Compute,
) -> Result<usize> {
    let largest = 4 * footprint.largest_activation as u64;
    let weights = 4 * footprint.parameters as u64;
    let by_buffer = compute.limits.max_buffer.map(|max| (max / largest, max));
    let by_memory = compute.limits.memory.map(|memory| {
        (
            memory.saturating_sub(weights) / (INFERENCE_LIVE * largest),
            memory,
        )
    });
    let Some((most, limit)) = by_buffer.into_iter().chain(by_memory).min() else {
        return Ok(requested);
    };
    let most = usize::try_from(most).unwrap_or(usize::MAX);
    if most == 0 {
        bail!(
            "one image of this model needs a {} tensor, more than {} can hold ({}): use another \
             device",
            mib(largest),
            compute.name,
            mib(limit)
        );
    }
    if most < requested {
        eprintln!(
            "note: {requested} views per pass would need a {} tensor, over what {} can hold \
             ({}): {most} per pass instead",
            mib(largest * requested as u64),
            compute.name,
            mib(limit)
        );
        return Ok(most);
    }
    Ok(requested)
}

/// Refuses, before the first step, a training batch whose passes cannot fit the device: a
/// micro-batch (`batch` / `accumulate` images) whose largest tensor is over the device's
/// buffer limit, or whose memory is over the device's memory.
pub fn check_training(
    batch: usize,
    accumulate: usize,
    footprint: &Footprint,
    compute: &Compute,
) -> Result<()> {
    let images = (batch / accumulate.max(1)) as u64;
    let largest = 4 * footprint.largest_activation.max(footprint.largest_columns) as u64;
    let per_image = 4 * (footprint.saved + footprint.largest_columns) as u64;
    let fixed = 4 * TRAINING_COPIES * footprint.parameters as u64;
    let pass = match accumulate {
        1 => format!("a training step of {images} images"),
        k => format!("a training pass of {images} images ({batch} in {k} passes)"),
    };
    if let Some(max) = compute.limits.max_buffer
        && images * largest > max
    {
        bail!(
            "{pass} needs a {} tensor, but {} holds at most {} in one buffer: {}",
            mib(images * largest),
            compute.name,
            mib(max),
            way_out(batch, max / largest)
        );
    }
    if let Some(memory) = compute.limits.memory
        && fixed + images * per_image > memory
    {
        bail!(
            "{pass} needs about {} ({} for the weights, their gradients and momentum, {} per \
             image for the activations kept for the backward pass), but {} has {}: {}",
            mib(fixed + images * per_image),
            mib(fixed),
            mib(per_image),
            compute.name,
            mib(memory),
            way_out(batch, memory.saturating_sub(fixed) / per_image)
        );
    }
    Ok(())
}

/// What to do when at most `fits` images fit one pass: the same batch in more passes where
/// it divides into passes of two images or more (BatchNorm needs a batch), else a smaller batch.
fn way_out(batch: usize, fits: u64) -> String {
    let fits = usize::try_from(fits).unwrap_or(usize::MAX);
    if fits == 0 {
        return "even one image does not fit: lower --input-size or --base-width, or use another \
                device"
            .into();
    }
    match (1..=batch).find(|&k| batch.is_multiple_of(k) && (2..=fits).contains(&(batch / k))) {
        Some(passes) => format!(
            "keep --batch-size {batch} with --accumulate {passes} ({} images per pass), or \
             lower --batch-size to {fits} or less",
            batch / passes
        ),
        None => format!("lower --batch-size to {fits} or less"),
    }
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;
    use shared::model::{Arch, NetConfig};

    use super::*;
    use crate::device::Limits;

    const MIB: u64 = 1 << 20;

    fn compute(max_buffer: Option<u64>, memory: Option<u64>) -> Compute {
        Compute {
            device: Device::flex(),
            name: "a small GPU".into(),
            limits: Limits { max_buffer, memory },
        }
    }

    /// ResNet-18 at 224 px: 64 x 112 x 112 values, 3 MiB per view at most.
    fn resnet18() -> Footprint {
        NetConfig::new()
            .with_arch(Arch::Resnet18)
            .footprint(224, &Device::flex())
    }

    #[test]
    fn inference_batches_shrink_to_the_largest_buffer_and_the_memory() {
        let footprint = resnet18();
        let unlimited = compute(None, None);
        assert_eq!(inference_batch(64, &footprint, &unlimited).unwrap(), 64);
        // 128 MiB buffers hold 41 views of 3.06 MiB.
        let lavapipe = compute(Some(128 * MIB), Some(2048 * MIB));
        assert_eq!(inference_batch(64, &footprint, &lavapipe).unwrap(), 41);
        assert_eq!(inference_batch(10, &footprint, &lavapipe).unwrap(), 10);
        // 256 MiB of memory: 45 MiB of weights, then four live activations per view.
        let small = compute(Some(4096 * MIB), Some(256 * MIB));
        assert_eq!(inference_batch(64, &footprint, &small).unwrap(), 17);
        let tiny = compute(Some(2 * MIB), None);
        let err = inference_batch(64, &footprint, &tiny).unwrap_err();
        assert!(
            err.to_string()
                .contains("one image of this model needs a 3 MiB tensor")
        );
    }

    #[test]
    fn training_batches_that_cannot_fit_are_refused_with_the_numbers() {
        let footprint = resnet18();
        assert!(check_training(64, 1, &footprint, &compute(None, None)).is_ok());
        // The stem's columns: 147 x 112 x 112 values, 7 MiB per image.
        let small_buffers = compute(Some(128 * MIB), None);
        let buffer = check_training(64, 1, &footprint, &small_buffers)
            .unwrap_err()
            .to_string();
        assert!(
            buffer.contains("a training step of 64 images needs a 450 MiB tensor")
                && buffer.contains("holds at most 128 MiB in one buffer")
                && buffer.contains("keep --batch-size 64 with --accumulate 4 (16 images per pass)")
                && buffer.contains("or lower --batch-size to 18 or less"),
            "{buffer}"
        );
        // The way out it names fits.
        assert!(check_training(64, 4, &footprint, &small_buffers).is_ok());
        let two = check_training(64, 2, &footprint, &small_buffers)
            .unwrap_err()
            .to_string();
        assert!(
            two.contains("a training pass of 32 images (64 in 2 passes)"),
            "{two}"
        );
        // 37 images split only into passes of one.
        let prime = check_training(37, 1, &footprint, &small_buffers)
            .unwrap_err()
            .to_string();
        assert!(
            prime.ends_with("lower --batch-size to 18 or less") && !prime.contains("accumulate"),
            "{prime}"
        );
        let memory = check_training(64, 1, &footprint, &compute(None, Some(2048 * MIB)))
            .unwrap_err()
            .to_string();
        assert!(
            memory.contains("a small GPU has 2048 MiB") && memory.contains("--accumulate"),
            "{memory}"
        );
        let lavapipe = compute(Some(128 * MIB), Some(2048 * MIB));
        assert!(check_training(8, 1, &footprint, &lavapipe).is_ok());
        let nothing = check_training(1, 1, &footprint, &compute(Some(MIB), None))
            .unwrap_err()
            .to_string();
        assert!(nothing.contains("even one image does not fit"), "{nothing}");
    }
}
