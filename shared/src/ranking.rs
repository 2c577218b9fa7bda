//! Classes ordered by score, one way everywhere: the CLI's answers, the metrics, the
//! confusion matrix and the page agree, ties included (the lower class index first).

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
    fn ties_go_to_the_lower_class() {
        assert_eq!(ranked(&[0.2, 0.5, 0.5, 0.1]), [1, 2, 0, 3]);
        assert_eq!(argmax(&[0.2, 0.5, 0.5, 0.1]), 1);
        assert_eq!(argmax(&[0.25; 4]), 0);
        assert_eq!(argmax(&[]), 0);
        assert_eq!(argmax(&[-3.0, -1.0, -2.0]), 1);
    }
}
