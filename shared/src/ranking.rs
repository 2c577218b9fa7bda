//! Class scores, one way everywhere: probabilities from logits, and classes ordered by score,
//! so that the CLI's answers, the metrics, the confusion matrix and the page agree, ties
//! included (the lower class index first).

/// One image's class probabilities from its logits; the largest logit is subtracted first, so
/// large logits do not overflow. Computed on the host: a result needs one read-back, not two.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// Class indices from the highest score to the lowest; equal scores keep their class order.
pub fn ranked(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

/// The first class of [`ranked`]; 0 when there are no scores.
pub fn argmax(scores: &[f32]) -> usize {
    ranked(scores).first().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_normalised_and_shift_invariant() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        let expected = [0.090_030_57, 0.244_728_48, 0.665_240_9];
        for (p, e) in p.iter().zip(expected) {
            assert!((p - e).abs() < 1e-6, "{p} vs {e}");
        }
        assert_eq!(softmax(&[1001.0, 1002.0, 1003.0]), p);
        assert_eq!(softmax(&[5.0]), [1.0]);
    }

    #[test]
    fn ties_go_to_the_lower_class() {
        assert_eq!(ranked(&[0.2, 0.5, 0.5, 0.1]), [1, 2, 0, 3]);
        assert_eq!(argmax(&[0.2, 0.5, 0.5, 0.1]), 1);
        assert_eq!(argmax(&[0.25; 4]), 0);
        assert_eq!(argmax(&[]), 0);
        assert_eq!(argmax(&[-3.0, -1.0, -2.0]), 1);
    }
}
