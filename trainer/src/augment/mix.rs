//! torchvision's MixUp and CutMix (`transforms.v2`, as its reference script applies them to
//! each batch): every image mixed with the one before it in the batch (`roll(1, 0)`), and its
//! target with that image's, by the share lambda ~ Beta(alpha, alpha).

use rand::{Rng, RngExt};
use rand_distr::{Beta, Distribution};

/// How a batch is mixed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mix {
    /// Each image is lambda of itself plus 1 - lambda of the one before.
    MixUp { lambda: f64 },
    /// Each image's box `[x1, y1, x2, y2)` is the one before's; lambda is the share left.
    CutMix { lambda: f64, area: [usize; 4] },
}

impl Mix {
    /// One batch's mixing of `side` x `side` images: MixUp or CutMix, whichever has an alpha
    /// above 0, and with both, one of them with even odds (torchvision's `RandomChoice`).
    pub fn draw(
        mixup_alpha: f64,
        cutmix_alpha: f64,
        side: usize,
        rng: &mut impl Rng,
    ) -> Option<Mix> {
        let cutmix = match (mixup_alpha > 0.0, cutmix_alpha > 0.0) {
            (false, false) => return None,
            (true, true) => rng.random_bool(0.5),
            (mixup, _) => !mixup,
        };
        let alpha = if cutmix { cutmix_alpha } else { mixup_alpha };
        let lambda = Beta::new(alpha, alpha)
            .expect("alpha is validated positive")
            .sample(rng);
        if !cutmix {
            return Some(Mix::MixUp { lambda });
        }
        // v2.CutMix: a box of sides sqrt(1 - lambda) of the image's about a uniform centre,
        // clipped to the image; lambda becomes the share the box leaves.
        let (centre_x, centre_y) = (rng.random_range(0..side), rng.random_range(0..side));
        let half = (0.5 * (1.0 - lambda).sqrt() * side as f64) as usize;
        let area = [
            centre_x.saturating_sub(half),
            centre_y.saturating_sub(half),
            (centre_x + half).min(side),
            (centre_y + half).min(side),
        ];
        Some(Mix::CutMix {
            lambda: Mix::left(area, side),
            area,
        })
    }

    /// The CutMix box's complement's share of the image.
    fn left([x1, y1, x2, y2]: [usize; 4], side: usize) -> f64 {
        1.0 - ((x2 - x1) * (y2 - y1)) as f64 / (side * side) as f64
    }

    /// The share of each image's own target.
    pub fn lambda(&self) -> f64 {
        match *self {
            Mix::MixUp { lambda } | Mix::CutMix { lambda, .. } => lambda,
        }
    }

    /// Mixes `inputs` (`[3, side, side]` each) in place, each with the one before it.
    pub fn apply(&self, inputs: &mut [Vec<f32>], side: usize) {
        let rolled: Vec<Vec<f32>> = (0..inputs.len())
            .map(|i| inputs[(i + inputs.len() - 1) % inputs.len()].clone())
            .collect();
        for (input, other) in inputs.iter_mut().zip(&rolled) {
            match *self {
                Mix::MixUp { lambda } => {
                    let (own, theirs) = (lambda as f32, (1.0 - lambda) as f32);
                    for (value, other) in input.iter_mut().zip(other) {
                        *value = *other * theirs + *value * own;
                    }
                }
                Mix::CutMix {
                    area: [x1, y1, x2, y2],
                    ..
                } => {
                    for channel in 0..3 {
                        for y in y1..y2 {
                            let row = (channel * side + y) * side;
                            input[row + x1..row + x2].copy_from_slice(&other[row + x1..row + x2]);
                        }
                    }
                }
            }
        }
    }
}
