//! The training images' augmentation (`recipe::Augmentation`), on the decoded 8-bit image as
//! torchvision applies it to a PIL image: the tutorial's crop and flip or RandomResizedCrop
//! and flip, then ColorJitter, then normalisation. Every draw comes from the image's own
//! seeded generator, so the same seed, epoch and image give the same input.

pub mod color;
pub mod crop;

use rand::Rng;
use shared::preprocess::{
    self, ImageError, Input, InputSize, decode_rgb, flip_at_random, normalize,
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
    let mut image = match augmentation.random_resized_crop {
        false => preprocess::train_crop(bytes, size, rng)?,
        true => {
            let image = decode_rgb(bytes)?;
            let (width, height) = image.dimensions();
            let scale = [augmentation.rrc_scale[0], augmentation.rrc_scale[1]];
            let ratio = [augmentation.rrc_ratio[0], augmentation.rrc_ratio[1]];
            let region = Region::random(width, height, scale, ratio, rng);
            let mut crop = region.resized(&image, size.crop, size.interpolation);
            flip_at_random(&mut crop, rng);
            crop
        }
    };
    if let Some(jitter) = &augmentation.color_jitter {
        Jitter::new(jitter).draw(rng).apply(&mut image);
    }
    Ok(normalize(&image))
}

#[cfg(test)]
mod tests {
    use image::RgbImage;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use safetensors::SafeTensors;
    use shared::preprocess::Interpolation;

    use super::color::Adjust;
    use super::*;

    fn golden(name: &str) -> std::path::PathBuf {
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
            for (name, values) in [("share", share), ("log_ratio", log_ratio)] {
                let n = values.len() as f64;
                let mean = values.iter().sum::<f64>() / n;
                let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
                let their_mean = expected[format!("{name}_mean")].as_f64().unwrap();
                let their_std = expected[format!("{name}_std")].as_f64().unwrap();
                let error = 5.0 * (2.0f64).sqrt() * their_std / n.sqrt();
                assert!(
                    (mean - their_mean).abs() < error,
                    "{shape} {name} mean {mean} vs {their_mean}"
                );
                assert!(
                    (std - their_std).abs() < 0.05 * their_std,
                    "{shape} {name} std {std} vs {their_std}"
                );
            }
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
    }
}
