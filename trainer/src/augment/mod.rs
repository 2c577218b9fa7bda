//! The training images' augmentation (`recipe::Augmentation`), on the decoded 8-bit image as
//! torchvision applies it to a PIL image: the tutorial's crop and flip or RandomResizedCrop
//! and flip (with `--view pad`: the whole photo, or RandomResizedCrop's region, resized to fit
//! the square, flipped, and placed at random on the mean after normalisation), then TrivialAugment or RandAugment (`auto`), then ColorJitter, then normalisation
//! and RandomErasing; MixUp and CutMix then mix the batch (`mix`). Every draw comes from the image's (or the batch's) own seeded generator,
//! so the same seed, epoch and image give the same input.

pub mod auto;
pub mod color;
pub mod crop;
pub mod geometry;
pub mod mix;
pub mod tone;

use image::RgbImage;
use rand::Rng;
use shared::preprocess::{
    self, ImageError, Input, InputSize, Placement, View, decode_rgb, flip_at_random, normalize,
    resize_longer_side,
};

use crate::recipe::Augmentation;
use color::Jitter;
use crop::Region;

/// A training input of `bytes` under `augmentation`; with none of it on, exactly the
/// tutorial's (`preprocess::train_input`), draw for draw.
pub fn train_input(
    bytes: &[u8],
    size: InputSize,
    augmentation: &Augmentation,
    rng: &mut impl Rng,
) -> Result<Input, ImageError> {
    let random_region = |image: &RgbImage, rng: &mut _| {
        let (width, height) = image.dimensions();
        let scale = [augmentation.rrc_scale[0], augmentation.rrc_scale[1]];
        let ratio = [augmentation.rrc_ratio[0], augmentation.rrc_ratio[1]];
        Region::random(width, height, scale, ratio, rng)
    };
    let mut image = match (size.view, augmentation.random_resized_crop) {
        (View::Crop, false) => preprocess::train_crop(bytes, size, rng)?,
        (View::Crop, true) => {
            let image = decode_rgb(bytes)?;
            let mut crop =
                random_region(&image, rng).resized(&image, size.crop, size.interpolation);
            flip_at_random(&mut crop, rng);
            crop
        }
        (View::Pad, rrc) => {
            let mut image = decode_rgb(bytes)?;
            if rrc {
                image = random_region(&image, rng).cut(&image);
            }
            let mut fitted = resize_longer_side(&image, size.crop, size.interpolation);
            flip_at_random(&mut fitted, rng);
            fitted
        }
    };
    if let Some(policy) = augmentation.auto_augment {
        let (width, height) = image.dimensions();
        for op in auto::Space::new(policy, width, height).draw(augmentation.ra_magnitude, rng) {
            op.apply(&mut image);
        }
    }
    if let Some(jitter) = &augmentation.color_jitter {
        Jitter::new(jitter).draw(rng).apply(&mut image);
    }
    let mut input = normalize(&image);
    if size.view == View::Pad {
        let (width, height) = image.dimensions();
        let placement = Placement::random(width, height, size.crop, rng);
        input = placement.letterbox(&input, width, height, size.crop);
    }
    if augmentation.random_erase > 0.0 {
        crop::random_erase(
            &mut input,
            size.crop as usize,
            augmentation.random_erase,
            rng,
        );
    }
    Ok(input)
}

#[cfg(test)]
mod tests {
    use image::RgbImage;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use safetensors::SafeTensors;
    use shared::preprocess::Interpolation;

    use super::color::Adjust;
    use super::mix::Mix;
    use super::*;
    use crate::recipe::augmentation::AutoAugment;

    pub(super) fn golden(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/recipe")
            .join(name)
    }

    /// The largest difference of two images, in 8-bit levels.
    fn largest_difference(ours: &RgbImage, theirs: &[u8]) -> u8 {
        assert_eq!(ours.as_raw().len(), theirs.len());
        ours.as_raw()
            .iter()
            .zip(theirs)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap()
    }

    /// For fixed parameters, each op gives torchvision's output on the same PIL image within
    /// one 8-bit level (tools/make_recipe_golden.py).
    #[test]
    fn ops_match_torchvision() {
        let image = image::open(golden("augment.png")).unwrap().to_rgb8();
        let settings: serde_json::Value =
            serde_json::from_slice(&std::fs::read(golden("augment.json")).unwrap()).unwrap();
        let bytes = std::fs::read(golden("augment.safetensors")).unwrap();
        let outputs = SafeTensors::deserialize(&bytes).unwrap();
        for (index, op) in settings["ops"].as_array().unwrap().iter().enumerate() {
            let name = op[0].as_str().unwrap();
            let mut ours = image.clone();
            match name {
                "resized_crop" => {
                    let [top, left, height, width] =
                        serde_json::from_value::<[u32; 4]>(op[1].clone()).unwrap();
                    let filter = match op[2].as_str().unwrap() {
                        "bilinear" => Interpolation::Bilinear,
                        _ => Interpolation::Bicubic,
                    };
                    let region = Region {
                        left,
                        top,
                        width,
                        height,
                    };
                    ours = region.resized(&image, 32, filter);
                }
                _ => {
                    let factor = op[1].as_f64().unwrap();
                    let adjust = match name {
                        "brightness" => Adjust::Brightness(factor),
                        "contrast" => Adjust::Contrast(factor),
                        "saturation" => Adjust::Saturation(factor),
                        _ => Adjust::Hue(factor),
                    };
                    adjust.apply(&mut ours);
                }
            }
            let theirs = outputs.tensor(&index.to_string()).unwrap();
            let worst = largest_difference(&ours, theirs.data());
            assert!(worst <= 1, "{op}: {worst} levels from torchvision");
        }
    }

    /// Our draws of a parameter against torchvision's (`expected["<name>_mean"]` and
    /// `["<name>_std"]` over as many draws): the means within five standard errors of a
    /// difference of two such means, the spreads within 5%.
    pub(super) fn assert_drawn_like(
        values: &[f64],
        expected: &serde_json::Value,
        name: &str,
        what: &str,
    ) {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let their_mean = expected[format!("{name}_mean")].as_f64().unwrap();
        let their_std = expected[format!("{name}_std")].as_f64().unwrap();
        let error = 5.0 * 2f64.sqrt() * their_std / n.sqrt();
        assert!(
            (mean - their_mean).abs() < error,
            "{what} {name}: mean {mean}, torchvision {their_mean}"
        );
        assert!(
            (std - their_std).abs() < 0.05 * their_std,
            "{what} {name}: spread {std}, torchvision {their_std}"
        );
    }

    /// RandomResizedCrop's regions have torchvision's distribution: the mean and spread of
    /// their area share and log aspect ratio match 50000 of torchvision's draws, within five
    /// standard errors of a difference of two such means; on a tall image most tries fail and
    /// the fallback decides, as in torchvision.
    #[test]
    fn random_resized_crop_draws_like_torchvision() {
        let settings: serde_json::Value =
            serde_json::from_slice(&std::fs::read(golden("augment.json")).unwrap()).unwrap();
        let draws = settings["draws"].as_u64().unwrap() as usize;
        let mut rng = StdRng::seed_from_u64(5);
        for (shape, expected) in settings["rrc"].as_object().unwrap() {
            let (width, height) = shape.split_once('x').unwrap();
            let (width, height): (u32, u32) = (width.parse().unwrap(), height.parse().unwrap());
            let regions: Vec<Region> = (0..draws)
                .map(|_| Region::random(width, height, [0.08, 1.0], [0.75, 4.0 / 3.0], &mut rng))
                .collect();
            for region in &regions {
                assert!(
                    region.left + region.width <= width && region.top + region.height <= height
                );
            }
            let share: Vec<f64> = regions
                .iter()
                .map(|r| f64::from(r.width * r.height) / f64::from(width * height))
                .collect();
            let log_ratio: Vec<f64> = regions
                .iter()
                .map(|r| (f64::from(r.width) / f64::from(r.height)).ln())
                .collect();
            assert_drawn_like(&share, expected, "share", shape);
            assert_drawn_like(&log_ratio, expected, "log_ratio", shape);
        }
    }

    /// ColorJitter's draws: every order of the four equally often, factors uniform in their
    /// ranges; adjustments turned off are left out.
    #[test]
    fn color_jitter_draws_like_torchvision() {
        let jitter = Jitter::new(&[0.4, 0.4, 0.4, 0.1]);
        let mut rng = StdRng::seed_from_u64(6);
        let mut orders = std::collections::HashMap::new();
        let mut brightness = Vec::new();
        let draws = 24000;
        for _ in 0..draws {
            let drawn = jitter.draw(&mut rng).0;
            assert_eq!(drawn.len(), 4);
            let order: Vec<u8> = drawn
                .iter()
                .map(|adjust| match adjust {
                    Adjust::Brightness(f) => {
                        brightness.push(*f);
                        0
                    }
                    Adjust::Contrast(f) | Adjust::Saturation(f) => {
                        assert!((0.6..=1.4).contains(f));
                        if matches!(adjust, Adjust::Contrast(_)) {
                            1
                        } else {
                            2
                        }
                    }
                    Adjust::Hue(h) => {
                        assert!((-0.1..=0.1).contains(h));
                        3
                    }
                })
                .collect();
            *orders.entry(order).or_insert(0usize) += 1;
        }
        assert_eq!(orders.len(), 24);
        // Each order 1000 times on average: a binomial's standard deviation is about 31.
        assert!(
            orders.values().all(|&n| (850..1150).contains(&n)),
            "{orders:?}"
        );
        let mean = brightness.iter().sum::<f64>() / brightness.len() as f64;
        assert!((mean - 1.0).abs() < 0.005, "brightness mean {mean}");
        assert!(brightness.iter().all(|f| (0.6..=1.4).contains(f)));
        let off = Jitter::new(&[0.0, 0.5, 0.0, 0.0]).draw(&mut rng).0;
        assert!(matches!(off.as_slice(), [Adjust::Contrast(_)]));
    }

    /// The same seed gives the same input; without options, the tutorial's, draw for draw.
    #[test]
    fn inputs_are_seeded_and_the_default_is_the_tutorials() {
        let bytes = std::fs::read(golden("augment.png")).unwrap();
        let size = InputSize::IMAGENET.with_crop(32);
        let mut augmentation = crate::recipe::TrainConfig::default().augmentation;
        let input = |augmentation: &Augmentation, seed| {
            train_input(&bytes, size, augmentation, &mut StdRng::seed_from_u64(seed)).unwrap()
        };
        let tutorial = preprocess::train_input(&bytes, size, &mut StdRng::seed_from_u64(1));
        assert_eq!(input(&augmentation, 1), tutorial.unwrap());
        augmentation.random_resized_crop = true;
        augmentation.color_jitter = Some(vec![0.4, 0.4, 0.4, 0.1]);
        assert_eq!(input(&augmentation, 2), input(&augmentation, 2));
        assert_ne!(input(&augmentation, 2), input(&augmentation, 3));
        for policy in [AutoAugment::TaWide, AutoAugment::Ra] {
            augmentation.auto_augment = Some(policy);
            assert_eq!(input(&augmentation, 4), input(&augmentation, 4));
        }
    }

    fn floats(file: &SafeTensors, name: &str) -> Vec<f32> {
        file.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    /// RandomErasing's `erase` of a fixed region, and MixUp's and CutMix's images for a fixed
    /// lambda and box, equal torchvision's (tools/make_recipe_golden.py).
    #[test]
    fn erasing_and_mixing_match_torchvision() {
        let settings: serde_json::Value =
            serde_json::from_slice(&std::fs::read(golden("mixing.json")).unwrap()).unwrap();
        let bytes = std::fs::read(golden("mixing.safetensors")).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let [top, left, height, width] =
            serde_json::from_value::<[u32; 4]>(settings["erase_region"].clone()).unwrap();
        let mut input = floats(&file, "erase_input");
        let region = Region {
            left,
            top,
            width,
            height,
        };
        region.erase(&mut input, 8);
        assert_eq!(input, floats(&file, "erased"));

        let images = floats(&file, "images");
        let batch = || -> Vec<Vec<f32>> { images.chunks(3 * 8 * 8).map(<[f32]>::to_vec).collect() };
        let lambda = settings["mixup_lambda"].as_f64().unwrap();
        let mut mixed = batch();
        Mix::MixUp { lambda }.apply(&mut mixed, 8);
        let expected = floats(&file, "mixup");
        for (ours, theirs) in mixed.concat().iter().zip(&expected) {
            assert!((ours - theirs).abs() < 1e-6, "{ours} vs {theirs}");
        }
        let area = serde_json::from_value::<[usize; 4]>(settings["cutmix_box"].clone()).unwrap();
        let lambda = settings["cutmix_lambda"].as_f64().unwrap();
        let mut cut = batch();
        Mix::CutMix { lambda, area }.apply(&mut cut, 8);
        assert_eq!(cut.concat(), floats(&file, "cutmix"));
    }

    /// RandomErasing's regions are drawn as torchvision's (area share and log aspect of 50000
    /// draws), and one image in P is erased.
    #[test]
    fn random_erasing_draws_like_torchvision() {
        let settings: serde_json::Value =
            serde_json::from_slice(&std::fs::read(golden("mixing.json")).unwrap()).unwrap();
        let expected = &settings["erasing"];
        let mut rng = StdRng::seed_from_u64(9);
        let mut input = vec![1.0f32; 3 * 224 * 224];
        let regions: Vec<Region> = (0..50000)
            .filter_map(|_| crop::random_erase(&mut input, 224, 1.0, &mut rng))
            .collect();
        // Some draws fail all ten tries (a region taller or wider than the input).
        assert!(regions.len() > 49000, "{}", regions.len());
        let share: Vec<f64> = regions
            .iter()
            .map(|r| f64::from(r.width * r.height) / 224.0 / 224.0)
            .collect();
        let log_ratio: Vec<f64> = regions
            .iter()
            .map(|r| (f64::from(r.height) / f64::from(r.width)).ln())
            .collect();
        assert_drawn_like(&share, expected, "share", "erasing");
        assert_drawn_like(&log_ratio, expected, "log_ratio", "erasing");
        let erased = (0..10000)
            .filter(|_| crop::random_erase(&mut input, 224, 0.25, &mut rng).is_some())
            .count();
        // Binomial(10000, 0.25): a standard deviation of about 43.
        assert!((2300..2700).contains(&erased), "{erased}");
    }

    /// MixUp's and CutMix's lambdas: Beta(alpha, alpha), of mean 1/2 and variance
    /// 1 / (8 alpha + 4); with both on, each batch takes one of them with even odds; CutMix's
    /// box is within the image and its lambda the share the box leaves.
    #[test]
    fn mixing_draws_like_torchvision() {
        let mut rng = StdRng::seed_from_u64(10);
        let draws: Vec<Mix> = (0..20000)
            .map(|_| Mix::draw(0.2, 1.0, 32, &mut rng).unwrap())
            .collect();
        let mixups: Vec<f64> = draws
            .iter()
            .filter_map(|mix| match mix {
                Mix::MixUp { lambda } => Some(*lambda),
                Mix::CutMix { .. } => None,
            })
            .collect();
        // Binomial(20000, 1/2): a standard deviation of about 71.
        assert!((9650..10350).contains(&mixups.len()), "{}", mixups.len());
        let n = mixups.len() as f64;
        let mean = mixups.iter().sum::<f64>() / n;
        let variance = mixups.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n;
        assert!((mean - 0.5).abs() < 0.01, "MixUp lambda mean {mean}");
        let expected = 1.0 / (4.0 * (2.0 * 0.2 + 1.0));
        assert!(
            (variance - expected).abs() < 0.05 * expected,
            "variance {variance}"
        );
        for mix in &draws {
            if let Mix::CutMix {
                lambda,
                area: [x1, y1, x2, y2],
            } = *mix
            {
                assert!(x1 <= x2 && x2 <= 32 && y1 <= y2 && y2 <= 32);
                let left = 1.0 - ((x2 - x1) * (y2 - y1)) as f64 / 1024.0;
                assert_eq!(lambda, left);
            }
        }
        assert_eq!(Mix::draw(0.0, 0.0, 32, &mut rng), None);
        assert!(matches!(
            Mix::draw(0.0, 1.0, 32, &mut rng),
            Some(Mix::CutMix { .. })
        ));
    }
}
