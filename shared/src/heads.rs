//! What the classifier's outputs mean: one head per task (its classes), side by side in the
//! final layer, and, where a model answers several tasks, a garment head after them that says
//! which task a photo belongs to (its classes are the tasks). One `Linear` holds them all, so
//! the backbone, the ImageNet weights, the weight format and the heatmap (a head's rows of the
//! layer) are those of a single-task model, which is the case of one head and no garment head.

use core::ops::Range;

use serde::{Deserialize, Serialize};

/// A task the model answers: its name (a FashionAI task, or an image folder's) and classes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskClasses {
    pub name: String,
    pub classes: Vec<String>,
}

/// The layout of the classifier's outputs over one or more tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heads {
    tasks: Vec<TaskClasses>,
}

/// Heads need at least one task, and every task a class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadsError {
    #[error("a model needs at least one task")]
    NoTask,
    #[error("task `{0}` has no classes")]
    NoClass(String),
    #[error("task `{0}` is listed twice")]
    Repeated(String),
}

impl Heads {
    pub fn new(tasks: Vec<TaskClasses>) -> Result<Heads, HeadsError> {
        if tasks.is_empty() {
            return Err(HeadsError::NoTask);
        }
        for (i, task) in tasks.iter().enumerate() {
            if task.classes.is_empty() {
                return Err(HeadsError::NoClass(task.name.clone()));
            }
            if tasks[..i].iter().any(|other| other.name == task.name) {
                return Err(HeadsError::Repeated(task.name.clone()));
            }
        }
        Ok(Heads { tasks })
    }

    /// One task: the classifier is its head alone.
    pub fn single(name: &str, classes: Vec<String>) -> Result<Heads, HeadsError> {
        Heads::new(vec![TaskClasses {
            name: name.to_string(),
            classes,
        }])
    }

    pub fn tasks(&self) -> &[TaskClasses] {
        &self.tasks
    }

    /// Whether the model answers several tasks (and has a garment head).
    pub fn is_multi_task(&self) -> bool {
        self.tasks.len() > 1
    }

    /// The outputs of `task`'s head in the final layer.
    pub fn columns(&self, task: usize) -> Range<usize> {
        let start: usize = self.tasks[..task].iter().map(|t| t.classes.len()).sum();
        start..start + self.tasks[task].classes.len()
    }

    /// The garment head's outputs (one per task, in the tasks' order), for several tasks.
    pub fn garment(&self) -> Option<Range<usize>> {
        let start = self.columns(self.tasks.len() - 1).end;
        self.is_multi_task()
            .then(|| start..start + self.tasks.len())
    }

    /// Outputs of the final layer: every head's.
    pub fn width(&self) -> usize {
        match self.garment() {
            Some(garment) => garment.end,
            None => self.tasks[0].classes.len(),
        }
    }

    /// Every head's outputs: each task's, then the garment head's.
    pub fn ranges(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        (0..self.tasks.len())
            .map(|task| self.columns(task))
            .chain(self.garment())
    }

    /// The softmax of each head's logits on its own: each task's class probabilities, and the
    /// garment head's task probabilities, in the outputs' layout.
    pub fn softmax(&self, logits: &[f32]) -> Vec<f32> {
        self.ranges()
            .flat_map(|head| crate::ranking::softmax(&logits[head]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, classes: usize) -> TaskClasses {
        TaskClasses {
            name: name.into(),
            classes: (0..classes).map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn heads_sit_side_by_side_then_the_garment_head() {
        let heads = Heads::new(vec![task("a", 3), task("b", 2), task("c", 4)]).unwrap();
        assert_eq!(
            (heads.columns(0), heads.columns(1), heads.columns(2)),
            (0..3, 3..5, 5..9)
        );
        assert_eq!(heads.garment(), Some(9..12));
        assert_eq!(heads.width(), 12);
    }

    #[test]
    fn each_head_has_its_own_softmax() {
        let heads = Heads::new(vec![task("a", 2), task("b", 1)]).unwrap();
        let probabilities = heads.softmax(&[0.0, 0.0, 5.0, 1.0, 1.0]);
        assert_eq!(probabilities, [0.5, 0.5, 1.0, 0.5, 0.5]);
    }

    #[test]
    fn one_task_is_one_head_without_a_garment_head() {
        let heads = Heads::single("a", vec!["x".into(), "y".into()]).unwrap();
        assert!(!heads.is_multi_task());
        assert_eq!(
            (heads.columns(0), heads.garment(), heads.width()),
            (0..2, None, 2)
        );
    }

    #[test]
    fn bad_task_lists_are_refused() {
        assert_eq!(Heads::new(vec![]), Err(HeadsError::NoTask));
        assert_eq!(
            Heads::new(vec![task("a", 0)]),
            Err(HeadsError::NoClass("a".into()))
        );
        assert_eq!(
            Heads::new(vec![task("a", 2), task("a", 3)]),
            Err(HeadsError::Repeated("a".into()))
        );
    }
}
