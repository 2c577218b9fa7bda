//! `--auto-augment`: torchvision's `TrivialAugmentWide` and `RandAugment`
//! (`transforms/autoaugment.py`): the same 14 ops, magnitude bins and draws, the ops run as
//! torchvision's `_apply_op` runs them on a PIL image with bilinear filtering.

use image::RgbImage;
use rand::{Rng, RngExt};

use super::color::Adjust;
use super::{geometry, tone};
use crate::recipe::augmentation::AutoAugment;

/// torchvision's `num_magnitude_bins`.
const BINS: usize = 31;

/// RandAugment's `num_ops`.
const RA_OPS: usize = 2;

/// The ops, in the order of torchvision's `_augmentation_space`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Identity,
    ShearX,
    ShearY,
    TranslateX,
    TranslateY,
    Rotate,
    Brightness,
    Color,
    Contrast,
    Sharpness,
    Posterize,
    Solarize,
    AutoContrast,
    Equalize,
}

pub const KINDS: [Kind; 14] = [
    Kind::Identity,
    Kind::ShearX,
    Kind::ShearY,
    Kind::TranslateX,
    Kind::TranslateY,
    Kind::Rotate,
    Kind::Brightness,
    Kind::Color,
    Kind::Contrast,
    Kind::Sharpness,
    Kind::Posterize,
    Kind::Solarize,
    Kind::AutoContrast,
    Kind::Equalize,
];

/// An op with its magnitude, as `_apply_op(img, op_name, magnitude)` takes them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Op {
    pub kind: Kind,
    pub magnitude: f64,
}

impl Op {
    pub fn apply(&self, image: &mut RgbImage) {
        let m = self.magnitude;
        match self.kind {
            Kind::Identity => {}
            // Shears about the top-left corner, by the angle whose tangent is the magnitude.
            Kind::ShearX => {
                *image = geometry::affine(image, Some([0.0; 2]), [0.0; 2], [shear(m), 0.0])
            }
            Kind::ShearY => {
                *image = geometry::affine(image, Some([0.0; 2]), [0.0; 2], [0.0, shear(m)])
            }
            // Whole pixels: `int(magnitude)`.
            Kind::TranslateX => *image = geometry::affine(image, None, [m.trunc(), 0.0], [0.0; 2]),
            Kind::TranslateY => *image = geometry::affine(image, None, [0.0, m.trunc()], [0.0; 2]),
            Kind::Rotate => *image = geometry::rotate(image, m),
            Kind::Brightness => Adjust::Brightness(1.0 + m).apply(image),
            Kind::Color => Adjust::Saturation(1.0 + m).apply(image),
            Kind::Contrast => Adjust::Contrast(1.0 + m).apply(image),
            Kind::Sharpness => tone::sharpness(image, 1.0 + m),
            Kind::Posterize => tone::posterize(image, m as u8),
            Kind::Solarize => tone::solarize(image, m),
            Kind::AutoContrast => tone::autocontrast(image),
            Kind::Equalize => tone::equalize(image),
        }
    }
}

/// `math.degrees(math.atan(magnitude))`.
fn shear(magnitude: f64) -> f64 {
    magnitude.atan().to_degrees()
}

/// A policy's magnitudes of each op on an input of `width` x `height`.
pub struct Space {
    policy: AutoAugment,
    width: u32,
    height: u32,
}

impl Space {
    pub fn new(policy: AutoAugment, width: u32, height: u32) -> Space {
        Space {
            policy,
            width,
            height,
        }
    }

    /// The op's magnitude bins (none for the ops without a strength) and whether a drawn
    /// magnitude takes a random sign.
    pub fn bins(&self, kind: Kind) -> (Option<[f64; BINS]>, bool) {
        let wide = self.policy == AutoAugment::TaWide;
        let pick = |ta: f32, ra: f32| if wide { ta } else { ra };
        let signed = |end: f32| (Some(linspace(0.0, end)), true);
        match kind {
            Kind::Identity | Kind::AutoContrast | Kind::Equalize => (None, false),
            Kind::ShearX | Kind::ShearY => signed(pick(0.99, 0.3)),
            Kind::TranslateX => signed(pick(32.0, (150.0 / 331.0 * f64::from(self.width)) as f32)),
            Kind::TranslateY => signed(pick(32.0, (150.0 / 331.0 * f64::from(self.height)) as f32)),
            Kind::Rotate => signed(pick(135.0, 30.0)),
            Kind::Brightness | Kind::Color | Kind::Contrast | Kind::Sharpness => {
                signed(pick(0.99, 0.9))
            }
            Kind::Posterize => {
                // 8 - round(i / ((bins - 1) / levels)): down to 2 bits (4 for RandAugment).
                let levels = if wide { 6.0 } else { 4.0 };
                let per_level = ((BINS - 1) as f64 / levels) as f32;
                let bits = |i: usize| 8.0 - f64::from((i as f32 / per_level).round_ties_even());
                (Some(std::array::from_fn(bits)), false)
            }
            Kind::Solarize => (Some(linspace(255.0, 0.0)), false),
        }
    }

    /// The ops for one image: TrivialAugmentWide's one op at a random bin, or RandAugment's
    /// two at `magnitude`'s bin; a signed op's magnitude negated with probability 1/2.
    pub fn draw(&self, magnitude: usize, rng: &mut impl Rng) -> Vec<Op> {
        let count = match self.policy {
            AutoAugment::TaWide => 1,
            AutoAugment::Ra => RA_OPS,
        };
        (0..count)
            .map(|_| {
                let kind = KINDS[rng.random_range(0..KINDS.len())];
                let (bins, signed) = self.bins(kind);
                let mut magnitude = match (bins, self.policy) {
                    (None, _) => 0.0,
                    (Some(bins), AutoAugment::TaWide) => bins[rng.random_range(0..BINS)],
                    (Some(bins), AutoAugment::Ra) => bins[magnitude],
                };
                if signed && rng.random_bool(0.5) {
                    magnitude = -magnitude;
                }
                Op { kind, magnitude }
            })
            .collect()
    }
}

/// `torch.linspace(start, end, 31)` in float32, as torch computes it: from the start for the
/// first half, from the end for the rest.
fn linspace(start: f32, end: f32) -> [f64; BINS] {
    let step = (end - start) / (BINS - 1) as f32;
    std::array::from_fn(|i| {
        let value = match i < BINS / 2 {
            true => start + step * i as f32,
            false => end - step * (BINS - 1 - i) as f32,
        };
        f64::from(value)
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use safetensors::SafeTensors;

    use super::*;
    use crate::augment::tests::{assert_drawn_like, golden};

    fn settings() -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(golden("auto_augment.json")).unwrap()).unwrap()
    }

    fn kind(name: &str) -> Kind {
        KINDS
            .into_iter()
            .find(|kind| format!("{kind:?}") == name)
            .unwrap_or_else(|| panic!("no op {name}"))
    }

    fn policies() -> [(AutoAugment, &'static str); 2] {
        [(AutoAugment::TaWide, "ta_wide"), (AutoAugment::Ra, "ra")]
    }

    /// For fixed magnitudes each op gives torchvision's `_apply_op` output on the same PIL
    /// image (tools/make_recipe_golden.py): the tone and colour ops within one 8-bit level,
    /// the geometric ones with at least 99% of the values within one level.
    #[test]
    fn ops_match_torchvision() {
        let image = image::open(golden("augment.png")).unwrap().to_rgb8();
        let bytes = std::fs::read(golden("auto_augment.safetensors")).unwrap();
        let outputs = SafeTensors::deserialize(&bytes).unwrap();
        for (index, op) in settings()["ops"].as_array().unwrap().iter().enumerate() {
            let kind = kind(op[0].as_str().unwrap());
            let magnitude = op[1].as_f64().unwrap();
            let mut ours = match op.get(2) {
                Some(_) => image::imageops::crop_imm(&image, 0, 0, 60, 60).to_image(),
                None => image.clone(),
            };
            Op { kind, magnitude }.apply(&mut ours);
            let theirs = outputs.tensor(&index.to_string()).unwrap();
            assert_eq!(ours.as_raw().len(), theirs.data().len(), "{op}");
            let differences: Vec<u8> = ours
                .as_raw()
                .iter()
                .zip(theirs.data())
                .map(|(a, b)| a.abs_diff(*b))
                .collect();
            let worst = differences.iter().copied().max().unwrap_or(0);
            let near = differences.iter().filter(|&&d| d <= 1).count() as f64;
            let share = near / differences.len() as f64;
            let geometric = matches!(
                kind,
                Kind::ShearX | Kind::ShearY | Kind::TranslateX | Kind::TranslateY | Kind::Rotate
            );
            match geometric {
                true => assert!(share >= 0.99, "{op}: {share} of values within one level"),
                false => assert!(worst <= 1, "{op}: {worst} levels from torchvision"),
            }
        }
    }

    /// Each op's magnitude bins are torchvision's (RandAugment's translations on a 32x48
    /// input), within one float32 step (torch may fuse its multiply-adds).
    #[test]
    fn magnitude_bins_are_torchvision_s() {
        let settings = settings();
        for (policy, name) in policies() {
            let space = Space::new(policy, 32, 48);
            for kind in KINDS {
                let theirs = &settings["bins"][name][format!("{kind:?}")];
                let (ours, _) = space.bins(kind);
                match ours {
                    None => assert!(theirs.is_null(), "{name} {kind:?}"),
                    Some(ours) => {
                        let theirs: Vec<f64> = serde_json::from_value(theirs.clone()).unwrap();
                        for (a, b) in ours.iter().zip(&theirs) {
                            let ulp = f64::from(f32::EPSILON) * b.abs();
                            assert!((a - b).abs() <= ulp, "{name} {kind:?}: {a} vs {b}");
                        }
                    }
                }
            }
        }
    }

    /// The ops drawn as torchvision draws them: over 50000 ops, how often each is chosen and
    /// how often a signed magnitude is negated within five standard errors of torchvision's
    /// shares, TrivialAugment's bins spread as its, RandAugment's always at its magnitude.
    #[test]
    fn ops_are_drawn_like_torchvision() {
        let settings = settings();
        let mut rng = StdRng::seed_from_u64(11);
        for (policy, name) in policies() {
            let expected = &settings["draws"][name];
            let count = expected["ops"].as_u64().unwrap() as usize;
            let space = Space::new(policy, 32, 48);
            let ops: Vec<Op> = std::iter::repeat_with(|| space.draw(9, &mut rng))
                .flatten()
                .take(count)
                .collect();
            let n = ops.len() as f64;
            let close = |ours: f64, theirs: f64, what: &str| {
                let error = 5.0 * (2.0 * theirs * (1.0 - theirs) / n).sqrt();
                assert!(
                    (ours - theirs).abs() < error,
                    "{name} {what}: {ours} vs {theirs}"
                );
            };
            for (kind, share) in KINDS.iter().zip(expected["op_share"].as_array().unwrap()) {
                let ours = ops.iter().filter(|op| op.kind == *kind).count() as f64 / n;
                close(ours, share.as_f64().unwrap(), &format!("{kind:?}"));
            }
            let signed: Vec<&Op> = ops
                .iter()
                .filter(|op| space.bins(op.kind).1 && op.magnitude != 0.0)
                .collect();
            let negated = signed.iter().filter(|op| op.magnitude < 0.0).count();
            let theirs = expected["negative_share"].as_f64().unwrap();
            close(negated as f64 / signed.len() as f64, theirs, "negated");
            let chosen: Vec<(Op, [f64; BINS])> = ops
                .iter()
                .filter(|op| op.kind != Kind::Posterize)
                .filter_map(|op| Some((*op, space.bins(op.kind).0?)))
                .collect();
            match policy {
                AutoAugment::TaWide => {
                    let bins: Vec<f64> = chosen
                        .iter()
                        .map(|(op, bins)| {
                            let distance = |b: &f64| (b - op.magnitude.abs()).abs();
                            let nearest = bins.iter().map(distance).fold(f64::MAX, f64::min);
                            bins.iter().position(|b| distance(b) == nearest).unwrap() as f64
                        })
                        .collect();
                    assert_drawn_like(&bins, expected, "bin", name);
                }
                AutoAugment::Ra => {
                    for (op, bins) in chosen {
                        assert_eq!(op.magnitude.abs(), bins[9], "{op:?}");
                    }
                }
            }
        }
    }
}
